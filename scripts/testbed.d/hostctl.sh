# shellcheck shell=bash
# scripts/testbed.d/hostctl.sh — breaking and mending one host: stop/start/freeze/thaw its sshd,
# rotate its host key, start/stop its nginx.

cmd_stop_host() {
  [[ $# -ge 1 && $# -le 2 ]] || die "usage: scripts/testbed stop-host HOST [--listener-only]"
  need_root
  local i mode=all
  i=$(host_index "$1")
  if [[ $# -eq 2 ]]; then [[ $2 == --listener-only ]] || die "unknown option $2"; mode=listener-only; fi
  stop_sshd "$i" "$mode"
  log "$(host_name "$i"): sshd stopped ($mode)"
}

cmd_start_host() {
  [[ $# -eq 1 ]] || die "usage: scripts/testbed start-host HOST"
  need_root
  local i d pid
  i=$(host_index "$1"); d=$(host_dir "$i")
  if pid=$(live_pid "$d/sshd.pid" "$d/sshd_config"); then
    kill -CONT "$pid" 2>/dev/null || true
    log "$(host_name "$i"): sshd already running (pid $pid)"
    return 0
  fi
  start_sshd "$i"
  wait_listen "$(host_addr "$i"):$SSH_PORT" || die "sshd of $(host_name "$i") did not start; see $d/sshd.log"
  log "$(host_name "$i"): sshd started"
}

cmd_freeze_host() {
  [[ $# -ge 1 && $# -le 2 ]] || die "usage: scripts/testbed freeze-host HOST [--all]"
  need_root
  local i d pid kids=""
  i=$(host_index "$1"); d=$(host_dir "$i")
  pid=$(live_pid "$d/sshd.pid" "$d/sshd_config") || die "sshd of $(host_name "$i") is not running"
  if [[ $# -eq 2 ]]; then
    [[ $2 == --all ]] || die "unknown option $2"
    kids=$(descendants "$pid")
  fi
  # shellcheck disable=SC2086
  kill -STOP "$pid" $kids
  log "$(host_name "$i"): sshd frozen (pid $pid${kids:+ and its sessions})"
}

cmd_thaw_host() {
  [[ $# -eq 1 ]] || die "usage: scripts/testbed thaw-host HOST"
  need_root
  local i d pid kids
  i=$(host_index "$1"); d=$(host_dir "$i")
  pid=$(live_pid "$d/sshd.pid" "$d/sshd_config") || die "sshd of $(host_name "$i") is not running"
  kids=$(descendants "$pid")
  # shellcheck disable=SC2086
  kill -CONT "$pid" $kids
  log "$(host_name "$i"): sshd thawed"
}

cmd_rotate_hostkey() {
  [[ $# -eq 1 ]] || die "usage: scripts/testbed rotate-hostkey HOST"
  need_root
  local i d
  i=$(host_index "$1"); d=$(host_dir "$i")
  cp -f "$d/ssh_host_ed25519_key.pub" "$d/ssh_host_ed25519_key.pub.old"
  rm -f "$d/ssh_host_ed25519_key" "$d/ssh_host_ed25519_key.pub"
  ssh-keygen -q -t ed25519 -N '' -C "$(host_name "$i")" -f "$d/ssh_host_ed25519_key"
  stop_sshd "$i" listener-only
  start_sshd "$i"
  wait_listen "$(host_addr "$i"):$SSH_PORT" || die "sshd of $(host_name "$i") did not restart; see $d/sshd.log"
  write_summary "$(host_count)"
  log "$(host_name "$i"): new host key $(ssh-keygen -lf "$d/ssh_host_ed25519_key.pub" | cut -d' ' -f2) (old: $(ssh-keygen -lf "$d/ssh_host_ed25519_key.pub.old" | cut -d' ' -f2))"
}

cmd_nginx_start() {
  [[ $# -eq 1 ]] || die "usage: scripts/testbed nginx-start HOST"
  need_root
  local i d pid
  i=$(host_index "$1"); d=$(host_dir "$i")
  # Tests start the nginx of a shared host from several threads at once: one at a time, and a
  # host whose address already answers on the http port has its nginx (its pid file may be
  # between writes).
  exec 8>>"$d/nginx-start.lock"
  flock -w 60 8 || die "another nginx-start of $(host_name "$i") holds $d/nginx-start.lock"
  if pid=$(live_pid "$d/nginx-prefix/nginx.pid" "$d/"); then log "$(host_name "$i"): nginx already running (pid $pid)"; return 0; fi
  if ss -Hltn 2>/dev/null | awk '{print $4}' | grep -qxF -- "$(host_addr "$i"):$HTTP_PORT"; then
    log "$(host_name "$i"): nginx already listening on $(host_addr "$i"):$HTTP_PORT"
    return 0
  fi
  "$d/bin/nginx" </dev/null >"$d/nginx-prefix/logs/start.log" 2>&1 8>&- 9>&- ||
    die "nginx of $(host_name "$i") did not start: $(cat "$d/nginx-prefix/logs/start.log")"
  wait_listen "$(host_addr "$i"):$HTTP_PORT" || die "nginx of $(host_name "$i") is not listening; see $d/nginx-prefix/logs/error.log"
  log "$(host_name "$i"): nginx listening on $(host_addr "$i"):$HTTP_PORT"
}

cmd_nginx_stop() {
  [[ $# -eq 1 ]] || die "usage: scripts/testbed nginx-stop HOST"
  need_root
  local i
  i=$(host_index "$1")
  stop_nginx "$i"
}
