# shellcheck shell=bash
# scripts/testbed.d/nginx.sh — each host's real nginx: its nginx.conf, and stopping it (bin/nginx,
# the wrapper stand-in, starts it).

write_nginx_conf() { # INDEX
  local i=$1 h a d mime=""
  h=$(host_name "$i"); a=$(host_addr "$i"); d=$(host_dir "$i")
  [[ -f /etc/nginx/mime.types ]] && mime="include /etc/nginx/mime.types;"
  write_template "$d/nginx.conf" 644 nginx.conf HOST="$h" ADDR="$a" HOST_DIR="$d" HTTP_PORT="$HTTP_PORT" \
    MIME_INCLUDE="$mime" || true
}

stop_nginx() {
  local d pid
  d=$(host_dir "$1")
  pid=$(live_pid "$d/nginx-prefix/nginx.pid" "$d/") || return 0
  kill_tree "$pid"
  rm -f "$d/nginx-prefix/nginx.pid"
}
