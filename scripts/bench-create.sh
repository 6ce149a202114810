#!/usr/bin/env bash
# Client creation benchmark on this machine's test hosts (scripts/testbed), release build, the
# stand-ins' delays at 0: the creation's own overhead (its wall time minus the time its remote
# commands took), and 20 clients created at once on 2 hosts against twice one creation's time
# plus the certificates each server issues one at a time. Needs MariaDB on 127.0.0.1 (scripts/test.sh
# starts it).
#   scripts/bench-create.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/testbed.d/bench-lease.sh
source scripts/testbed.d/bench-lease.sh

cargo bench --quiet --bench create 2>&1 | grep -E '^create'
