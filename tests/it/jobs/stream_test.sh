#!/usr/bin/env bash
# tests/it/jobs/stream_test.sh N DELAY — prints `line 1` .. `line N` on stdout, one every DELAY
# seconds (fractions allowed), between `::step start` and `::step end`, plus one
# line on stderr: proves that output streams live.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/../../../jobs/lib.sh"; fi
set -euo pipefail

[[ $# -eq 2 ]] || usage_error "usage: stream_test.sh N DELAY (got $# arguments)"
[[ $1 =~ ^[0-9]{1,6}$ ]] || usage_error "N must be a whole number 0..999999 (got '$1')"
[[ $2 =~ ^[0-9]{1,4}(\.[0-9]{1,3})?$ ]] || usage_error "DELAY must be seconds like 1 or 0.25 (got '$2')"
N=$((10#$1))
DELAY=$2

step start
printf 'stream_test: this line goes to stderr\n' >&2
for ((i = 1; i <= N; i++)); do
  printf 'line %d\n' "$i"
  if ((i < N)); then sleep "$DELAY"; fi
done
step end
