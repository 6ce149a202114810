#!/usr/bin/env bash
# transfer_stage.sh BASE_DIR SUBDOMAIN fresh|clear — the folder a move receives a client's files
# in, BASE_DIR/docker/clients/.incoming-SUBDOMAIN, beside the clients' folders (same file system,
# so placing it is a rename). fresh: emptied (what an earlier attempt left goes) and created,
# mode 755; clear: removed. Idempotent.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -eq 3 ]] || usage_error "usage: transfer_stage.sh BASE_DIR SUBDOMAIN fresh|clear (got $# arguments)"
BASE=$(valid_base_dir "$1")
SUB=$2
valid_subdomain "$SUB"
MODE=$3
[[ $MODE == fresh || $MODE == clear ]] || usage_error "the third argument must be fresh or clear (got '$MODE')"
STAGE=$BASE/docker/clients/.incoming-$SUB

step stage
require_dir "$BASE/docker/clients" "the clients folder"
if [[ -e $STAGE ]]; then
  rm -rf -- "$STAGE" ||
    die "cannot remove $STAGE as $(id -un) (files of another user?): sudo rm -rf $STAGE, then rerun"
  say "removed $STAGE"
fi
if [[ $MODE == fresh ]]; then
  mkdir -m 755 -- "$STAGE" || die "cannot create $STAGE as $(id -un): $BASE/docker/clients must be writable by it"
  say "created $STAGE for the files of $SUB"
elif [[ ! -e $STAGE ]]; then
  say "no staged files of $SUB: nothing to remove"
fi
