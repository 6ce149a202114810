#!/usr/bin/env bash
# client_dirs.sh BASE_DIR SUBDOMAIN — creates the client's folders BASE_DIR/docker/clients/SUBDOMAIN/
# {public,php,maintenance} and the server's shared ACME webroot BASE_DIR/acme (mode 755). Says what
# it created; existing folders are left as they are.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -eq 2 ]] || usage_error "usage: client_dirs.sh BASE_DIR SUBDOMAIN (got $# arguments)"
BASE=$(valid_base_dir "$1")
SUB=$2
valid_subdomain "$SUB"
CLIENT_DIR=$BASE/docker/clients/$SUB

step dirs
require_dir "$BASE/docker/clients" "the clients folder"
created=0
for d in "$CLIENT_DIR" "$CLIENT_DIR/public" "$CLIENT_DIR/php" "$CLIENT_DIR/maintenance" "$BASE/acme"; do
  [[ -d $d ]] && continue
  [[ ! -e $d ]] || die "$d exists and is not a folder: remove it, then rerun"
  mkdir -m 755 -- "$d" ||
    die "cannot create $d as $(id -un): its parent must be writable by $(id -un) (run check_host; create it with: sudo install -d -o $(id -un) -g $(id -gn) -m 775 $d)"
  say "created $d"
  created=$((created + 1))
done
((created)) || say "the folders of $SUB and $BASE/acme exist already"
