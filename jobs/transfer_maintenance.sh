#!/usr/bin/env bash
# transfer_maintenance.sh BASE_DIR SUBDOMAIN on|off — the maintenance switch a move uses on its
# source: BASE_DIR/docker/clients/SUBDOMAIN/maintenance.on, which the vhost checks on every
# request (503 with the maintenance page; /up and ACME unaffected; no reload needed). on: the
# file is created; off: removed. Idempotent; says the state it leaves.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -eq 3 ]] || usage_error "usage: transfer_maintenance.sh BASE_DIR SUBDOMAIN on|off (got $# arguments)"
BASE=$(valid_base_dir "$1")
SUB=$2
valid_subdomain "$SUB"
STATE=$3
[[ $STATE == on || $STATE == off ]] || usage_error "the third argument must be on or off (got '$STATE')"
DIR=$BASE/docker/clients/$SUB
FLAG=$DIR/maintenance.on

step maintenance
require_dir "$DIR" "the folder of client $SUB"
if [[ $STATE == on ]]; then
  if [[ -e $FLAG ]]; then
    say "$SUB is already in maintenance ($FLAG exists)"
  else
    : >"$FLAG" || die "cannot create $FLAG as $(id -un)"
    say "$SUB is in maintenance: its users see the maintenance page"
  fi
elif [[ -e $FLAG ]]; then
  rm -f -- "$FLAG" || die "cannot remove $FLAG as $(id -un): sudo rm -f $FLAG"
  say "$SUB is out of maintenance: it serves its users again"
else
  say "$SUB is not in maintenance"
fi
