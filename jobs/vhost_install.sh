#!/usr/bin/env bash
# vhost_install.sh BASE_DIR SUBDOMAIN — installs the vhost the engine uploaded to
# BASE_DIR/nginx/SUBDOMAIN.conf.new as BASE_DIR/nginx/SUBDOMAIN.conf, under the nginx/certbot lock:
# unchanged → no reload; else nginx -t and reload, and on failure the previous vhost is put back
# (or the new one removed) with nginx's message on stderr, exit 1.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -eq 2 ]] || usage_error "usage: vhost_install.sh BASE_DIR SUBDOMAIN (got $# arguments)"
BASE=$(valid_base_dir "$1")
SUB=$2
valid_subdomain "$SUB"

step vhost
vhost_install "$BASE" "$SUB"
