#!/usr/bin/env bash
# tests/it/jobs/echo_args.sh ARGS... — diagnostic for tests: prints each argument exactly, on its own
# line, as `::arg <n> <value>` (n from 1), to prove quoting end to end.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/../../../jobs/lib.sh"; fi
set -euo pipefail

n=0
for arg in "$@"; do
  n=$((n + 1))
  printf '::arg %d %s\n' "$n" "$arg"
done
