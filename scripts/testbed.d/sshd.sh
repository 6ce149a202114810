# shellcheck shell=bash
# scripts/testbed.d/sshd.sh — each host's real sshd: host key, authorized_keys, sshd_config, start, stop.

# host key, authorized_keys and sshd_config of host INDEX; starts its sshd, or restarts it when
# the configuration changed
ensure_sshd() { # INDEX
  local i=$1 h a d
  h=$(host_name "$i"); a=$(host_addr "$i"); d=$(host_dir "$i")
  [[ -f $d/ssh_host_ed25519_key ]] || ssh-keygen -q -t ed25519 -N '' -C "$h" -f "$d/ssh_host_ed25519_key"
  write_if_changed "$d/authorized_keys" 644 <"$TB_DIR/id_ed25519.pub" || true
  local cfg_changed=0
  write_template "$d/sshd_config" 644 sshd_config HOST="$h" ADDR="$a" SSH_PORT="$SSH_PORT" HOST_DIR="$d" \
    TB_USER="$TB_USER" && cfg_changed=1
  local pid
  if pid=$(live_pid "$d/sshd.pid" "$d/sshd_config"); then
    ((cfg_changed)) || return 0
    kill -TERM "$pid" 2>/dev/null || true
    wait_gone "$pid"
  fi
  start_sshd "$i"
}

start_sshd() {
  local i=$1 d out
  d=$(host_dir "$i")
  install -d -m 755 /run/sshd
  out=$(/usr/sbin/sshd -t -f "$d/sshd_config" 2>&1) || die "sshd config for $(host_name "$i") is invalid: $out"
  rm -f "$d/sshd.pid"
  setsid /usr/sbin/sshd -D -f "$d/sshd_config" -E "$d/sshd.log" </dev/null >/dev/null 2>&1 9>&- &
}

stop_sshd() { # INDEX [listener-only]
  local i=$1 mode=${2:-all} d pid
  d=$(host_dir "$i")
  pid=$(live_pid "$d/sshd.pid" "$d/sshd_config") || return 0
  if [[ $mode == listener-only ]]; then
    kill_pids "$pid"
  else
    kill_tree "$pid"
  fi
  rm -f "$d/sshd.pid"
}
