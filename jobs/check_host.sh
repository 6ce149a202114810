#!/usr/bin/env bash
# check_host.sh BASE_DIR [SQL_KIND SQL_PORT] — is this server ready for Alfa Cloud?
# SQL_KIND is mariadb (default) or postgres, SQL_PORT defaults to 3306 or 5432.
# Prints one line per check on stdout:
#   ::check {"name":"git","ok":true,"detail":"git version 2.39.5","hint":""}
# A failing check never stops the script; it exits 0 after all checks (the caller
# decides what is required), or 2 when the arguments are bad.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -eq 1 || $# -eq 3 ]] || usage_error "usage: check_host.sh BASE_DIR [SQL_KIND SQL_PORT] (got $# arguments)"
BASE=$(valid_base_dir "$1")
SQL_KIND=${2:-mariadb}
case $SQL_KIND in
  mariadb) SQL_PORT=${3:-3306} ;;
  postgres) SQL_PORT=${3:-5432} ;;
  *) usage_error "SQL_KIND must be mariadb or postgres (got '$SQL_KIND')" ;;
esac
if ! [[ $SQL_PORT =~ ^[1-9][0-9]{0,4}$ ]] || ((SQL_PORT > 65535)); then
  usage_error "SQL_PORT must be 1-65535 (got '$SQL_PORT')"
fi
ME=$(id -un)
MYGROUP=$(id -gn)
MYGROUPS=" $(id -Gn) "
MIN_FREE_KIB=$((2 * 1024 * 1024))

# check NAME OK(true|false) DETAIL HINT
check() {
  local hint=""
  [[ $2 == true ]] || hint=$4
  printf '::check {"name":%s,"ok":%s,"detail":%s,"hint":%s}\n' \
    "$(json_str "$1")" "$2" "$(json_str "$(shorten "$3")")" "$(json_str "$hint")"
}

# one line, at most 300 characters
shorten() {
  local s=${1//$'\n'/ | }
  s=${s//$'\r'/}
  ((${#s} <= 300)) || s="${s:0:297}..."
  printf '%s' "$s"
}

last_line() {
  local s=${1%$'\n'}
  printf '%s' "${s##*$'\n'}"
}

# capture CMD... — run CMD, its stdout+stderr into OUT, return its status (never trips set -e)
OUT=""
capture() {
  local rc=0
  OUT=$("$@" </dev/null 2>&1) || rc=$?
  return "$rc"
}

SUDOERS_HINT_CMDS=""
# sudo_allowed NAME PATH ARGS... — check 'sudo -n -l' for the exact command
sudo_allowed() {
  local name=$1 path=$2
  shift 2
  if ! command -v sudo >/dev/null; then
    check "$name" false "sudo is not installed" "apt-get install sudo, then allow $ME to run it without a password"
    return 1
  fi
  if capture sudo -n -l -- "$path" "$@"; then
    check "$name" true "$ME may run: sudo -n $path $*" ""
    return 0
  fi
  SUDOERS_HINT_CMDS+="${SUDOERS_HINT_CMDS:+, }$path"
  check "$name" false "sudo -n $path $* is not allowed for $ME: $(last_line "${OUT:-no permission}")" \
    "add to /etc/sudoers.d/alfa-cloud (visudo -f): $ME ALL=(root) NOPASSWD: $path"
  return 1
}

say "checking $(hostname 2>/dev/null || echo server) as $ME for Alfa Cloud (base_dir $BASE)"

# ---- os (information only)
step os
os_name=$(. /etc/os-release 2>/dev/null && printf '%s' "${PRETTY_NAME:-}") || os_name=""
check os true "${os_name:-unknown OS}, kernel $(uname -r), $(uname -m)" ""

# ---- git
step git
if capture git --version; then
  check git true "$OUT" ""
else
  check git false "git is not installed: $(last_line "$OUT")" "apt-get install git"
fi

# ---- docker
step docker
if docker_path=$(resolve_cmd docker); then
  if sudo_allowed sudo_docker "$docker_path" version; then
    if capture sudo -n -- "$docker_path" version --format '{{.Server.Version}}'; then
      check docker true "docker server $(last_line "$OUT") ($docker_path, via sudo)" ""
    else
      check docker false "sudo docker version failed: $(last_line "$OUT")" \
        "install Docker Engine and start it: systemctl enable --now docker"
    fi
  else
    check docker false "not checked: sudo -n $docker_path is not allowed" "fix the sudo_docker check first"
  fi
  if sudo_allowed sudo_docker_compose "$docker_path" compose version; then
    if capture sudo -n -- "$docker_path" compose version; then
      check docker_compose true "$(last_line "$OUT") (via sudo)" ""
    else
      hint="install the Docker Compose v2 plugin: apt-get install docker-compose-plugin"
      command -v docker-compose >/dev/null && hint+=" (only the old docker-compose v1 is present; it is not used)"
      check docker_compose false "sudo docker compose version failed: $(last_line "$OUT")" "$hint"
    fi
  else
    check docker_compose false "not checked: sudo -n $docker_path compose is not allowed" "fix the sudo_docker_compose check first"
  fi
else
  check sudo_docker false "docker is not installed" "install Docker Engine (docs.docker.com/engine/install/debian)"
  check docker false "docker is not installed (not on PATH nor in /usr/sbin)" "install Docker Engine (docs.docker.com/engine/install/debian)"
  check sudo_docker_compose false "docker is not installed" "install Docker Engine with the compose plugin"
  check docker_compose false "docker is not installed" "install Docker Engine with the compose plugin"
fi

# ---- nginx
step nginx
if nginx_path=$(resolve_cmd nginx); then
  if sudo_allowed sudo_nginx "$nginx_path" -t; then
    if capture sudo -n -- "$nginx_path" -t; then
      check nginx true "$(last_line "$OUT")" ""
    else
      check nginx false "sudo nginx -t failed: $(last_line "$OUT")" "fix the nginx configuration: sudo nginx -t shows the error"
    fi
    want="include $BASE/nginx/*.conf;"
    if capture sudo -n -- "$nginx_path" -T; then
      # squeeze blanks so 'include   /srv/nginx/*.conf ;' matches too
      if tr -s ' \t' '  ' <<<"$OUT" | sed 's/^ *//; s/ *;/;/' | grep -qF -- "$want"; then
        check nginx_includes true "nginx configuration has: $want" ""
      else
        check nginx_includes false "nginx -T has no line '$want'" \
          "add '$want' inside the http { } block of /etc/nginx/nginx.conf, then: sudo nginx -t && sudo nginx -s reload"
      fi
    else
      check nginx_includes false "sudo nginx -T failed: $(last_line "$OUT")" "fix the nginx configuration first"
    fi
  else
    check nginx false "not checked: sudo -n $nginx_path is not allowed" "fix the sudo_nginx check first"
    check nginx_includes false "not checked: sudo -n $nginx_path is not allowed" "fix the sudo_nginx check first"
  fi
else
  check sudo_nginx false "nginx is not installed" "apt-get install nginx"
  check nginx false "nginx is not installed (not on PATH nor in /usr/sbin)" "apt-get install nginx"
  check nginx_includes false "nginx is not installed" "apt-get install nginx"
fi

# ---- certbot
step certbot
if certbot_path=$(resolve_cmd certbot); then
  if sudo_allowed sudo_certbot "$certbot_path" --version; then
    if capture sudo -n -- "$certbot_path" --version; then
      check certbot true "$(last_line "$OUT") ($certbot_path, via sudo)" ""
      if capture sudo -n -- "$certbot_path" plugins && grep -qx '\* nginx' <<<"$OUT"; then
        check certbot_nginx true "certbot has the nginx plugin" ""
      else
        check certbot_nginx false "certbot plugins does not list nginx: $(last_line "$OUT")" "apt-get install python3-certbot-nginx"
      fi
    else
      check certbot false "sudo certbot --version failed: $(last_line "$OUT")" "apt-get install certbot python3-certbot-nginx"
      check certbot_nginx false "not checked: certbot does not run" "apt-get install certbot python3-certbot-nginx"
    fi
  else
    check certbot false "not checked: sudo -n $certbot_path is not allowed" "fix the sudo_certbot check first"
    check certbot_nginx false "not checked: sudo -n $certbot_path is not allowed" "fix the sudo_certbot check first"
  fi
else
  check sudo_certbot false "certbot is not installed" "apt-get install certbot python3-certbot-nginx"
  check certbot false "certbot is not installed (not on PATH nor in /usr/sbin)" "apt-get install certbot python3-certbot-nginx"
  check certbot_nginx false "certbot is not installed" "apt-get install certbot python3-certbot-nginx"
fi

# ---- SQL client
step sql_client
clients=()
for c in mariadb mysql psql; do
  [[ $c == mysql && ${clients[*]} == mariadb* ]] && continue # mysql is mariadb's alias
  if p=$(type -P "$c"); then
    v=$("$p" --version </dev/null 2>&1 | head -n1) || v=""
    v=$(grep -oE '[0-9]+\.[0-9]+(\.[0-9]+)?(-MariaDB)?' <<<"${v##*Distrib }" | head -n1) || v=""
    clients+=("$c ${v:-?} ($p)")
  fi
done
if ((${#clients[@]})); then
  check sql_client true "$(IFS=','; printf '%s' "${clients[*]}")" ""
else
  check sql_client false "no mariadb, mysql or psql client found" "apt-get install mariadb-client (or postgresql-client)"
fi

# ---- SQL server reachable from the containers
# A client's container reaches the SQL server at host.docker.internal, mapped to the docker
# bridge's gateway (docker0, 172.17.0.1 by default): the server must listen there, not only
# on 127.0.0.1, which inside a container is the container itself.
step sql_listen
ip_int() { # ip_int A.B.C.D -> the address as one number
  local a b c d
  IFS=. read -r a b c d <<<"$1"
  printf '%d' $(((a << 24) | (b << 16) | (c << 8) | d))
}
ip_in_net() { # ip_in_net A.B.C.D NET/LEN -> status 0 when the address is in the network
  local len=${2#*/} mask
  [[ $2 == */* && $len =~ ^[0-9]+$ && ${2%/*} =~ ^[0-9]+(\.[0-9]+){3}$ ]] || return 1
  mask=$(((0xFFFFFFFF << (32 - len)) & 0xFFFFFFFF))
  (((len == 0) || (($(ip_int "$1") & mask) == ($(ip_int "${2%/*}") & mask))))
}
bridge_ip=172.17.0.1
bridge_net=172.17.0.0/16
if ip_path=$(resolve_cmd ip) && capture "$ip_path" -4 -o addr show dev docker0; then
  cidr=$(awk '{ print $4; exit }' <<<"$OUT")
  if [[ $cidr =~ ^[0-9]+(\.[0-9]+){3}/[0-9]+$ ]]; then
    bridge_ip=${cidr%/*}
    len=${cidr#*/}
    n=$(($(ip_int "$bridge_ip") & ((0xFFFFFFFF << (32 - len)) & 0xFFFFFFFF)))
    bridge_net="$(((n >> 24) & 255)).$(((n >> 16) & 255)).$(((n >> 8) & 255)).$((n & 255))/$len"
  fi
fi
if [[ $SQL_KIND == mariadb ]]; then
  sql_fix="in /etc/mysql/mariadb.conf.d/50-server.cnf, under [mysqld], set 'bind-address = 0.0.0.0' (docker0's $bridge_ip alone fails when MariaDB starts before docker), then: sudo systemctl restart mariadb; keep port $SQL_PORT closed to the internet with the firewall"
else
  sql_fix="in /etc/postgresql/*/main/postgresql.conf set listen_addresses = '*' (or 'localhost,$bridge_ip'), add the line 'host all all $bridge_net scram-sha-256' to /etc/postgresql/*/main/pg_hba.conf, then: sudo systemctl restart postgresql; keep port $SQL_PORT closed to the internet with the firewall"
fi
if ! ss_path=$(resolve_cmd ss) || ! capture "$ss_path" -ltn; then
  check sql_listen false "cannot list listening sockets: ss is missing or failed: $(last_line "${OUT:-}")" "apt-get install iproute2"
else
  listeners=()
  reach=""
  # State Recv-Q Send-Q Local-Address:Port Peer-Address:Port
  while read -r _ _ _ local _; do
    [[ ${local##*:} == "$SQL_PORT" ]] || continue
    addr=${local%:*}
    addr=${addr%%\%*}
    addr=${addr#[}
    addr=${addr%]}
    listeners+=("$addr")
    case $addr in
      0.0.0.0 | '*' | :: | "$bridge_ip") reach=$addr ;;
    esac
  done < <(tail -n +2 <<<"$OUT")
  if ((${#listeners[@]} == 0)); then
    check sql_listen false "nothing listens on TCP port $SQL_PORT (the $SQL_KIND server's sql_port)" \
      "start the $SQL_KIND server or correct the server's sql_port; it must listen where containers reach it: $sql_fix"
  elif [[ -z $reach ]]; then
    check sql_listen false "port $SQL_PORT listens only on $(IFS=','; printf '%s' "${listeners[*]}"): containers (docker0 $bridge_ip, $bridge_net) cannot reach it" "$sql_fix"
  elif [[ $SQL_KIND == postgres ]]; then
    # pg_hba.conf is usually readable by root and postgres only: checked when it can be.
    hba_read=false hba_ok=false
    for hba in /etc/postgresql/*/main/pg_hba.conf; do
      [[ -r $hba ]] || continue
      hba_read=true
      while read -r type _ _ address _; do
        [[ $type == host || $type == hostssl || $type == hostnossl ]] || continue
        if [[ $address == all || $address == samenet ]] || ip_in_net "$bridge_ip" "$address"; then
          hba_ok=true
        fi
      done <"$hba"
    done
    if [[ $hba_read == true && $hba_ok == false ]]; then
      check sql_listen false "port $SQL_PORT listens on $reach, but no pg_hba.conf 'host' line admits $bridge_net" "$sql_fix"
    elif [[ $hba_read == true ]]; then
      check sql_listen true "port $SQL_PORT listens on $reach and pg_hba.conf admits $bridge_net: containers reach it at $bridge_ip" ""
    else
      check sql_listen true "port $SQL_PORT listens on $reach: containers reach it at $bridge_ip (pg_hba.conf not readable by $ME: it must admit $bridge_net)" ""
    fi
  else
    check sql_listen true "port $SQL_PORT listens on $reach: containers reach it at $bridge_ip" ""
  fi
fi

# ---- base_dir folders
step dirs
for sub in www git docker docker/clients nginx acme backups; do
  dir="$BASE/$sub"
  name="dir_${sub//\//_}"
  fix="sudo install -d -o $ME -g $MYGROUP -m 775 $dir"
  if [[ ! -e $dir ]]; then
    check "$name" false "$dir does not exist" "$fix"
    continue
  fi
  if [[ ! -d $dir ]]; then
    check "$name" false "$dir exists but is not a directory" "move it away, then: $fix"
    continue
  fi
  if ! read -r owner group mode < <(stat -c '%U %G %a' -- "$dir" 2>/dev/null); then
    check "$name" false "cannot stat $dir" "$fix"
    continue
  fi
  problems=()
  [[ $owner == "$ME" || $MYGROUPS == *" $group "* ]] || problems+=("owned by neither $ME nor one of its groups")
  (((8#$mode & 8#020) != 0)) || problems+=("not group-writable")
  [[ -w $dir ]] || problems+=("not writable by $ME")
  detail="$dir owner $owner:$group mode $mode"
  if ((${#problems[@]})); then
    check "$name" false "$detail: $(IFS=';'; printf '%s' "${problems[*]}")" "$fix"
  else
    check "$name" true "$detail" ""
  fi
done

# ---- free disk
step disk
df_target=$BASE
while [[ ! -e $df_target && $df_target != / ]]; do df_target=$(dirname "$df_target"); done
if read -r _ size_k _ avail_k _ < <(df -Pk -- "$df_target" 2>/dev/null | tail -n1) && [[ $avail_k =~ ^[0-9]+$ ]]; then
  human() { awk -v k="$1" 'BEGIN { printf "%.1f GiB", k / 1048576 }'; }
  detail="$(human "$avail_k") free of $(human "$size_k") on the filesystem of $df_target"
  if ((avail_k >= MIN_FREE_KIB)); then
    check disk true "$detail" ""
  else
    check disk false "$detail (at least 2 GiB needed)" "free space on $df_target: e.g. sudo docker image prune -a --force"
  fi
else
  check disk false "df failed for $df_target" "check that $df_target is mounted"
fi

if [[ -n $SUDOERS_HINT_CMDS ]]; then
  say "sudo rule this server needs (visudo -f /etc/sudoers.d/alfa-cloud): $ME ALL=(root) NOPASSWD: $SUDOERS_HINT_CMDS"
fi
step finish
say "checks done"
exit 0
