#!/usr/bin/env bash
# vhost_remove.sh BASE_DIR SUBDOMAIN — removes BASE_DIR/nginx/SUBDOMAIN.conf under the nginx/certbot
# lock, then nginx -t and reload (the vhost is put back if either fails). Absent: says so, exit 0.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -eq 2 ]] || usage_error "usage: vhost_remove.sh BASE_DIR SUBDOMAIN (got $# arguments)"
BASE=$(valid_base_dir "$1")
SUB=$2
valid_subdomain "$SUB"

step vhost
vhost_remove "$BASE" "$SUB"
