#!/usr/bin/env bash
# scripts/lint-jobs.sh — shellcheck the job scripts and the testbed; non-zero on any finding.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

if ! command -v shellcheck >/dev/null; then
  echo "lint-jobs: installing shellcheck" >&2
  if [[ $(id -u) -ne 0 ]]; then
    echo "lint-jobs: shellcheck is missing and I am not root: apt-get install shellcheck" >&2
    exit 1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null 2>&1 ||
    { DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y -qq shellcheck >/dev/null 2>&1; } ||
    { echo "lint-jobs: apt-get install shellcheck failed" >&2; exit 1; }
fi

files=(jobs/*.sh tests/it/jobs/*.sh scripts/testbed scripts/lint-jobs.sh scripts/bench-*.sh scripts/test.sh)
# shell files of the testbed: its parts (scripts/testbed.d/*.sh, sourced by scripts/testbed, which
# is linted with them followed), or anything whose first line names bash/sh
while IFS= read -r -d '' f; do
  if [[ $f == *.sh ]] || head -n1 "$f" | grep -qE '^#!.*\b(ba)?sh\b'; then files+=("$f"); fi
done < <(find scripts/testbed.d -name __pycache__ -prune -o -type f -print0 2>/dev/null | sort -z)

# source= paths in the job scripts (jobs/lib.sh) are relative to the repository root
shellcheck -x --severity=style "${files[@]}"
echo "lint-jobs: ${#files[@]} file(s) clean: ${files[*]}"
