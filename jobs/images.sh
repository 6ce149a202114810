#!/usr/bin/env bash
# images.sh IMAGE_REPO — the images of IMAGE_REPO on this server, one line each:
#   ::image {"tag":"1.0-master","id":"4f1d2e3a5b6c","created":"2024-05-01 10:00:00 +0000 UTC","size":"512MB"}
# The JSON is produced by docker itself (its {{json}} template function).
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -eq 1 ]] || usage_error "usage: images.sh IMAGE_REPO (got $# arguments)"
REPO=$1
valid_image_repo "$REPO"

step list
# shellcheck disable=SC2016  # {{...}} is a docker template, not a shell expansion
fmt='::image {"tag":{{json .Tag}},"id":{{json .ID}},"created":{{json .CreatedAt}},"size":{{json .Size}}}'
if ! out=$(run_sudo docker images --format "$fmt" "$REPO" 2>&1); then
  printf '%s\n' "$out" >&2
  die "docker images $REPO failed: is docker running? (sudo -n docker version)"
fi
count=0
while IFS= read -r line; do
  [[ $line == '::image '* ]] || { printf '%s\n' "$line" >&2; continue; }
  printf '%s\n' "$line"
  count=$((count + 1))
done <<<"$out"
say "$count image(s) of $REPO"
