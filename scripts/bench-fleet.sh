#!/usr/bin/env bash
# Fleet benchmark on this machine's test hosts (scripts/testbed), release build: migrate_all
# over 200 clients on 4 hosts with the docker stand-in's migrate lasting 300 ms; ours against
# the ideal (200 x 0.3 s / (4 hosts x 4 per server)), an ssh process per client over a
# ControlMaster, Ansible ad-hoc (-f 16, ControlPersist, pipelining) and one fresh ssh per client
# after another, all running the same job on the same hosts in one run. Targets: ours <= 1.10x
# the ideal, >= 1.15x faster than ssh over a ControlMaster, >= 4.5x faster than Ansible, >= 25x
# faster than sequential. Needs MariaDB on 127.0.0.1 (scripts/test.sh starts it). Run it alone:
# it uses the fault tests' hosts and the machine's two cores.
#   scripts/bench-fleet.sh
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v ansible >/dev/null; then
  echo "installing Debian's ansible" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends ansible >/dev/null
fi

# shellcheck source=scripts/testbed.d/bench-lease.sh
source scripts/testbed.d/bench-lease.sh

cargo bench --quiet --bench fleet 2>&1 | grep -E '^(fleet|  )'
