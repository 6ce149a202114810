#!/usr/bin/env bash
# API benchmark: 10,000 clients on 20 servers, then wrk against GET /clients?page=N&per_page=50
# and GET /clients/{id}, on SQLite and on PostgreSQL. GET /health (no auth, no database) is
# measured in the same run as the baseline the other figures are compared with.
#   scripts/bench-api.sh [seconds per load, default 10]
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${1:-10}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
PORT=${BENCH_PORT:-18089}
PASSWORD=bench-password-0001
WORK=$(mktemp -d /tmp/alfa-bench-XXXXXX)
PG_DB=alfa_bench_api
SERVER_PID=

cleanup() {
  [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
  psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" postgres >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release --quiet
BIN=${CARGO_TARGET_DIR:-target}/release/alfa-cloud

AUTH="Basic $(printf 'admin:%s' "$PASSWORD" | base64 -w0)"
cat > "$WORK/list.lua" <<LUA
wrk.headers["Authorization"] = "$AUTH"
math.randomseed(42)
request = function()
  return wrk.format("GET", "/clients?page=" .. math.random(1, 200) .. "&per_page=50")
end
LUA
cat > "$WORK/one.lua" <<LUA
wrk.headers["Authorization"] = "$AUTH"
math.randomseed(7)
request = function()
  return wrk.format("GET", "/clients/" .. math.random(1, 10000))
end
LUA

seed_sqlite() {
  /usr/bin/python3 - "$1" <<'PY'
import sqlite3, sys, datetime
db = sqlite3.connect(sys.argv[1])
now = datetime.datetime.now(datetime.timezone.utc).isoformat()
db.executemany(
    "INSERT INTO servers (id, name, host, domain, ssh_port, ssh_user, base_dir, environment, sql_kind,"
    " sql_port, sql_user, acme_directory, active, created_at, updated_at)"
    " VALUES (?, ?, ?, ?, 22, 'www-data', '/srv', 'production', 'mariadb', 3306, 'alfa', '', 1, ?, ?)",
    [(s, f"srv{s}", f"10.0.0.{s}", f"s{s}.example.com", now, now) for s in range(1, 21)])
rows = []
for i in range(1, 10001):
    s = (i - 1) % 20 + 1
    rows.append((i, s, f"Laboratory {i}", f"L{i}", "Ivanov", "Ivan", "Ivanovich", f"admin{i}",
                 f"lab{i}", f"lab{i}.s{s}.example.com", f"admin{i}@lab.example", "+7 900 000 00 00",
                 "Kazan", "Europe/Moscow", "1.3-master", '["10.0.0.0/8"]', "", "",
                 "2027-12-31T00:00:00+00:00", ["DEMO", "TEST", "TRIAL", "PAID"][i % 4], "active", now, now))
db.executemany(
    "INSERT INTO clients (id, server_id, name, short_name, admin_f, admin_i, admin_o, admin_login,"
    " subdomain, fqdn, email, phone, city, timezone, version_tag, allowed_ips, config, license,"
    " license_expires_at, billing_type, state, created_at, updated_at)"
    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", rows)
db.commit()
PY
}

seed_postgres() {
  psql -q -h 127.0.0.1 -U postgres -d "$PG_DB" <<'SQL'
INSERT INTO servers (id, name, host, domain, ssh_port, ssh_user, base_dir, environment, sql_kind,
  sql_port, sql_user, acme_directory, active, created_at, updated_at)
SELECT s, 'srv' || s, '10.0.0.' || s, 's' || s || '.example.com', 22, 'www-data', '/srv',
  'production', 'mariadb', 3306, 'alfa', '', TRUE, now(), now()
FROM generate_series(1, 20) s;
INSERT INTO clients (id, server_id, name, short_name, admin_f, admin_i, admin_o, admin_login,
  subdomain, fqdn, email, phone, city, timezone, version_tag, allowed_ips, config, license,
  license_expires_at, billing_type, state, created_at, updated_at)
SELECT i, (i - 1) % 20 + 1, 'Laboratory ' || i, 'L' || i, 'Ivanov', 'Ivan', 'Ivanovich', 'admin' || i,
  'lab' || i, 'lab' || i || '.s' || ((i - 1) % 20 + 1) || '.example.com', 'admin' || i || '@lab.example',
  '+7 900 000 00 00', 'Kazan', 'Europe/Moscow', '1.3-master', '["10.0.0.0/8"]', '', '',
  '2027-12-31', (ARRAY['DEMO','TEST','TRIAL','PAID'])[i % 4 + 1], 'active', now(), now()
FROM generate_series(1, 10000) i;
SELECT setval(pg_get_serial_sequence('servers', 'id'), 20);
SELECT setval(pg_get_serial_sequence('clients', 'id'), 10000);
-- what autovacuum does within a minute of a bulk insert (index-only scans need the visibility map)
VACUUM ANALYZE;
SQL
}

# wrk's figures: requests/s and p99 in ms.
run_wrk() {
  local out
  out=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" 2>&1)
  local rps p99
  rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us/,"",v); v/=1000} else if (v ~ /ms$/) {sub(/ms/,"",v)} else if (v ~ /s$/) {sub(/s/,"",v); v*=1000}; printf "%.2f", v}' <<<"$out")
  local errors
  errors=$(awk '/Non-2xx/ {print $4}' <<<"$out")
  [[ -z $errors ]] || { echo "wrk saw $errors non-2xx answers" >&2; echo "$out" >&2; exit 1; }
  echo "$rps $p99"
}

ZERO_KEY=$(printf '%064d' 0)
declare -A RESULT

# Starts the API with the given extra environment and waits until it answers.
start_server() {
  env "$@" "$BIN" serve 2>>"$WORK/server.log" &
  SERVER_PID=$!
  for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/health" >/dev/null && break; sleep 0.1; done
}

stop_server() {
  kill "$SERVER_PID"; wait "$SERVER_PID" 2>/dev/null || true; SERVER_PID=
}

bench_backend() {
  local backend=$1 url
  if [[ $backend == sqlite ]]; then
    url="sqlite://$WORK/data/alfa-cloud.db"
  else
    psql -h 127.0.0.1 -U postgres -qc "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" postgres
    psql -h 127.0.0.1 -U postgres -qc "CREATE DATABASE $PG_DB" postgres
    url="postgres://postgres@127.0.0.1:5432/$PG_DB"
  fi
  export ALFA_DATABASE_URL=$url ALFA_DATA_DIR=$WORK/data ALFA_LISTEN=127.0.0.1:$PORT \
    ALFA_ADMIN_PASSWORD=$PASSWORD ALFA_SECRET_KEY=$ZERO_KEY ALFA_LOG=warn
  "$BIN" migrate >/dev/null
  if [[ $backend == sqlite ]]; then seed_sqlite "$WORK/data/alfa-cloud.db"; else seed_postgres; fi
  start_server
  local total
  total=$(curl -sf -u "admin:$PASSWORD" "http://127.0.0.1:$PORT/clients?per_page=1" | /usr/bin/python3 -c 'import json,sys; print(json.load(sys.stdin)["total"])')
  [[ $total == 10000 ]] || { echo "seeding failed: total=$total" >&2; exit 1; }
  wrk -t1 -c"$CONNECTIONS" -d2s -s "$WORK/list.lua" "http://127.0.0.1:$PORT" >/dev/null  # warm-up
  RESULT[$backend,health]=$(run_wrk "http://127.0.0.1:$PORT/health")
  RESULT[$backend,list]=$(run_wrk -s "$WORK/list.lua" "http://127.0.0.1:$PORT")
  RESULT[$backend,one]=$(run_wrk -s "$WORK/one.lua" "http://127.0.0.1:$PORT")
  RESULT[$backend,rss]=$(awk '/VmHWM/ {printf "%.1f", $2/1024}' "/proc/$SERVER_PID/status")
  stop_server
  # The same list load with the page cache off: every request reads and serializes its page.
  start_server ALFA_PAGE_CACHE_MB=0
  RESULT[$backend,cold]=$(run_wrk -s "$WORK/list.lua" "http://127.0.0.1:$PORT")
  stop_server
}

bench_backend sqlite
bench_backend postgres

echo
echo "alfa-cloud API benchmark: 10,000 clients on 20 servers; wrk -t1 -c$CONNECTIONS, ${DURATION}s per load; $(nproc) cores"
printf '%-9s %-28s %12s %10s %16s\n' backend load "requests/s" "p99 ms" "vs /health r/s"
for backend in sqlite postgres; do
  read -r base_rps _ <<<"${RESULT[$backend,health]}"
  for load in health list cold one; do
    read -r rps p99 <<<"${RESULT[$backend,$load]}"
    case $load in health) name="GET /health (baseline)";; list) name="GET /clients?page=N&per_page=50";; cold) name="  same, page cache off";; one) name="GET /clients/{id}";; esac
    printf '%-9s %-28s %12.0f %10.2f %15.2fx\n' "$backend" "$name" "$rps" "$p99" "$(awk -v a="$rps" -v b="$base_rps" 'BEGIN {print a/b}')"
  done
  printf '%-9s %-28s %12s\n' "$backend" "peak RSS (MB)" "${RESULT[$backend,rss]}"
done
read -r list_rps list_p99 <<<"${RESULT[sqlite,list]}"
echo
echo "targets (SQLite list page): >= 5000 requests/s -> $(awk -v r="$list_rps" 'BEGIN {printf "%.2fx of target", r/5000}'); p99 <= 10 ms -> ${list_p99} ms; RSS <= 60 MB -> ${RESULT[sqlite,rss]} MB"
