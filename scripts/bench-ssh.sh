#!/usr/bin/env bash
# Operations-engine benchmark, in one run on this machine's test hosts (scripts/testbed):
#  - SSH per-command cost: our pooled native-mux transport, an ssh process per command over a
#    ControlMaster, and a fresh ssh connection per command (p50/p99 over 200 commands each,
#    printed with ratios against ours);
#  - the queue: enqueue-to-start latency of an idle worker, and no-op operations per second
#    through 4 workers, on the embedded queue (SQLite) and on Redis (PostgreSQL state).
# Release build. Needs PostgreSQL and Redis on 127.0.0.1 (scripts/test.sh starts them).
#   scripts/bench-ssh.sh
set -euo pipefail
cd "$(dirname "$0")/.."

# shellcheck source=scripts/testbed.d/bench-lease.sh
source scripts/testbed.d/bench-lease.sh

echo "== SSH transport"
cargo bench --quiet --bench ssh 2>&1 |
  grep -E '^(ssh|  )'
echo "== queue"
cargo bench --quiet --bench queue 2>&1 |
  grep -E '^queue'
