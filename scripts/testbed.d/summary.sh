# shellcheck shell=bash
# scripts/testbed.d/summary.sh — what tests and people read: known_hosts, testbed.json, env.

write_summary() { # N
  local n=$1 i h a d kh="" hosts="" addrs="" json_hosts="" sep="" entry
  for ((i = 1; i <= n; i++)); do
    h=$(host_name "$i"); a=$(host_addr "$i"); d=$(host_dir "$i")
    if ((SSH_PORT == 22)); then kh+="$a $(cut -d' ' -f1,2 "$d/ssh_host_ed25519_key.pub")"$'\n'
    else kh+="[$a]:$SSH_PORT $(cut -d' ' -f1,2 "$d/ssh_host_ed25519_key.pub")"$'\n'; fi
    hosts+="${hosts:+ }$h"; addrs+="${addrs:+ }$a"
    render_to entry testbed.json.host HOST="$h" ADDR="$a" SSH_PORT="$SSH_PORT" HOST_DIR="$d" HTTP_PORT="$HTTP_PORT"
    json_hosts+="$sep"$'\n'"${entry%$'\n'}"
    sep=","
  done
  printf '%s' "$kh" | write_if_changed "$TB_DIR/known_hosts" 644 || true
  write_template "$TB_DIR/testbed.json" 644 testbed.json TB_DIR="$TB_DIR" TB_USER="$TB_USER" SSH_PORT="$SSH_PORT" \
    HTTP_PORT="$HTTP_PORT" PEBBLE_PORT="$PEBBLE_PORT" HOSTS_JSON="$json_hosts" || true
  write_if_changed "$TB_DIR/env" 644 < <(print_env "$hosts" "$addrs") || true
}

print_env() {
  local hosts=$1 addrs=$2
  printf 'export ALFA_TESTBED_DIR=%q\n' "$TB_DIR"
  printf 'export ALFA_TESTBED_KEY=%q\n' "$TB_DIR/id_ed25519"
  printf 'export ALFA_TESTBED_USER=%q\n' "$TB_USER"
  printf 'export ALFA_TESTBED_SSH_PORT=%q\n' "$SSH_PORT"
  printf 'export ALFA_TESTBED_HTTP_PORT=%q\n' "$HTTP_PORT"
  printf 'export ALFA_TESTBED_HOSTS=%q\n' "$hosts"
  printf 'export ALFA_TESTBED_ADDRS=%q\n' "$addrs"
  printf 'export ALFA_TESTBED_KNOWN_HOSTS=%q\n' "$TB_DIR/known_hosts"
  printf 'export ALFA_TESTBED_JSON=%q\n' "$TB_DIR/testbed.json"
  printf 'export ALFA_TESTBED_PEBBLE_URL=%q\n' "https://127.0.0.1:$PEBBLE_PORT/dir"
  printf 'export ALFA_TESTBED_PEBBLE_CA=%q\n' "$TB_DIR/pebble/ca.pem"
}
