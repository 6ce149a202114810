#!/usr/bin/env bash
# The whole test suite, from a fresh machine: installs what is missing, starts the services the
# tests talk to, then runs formatting, lints and every test.
#   scripts/test.sh            everything
#   scripts/test.sh -- NAME    only tests whose name contains NAME (after the checks)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n==> %s\n' "$*"; }

# Debian packages the tests need (test hosts, ACME, SMTP, linters, benchmarks).
PACKAGES=(openssh-server nginx certbot python3-certbot-nginx pebble python3-aiosmtpd shellcheck
  wrk postgresql-client redis-tools mariadb-client curl sudo)

install_missing() {
  local missing=()
  for pkg in "${PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'install ok installed' || missing+=("$pkg")
  done
  if ((${#missing[@]})); then
    log "installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  fi
}

start_postgres() {
  if ! pg_isready -q -h 127.0.0.1 -p 5432; then
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
    for _ in $(seq 50); do pg_isready -q -h 127.0.0.1 -p 5432 && break; sleep 0.2; done
  fi
  # Databases left by an interrupted run.
  psql -h 127.0.0.1 -U postgres -Atc \
    "SELECT datname FROM pg_database WHERE datname LIKE 'alfa\_test\_%'" postgres |
    while read -r db; do psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)" postgres; done
}

start_redis() {
  if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
    log "starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
      --dir /var/lib/redis --logfile /var/log/redis/ci.log
  fi
}

start_mariadb() {
  if ! mariadb -h 127.0.0.1 -u root -e 'SELECT 1' >/dev/null 2>&1; then
    log "starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    for _ in $(seq 50); do mariadb -h 127.0.0.1 -u root -e 'SELECT 1' >/dev/null 2>&1 && break; sleep 0.2; done
  fi
}

install_missing
start_postgres
start_redis
start_mariadb

log "cargo fmt --check"
cargo fmt --all -- --check
log "cargo clippy"
cargo clippy --all-targets --quiet -- -D warnings
if [[ -x scripts/lint-jobs.sh ]]; then
  log "shellcheck"
  scripts/lint-jobs.sh
fi
log "test hosts (scripts/testbed up)"
# Stopped whatever happens, so nothing is left running after the suite.
trap 'scripts/testbed down >/dev/null 2>&1 || true' EXIT
scripts/testbed up 11

log "cargo test"
if [[ ${1:-} == "--" ]]; then shift; fi
cargo test --quiet -- "$@"
