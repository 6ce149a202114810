# shellcheck shell=bash
# scripts/testbed.d/commands.sh — the testbed as a whole: up, down, status, env, ssh.

lock() {
  exec 9>"${TB_DIR}.lock"
  flock -w 120 9 || die "another scripts/testbed up/down holds ${TB_DIR}.lock"
}

cmd_up() {
  [[ $# -eq 1 && $1 =~ ^[0-9]+$ ]] || die "usage: scripts/testbed up N (N = 1..$MAX_HOSTS)"
  local n=$((10#$1)) old i
  ((n >= 1 && n <= MAX_HOSTS)) || die "N must be 1..$MAX_HOSTS"
  need_root
  lock
  if [[ -e $TB_DIR && ! -f $TB_DIR/.alfa-testbed ]] && [[ -n $(ls -A "$TB_DIR" 2>/dev/null) ]]; then
    die "$TB_DIR exists and was not made by scripts/testbed: refusing to use it"
  fi
  ensure_packages
  install -d -m 755 "$TB_DIR"
  touch "$TB_DIR/.alfa-testbed"
  old=$(host_count)
  ensure_user
  ensure_sudoers
  ensure_client_key
  ensure_pebble
  sql_snapshot
  for ((i = n + 1; i <= old; i++)); do teardown_host "$i"; done
  local new_hosts=()
  for ((i = 1; i <= n; i++)); do
    [[ -f $(host_dir "$i")/testbed-host.json ]] || new_hosts+=("$i")
    setup_host "$i"
  done
  echo "$n" >"$TB_DIR/hosts"
  for i in "${new_hosts[@]}"; do seed_host "$i"; done
  local all=()
  for ((i = 1; i <= n; i++)); do all+=("$i"); done
  sql_setup_hosts "${all[@]}"
  ensure_sqlproxy "$n"
  local want=("127.0.0.1:$PEBBLE_PORT") proxy_want=()
  for ((i = 1; i <= n; i++)); do
    want+=("$(host_addr "$i"):$SSH_PORT")
    ((SQL_HAVE_MYSQL)) && proxy_want+=("$(host_addr "$i"):$MYSQL_PORT")
    ((SQL_HAVE_PG)) && proxy_want+=("$(host_addr "$i"):$PG_PORT")
  done
  wait_listen "${want[@]}" || die "some services did not start; see $TB_DIR/h*/sshd.log and $TB_DIR/pebble/pebble.log"
  if ((${#proxy_want[@]})); then
    wait_listen "${proxy_want[@]}" || log "warning: SQL forwarder not listening everywhere (see $TB_DIR/sqlproxy.log); sql.env uses 127.0.0.1 there"
  fi
  write_sql_envs "$n"
  write_summary "$n"
  cmd_status
}

cmd_down() {
  need_root
  lock
  if [[ -d $TB_DIR ]]; then
    [[ -f $TB_DIR/.alfa-testbed ]] || die "$TB_DIR was not made by scripts/testbed: refusing to delete it"
    local n i pid d
    n=$(host_count)
    for d in "$TB_DIR"/h[0-9]*; do
      [[ -d $d && $(basename "$d") =~ ^h([0-9]+)$ ]] || continue
      i=$((10#${BASH_REMATCH[1]} - 10))
      ((i > n)) && n=$i
    done
    echo "$n" >"$TB_DIR/hosts"
    for ((i = 1; i <= n; i++)); do teardown_host "$i"; done
    if pid=$(live_pid "$TB_DIR/sqlproxy.pid" "$TB_DIR/sqlproxy.py"); then kill_pids "$pid"; fi
    if pid=$(live_pid "$TB_DIR/pebble/pebble.pid" "$TB_DIR/pebble/config.json"); then kill_tree "$pid"; fi
    sql_drop_created
    rm -rf -- "$TB_DIR"
  fi
  rm -f "$SUDOERS" "${TB_DIR}.apt.log" "${TB_DIR}.lock"
  log "down: nothing of the testbed is running; $TB_DIR removed (user '$TB_USER' and $TB_HOME are kept)"
}

cmd_status() {
  local n i h a d pid state nginx
  n=$(host_count)
  if ((n == 0)); then echo "testbed: no hosts (scripts/testbed up N)"; return 0; fi
  for ((i = 1; i <= n; i++)); do
    h=$(host_name "$i"); a=$(host_addr "$i"); d=$(host_dir "$i")
    if pid=$(live_pid "$d/sshd.pid" "$d/sshd_config"); then
      if [[ $(proc_state "$pid") == T ]]; then state="frozen(pid $pid)"; else state="up(pid $pid)"; fi
    else
      state=down
    fi
    if pid=$(live_pid "$d/nginx-prefix/nginx.pid" "$d/"); then nginx="up(pid $pid, $a:$HTTP_PORT)"; else nginx=down; fi
    printf '%-4s %-12s port %-5s sshd=%-18s nginx=%-6s base_dir=%s\n' "$h" "$a" "$SSH_PORT" "$state" "$nginx" "$d/srv"
  done
  if pid=$(live_pid "$TB_DIR/pebble/pebble.pid" "$TB_DIR/pebble/config.json"); then
    echo "pebble up(pid $pid) https://127.0.0.1:$PEBBLE_PORT/dir ca=$TB_DIR/pebble/ca.pem"
  else
    echo "pebble down"
  fi
  if pid=$(live_pid "$TB_DIR/sqlproxy.pid" "$TB_DIR/sqlproxy.py"); then echo "sqlproxy up(pid $pid)"; else echo "sqlproxy down"; fi
}

cmd_env() {
  local n i hosts="" addrs=""
  n=$(host_count)
  for ((i = 1; i <= n; i++)); do
    hosts+="${hosts:+ }$(host_name "$i")"; addrs+="${addrs:+ }$(host_addr "$i")"
  done
  print_env "$hosts" "$addrs"
}

cmd_ssh() {
  [[ $# -ge 1 ]] || die "usage: scripts/testbed ssh HOST [CMD...]"
  local i
  i=$(host_index "$1"); shift
  exec ssh -i "$TB_DIR/id_ed25519" -p "$SSH_PORT" -o IdentitiesOnly=yes -o BatchMode=yes \
    -o StrictHostKeyChecking=yes -o UserKnownHostsFile="$TB_DIR/known_hosts" \
    -o ControlMaster=auto -o ControlPath="$TB_DIR/cm-%h" -o ControlPersist=60 \
    "$TB_USER@$(host_addr "$i")" "$@"
}
