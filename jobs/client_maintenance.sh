#!/usr/bin/env bash
# client_maintenance.sh BASE_DIR SUBDOMAIN on|off FQDN HTTPS_PORT ADDR — switches the client's
# maintenance page on (creates BASE_DIR/docker/clients/SUBDOMAIN/maintenance.on) or off (removes
# it); the vhost answers 503 with maintenance/index.html while the file exists, with no reload.
# Then checks it through nginx from the server itself: https://FQDN:HTTPS_PORT/ connected to ADDR
# (curl --resolve) must answer 503 with exactly the maintenance page while on, and anything but
# that page when off.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -eq 6 ]] || usage_error "usage: client_maintenance.sh BASE_DIR SUBDOMAIN on|off FQDN HTTPS_PORT ADDR (got $# arguments)"
BASE=$(valid_base_dir "$1")
SUB=$2
SWITCH=$3
FQDN=$4
PORT=$5
ADDR=$6
valid_subdomain "$SUB"
[[ $SWITCH == on || $SWITCH == off ]] || usage_error "the third argument must be on or off (got '$SWITCH')"
valid_fqdn "$FQDN"
valid_port "$PORT" HTTPS_PORT
valid_ip "$ADDR" ADDR
resolve_cmd curl >/dev/null || die "curl is not installed on this server: sudo apt-get install curl"
CLIENT_DIR="$BASE/docker/clients/$SUB"
FLAG="$CLIENT_DIR/maintenance.on"
PAGE="$CLIENT_DIR/maintenance/index.html"
if [[ $ADDR == *:* ]]; then RESOLVE="$FQDN:$PORT:[$ADDR]"; else RESOLVE="$FQDN:$PORT:$ADDR"; fi
URL="https://$FQDN:$PORT/"

[[ -d $CLIENT_DIR ]] ||
  die "client $SUB has no folder $CLIENT_DIR on this server: was it created? (re-create the client)"

step maintenance
if [[ $SWITCH == on ]]; then
  [[ -s $PAGE ]] ||
    die "the maintenance page $PAGE is missing: nginx would answer 503 without it; write the client's files again (PUT /clients/<id> with its name), then rerun"
  if [[ -e $FLAG ]]; then
    say "maintenance is already on: $FLAG exists"
  else
    : >"$FLAG" || die "cannot create $FLAG (owner $(stat -c %U:%G "$CLIENT_DIR") of the folder): fix the folder's owner, then rerun"
    say "maintenance on: created $FLAG"
  fi
else
  if [[ -e $FLAG ]]; then
    rm -f -- "$FLAG" || die "cannot remove $FLAG: remove it by hand (sudo rm $FLAG), then rerun"
    say "maintenance off: removed $FLAG"
  else
    say "maintenance is already off: no $FLAG"
  fi
fi

step check
BODY=$(mktemp)
trap 'rm -f -- "$BODY"' EXIT
rc=0
# -k: this request checks what nginx serves, not the certificate (the probe does that)
code=$(curl -s -k -o "$BODY" -w '%{http_code}' --max-time 15 --resolve "$RESOLVE" "$URL" </dev/null) || rc=$?
if ((rc != 0)) || [[ ! $code =~ ^[0-9]{3}$ ]]; then
  die "no HTTPS answer from nginx for $URL via $ADDR (curl exit $rc): the maintenance switch is $SWITCH, but what the lab's users see is unknown; check nginx and the vhost ($BASE/nginx/$SUB.conf), then rerun"
fi
served_page=false
if [[ $code == 503 && -s $PAGE ]] && cmp -s -- "$BODY" "$PAGE"; then served_page=true; fi
if [[ $SWITCH == on ]]; then
  $served_page ||
    die "nginx answered HTTP $code for $URL via $ADDR, not 503 with the maintenance page: does the vhost $BASE/nginx/$SUB.conf have the maintenance switch (templates/nginx/vhost.conf)? Install it again, then rerun"
  say "$URL answers 503 with the maintenance page"
else
  if $served_page; then
    die "nginx still answers $URL via $ADDR with the maintenance page although $FLAG is gone: check the vhost $BASE/nginx/$SUB.conf, then rerun"
  fi
  say "$URL answers HTTP $code (not the maintenance page)"
fi
