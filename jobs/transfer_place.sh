#!/usr/bin/env bash
# transfer_place.sh BASE_DIR SUBDOMAIN CLIENT_ID — makes the files a move received (in
# BASE_DIR/docker/clients/.incoming-SUBDOMAIN) the client's folder BASE_DIR/docker/clients/SUBDOMAIN,
# by a rename, and marks it as CLIENT_ID's (.alfa-client). A folder already there must be this
# client's own (.alfa-client holds CLIENT_ID: left by an earlier attempt of the move) and is
# replaced; anyone else's stops the job. With nothing staged and the folder in place (a rerun
# after success) it says so and succeeds.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -eq 3 ]] || usage_error "usage: transfer_place.sh BASE_DIR SUBDOMAIN CLIENT_ID (got $# arguments)"
BASE=$(valid_base_dir "$1")
SUB=$2
valid_subdomain "$SUB"
CLIENT_ID=$3
[[ $CLIENT_ID =~ ^[0-9]{1,19}$ ]] || usage_error "CLIENT_ID must be a number (got '$CLIENT_ID')"
STAGE=$BASE/docker/clients/.incoming-$SUB
DIR=$BASE/docker/clients/$SUB

step place
owner=""
if [[ -f $DIR/.alfa-client ]]; then owner=$(head -n1 -- "$DIR/.alfa-client" </dev/null || true); fi
if [[ ! -d $STAGE ]]; then
  [[ -d $DIR && $owner == "$CLIENT_ID" ]] ||
    die "no staged files at $STAGE and no folder of client $CLIENT_ID at $DIR: run the move again"
  say "$DIR is already in place"
  exit 0
fi
if [[ -e $DIR ]]; then
  [[ $owner == "$CLIENT_ID" ]] ||
    die "$DIR exists and is not client $CLIENT_ID's (.alfa-client: '${owner:-none}'): another lab uses the name $SUB on this server; move to another server or remove that folder"
  rm -rf -- "$DIR" || die "cannot remove $DIR, left by an earlier attempt, as $(id -un): sudo rm -rf $DIR, then rerun"
  say "removed $DIR, left by an earlier attempt of this move"
fi
mv -T -- "$STAGE" "$DIR" || die "cannot rename $STAGE to $DIR (above)"
printf '%s\n' "$CLIENT_ID" >"$DIR/.alfa-client"
say "the files of $SUB are in place in $DIR"
