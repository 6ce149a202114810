# shellcheck shell=bash
# scripts/testbed.d/hosts.sh — a test host's folder: set it up (stand-ins, files, nginx and sshd
# configuration, sshd running) and tear it down.

setup_host() {
  local i=$1 h a d
  h=$(host_name "$i"); a=$(host_addr "$i"); d=$(host_dir "$i")
  install -d -m 755 "$d" "$d/bin" "$d/letsencrypt"
  install -d -o "$TB_USER" -g "$TB_USER" -m 775 "$d/nginx-prefix" "$d/nginx-prefix/logs"
  install -d -m 777 "$d/nginx-prefix/tmp"
  install -d -m 755 "$d/srv"
  install -d -o "$TB_USER" -g "$TB_USER" -m 775 "$d/srv/www" "$d/srv/git" "$d/srv/docker" "$d/srv/docker/clients" "$d/srv/nginx" \
    "$d/srv/acme" "$d/srv/backups"
  install -d -m 755 "$d/www-acme"

  install_standins "$d"
  local n
  for n in docker docker-compose nginx certbot reboot shutdown alfa-fakeapp; do
    [[ -L $d/bin/$n ]] || ln -sfn standin.py "$d/bin/$n"
  done

  # files the stand-ins write, writable by the login user and by root (sudo)
  local f
  for f in calls.jsonl docker-state.json; do
    [[ -e $d/$f ]] || install -o "$TB_USER" -g "$TB_USER" -m 666 /dev/null "$d/$f"
  done
  touch "$d/nginx-prefix/logs/error.log" "$d/nginx-prefix/logs/access.log"
  chown "$TB_USER:$TB_USER" "$d/nginx-prefix/logs/error.log" "$d/nginx-prefix/logs/access.log"
  chmod 666 "$d/nginx-prefix/logs/error.log" "$d/nginx-prefix/logs/access.log"

  write_template "$d/testbed-host.json" 644 testbed-host.json HOST="$h" ADDR="$a" HOST_DIR="$d" TB_DIR="$TB_DIR" \
    SSH_PORT="$SSH_PORT" HTTP_PORT="$HTTP_PORT" PEBBLE_PORT="$PEBBLE_PORT" || true
  write_nginx_conf "$i"
  ensure_sshd "$i"
}

teardown_host() {
  local i=$1 d
  d=$(host_dir "$i")
  [[ -f $d/testbed-host.json ]] || return 0
  stop_nginx "$i"
  stop_sshd "$i"
  # anything still running from the host's bin (e.g. a hung stand-in) goes too
  local p
  for p in $(pgrep -f -- "$d/bin/" || true); do kill_pids "$p"; done
  sql_drop_host "$i"
  rm -rf -- "$d"
}
