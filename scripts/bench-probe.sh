#!/usr/bin/env bash
# Probe benchmark on this machine's test hosts (scripts/testbed), release build: 200 real
# clients on 4 hosts (compose projects with their fake apps, https vhosts in the hosts' nginx,
# databases with a users table) among 10,000 listed ones; one full probe pass (target <= 2 s),
# then GET /clients?page=N&per_page=50 with the page cache off, idle and while probe passes run
# back to back, on SQLite (targets >= 3,000 req/s, p99 <= 10 ms) and PostgreSQL (>= 1,500
# req/s), each with its ratio to the idle figure of the same run: once with the test hosts'
# processes in a low-weight cgroup (v1 cpu controller; as on their own machines), once with
# every process at one weight. Needs MariaDB and PostgreSQL
# on 127.0.0.1 (scripts/test.sh starts them).
#   scripts/bench-probe.sh [seconds per load, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }

# shellcheck source=scripts/testbed.d/bench-lease.sh
source scripts/testbed.d/bench-lease.sh

BENCH_SECONDS=${1:-10} cargo bench --quiet --bench probe 2>&1 | grep -E '^probe'
