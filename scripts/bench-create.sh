#!/usr/bin/env bash
# Client creation benchmark on this machine's test hosts (scripts/testbed), release build, the
# stand-ins' delays at 0: the creation's own overhead (its wall time minus the time its remote
# commands took), and 20 clients created at once on 2 hosts against twice one creation's time
# plus the certificates each server issues one at a time. Needs MariaDB on 127.0.0.1 (scripts/test.sh
# starts it).
#   scripts/bench-create.sh
set -euo pipefail
cd "$(dirname "$0")/.."

started_testbed=
status=$(scripts/testbed status 2>/dev/null || true)
if [[ $status != *sshd=up* ]]; then
  scripts/testbed up 10 >/dev/null
  started_testbed=1
fi
cleanup() {
  if [[ -n $started_testbed ]]; then scripts/testbed down >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT

cargo bench --quiet --bench create 2>&1 | grep -E '^create'
