# shellcheck shell=bash
# scripts/testbed.d/common.sh — settings, messages, test host names, writing files from templates.
# Sourced by scripts/testbed (which sets LIBDIR); the other parts use what is defined here.

# Settings from the environment (README.md, "Environment"). check_settings validates them, so
# they are safe in paths, in configuration files and in templates.
# shellcheck disable=SC2034  # used by the other parts
{
  TB_DIR=${ALFA_TESTBED_DIR:-/tmp/alfa-testbed}
  SSH_PORT=${ALFA_TESTBED_SSH_PORT:-2222}
  HTTP_PORT=${ALFA_TESTBED_HTTP_PORT:-8080}
  TB_USER=${ALFA_TESTBED_USER:-alfa}
  TB_HOME=${ALFA_TESTBED_HOME:-/var/lib/alfa-testbed-home}
  PEBBLE_PORT=${ALFA_TESTBED_PEBBLE_PORT:-14000}
  PEBBLE_MGMT_PORT=${ALFA_TESTBED_PEBBLE_MGMT_PORT:-15000}
  MYSQL_PORT=${ALFA_TESTBED_MYSQL_PORT:-3306}
  PG_PORT=${ALFA_TESTBED_PG_PORT:-5432}
  MYSQL_ROOT_USER=${ALFA_TESTBED_MYSQL_ROOT_USER:-root}
  MYSQL_ROOT_PASSWORD=${ALFA_TESTBED_MYSQL_ROOT_PASSWORD:-}
  PG_SUPERUSER=${ALFA_TESTBED_PG_SUPERUSER:-postgres}
  SEED_IMAGES=${ALFA_TESTBED_SEED_IMAGES-alfa-lims:1.0-master alfa-lims:1.1-dev}
  SUDOERS=/etc/sudoers.d/alfa-testbed
  PY=/usr/bin/python3
  MAX_HOSTS=60
}

log() { printf 'testbed: %s\n' "$*" >&2; }
die() { printf 'testbed: error: %s\n' "$*" >&2; exit 1; }

check_settings() {
  [[ $TB_DIR =~ ^/[A-Za-z0-9._/-]+$ && $TB_DIR != *..* ]] ||
    die "ALFA_TESTBED_DIR must be an absolute path of [A-Za-z0-9._/-] without '..' (got '$TB_DIR')"
  TB_DIR=${TB_DIR%/}
  case $TB_DIR in /|/tmp|/var|/srv|/root|/home|/etc|/usr|/var/lib) die "ALFA_TESTBED_DIR=$TB_DIR is too broad";; esac
  local p
  for p in "$SSH_PORT" "$HTTP_PORT" "$PEBBLE_PORT" "$PEBBLE_MGMT_PORT" "$MYSQL_PORT" "$PG_PORT"; do
    if ! [[ $p =~ ^[0-9]{1,5}$ ]] || ((p < 1 || p > 65535)); then die "bad port number '$p'"; fi
  done
  [[ $TB_USER =~ ^[a-z_][a-z0-9_-]{0,30}$ ]] || die "bad ALFA_TESTBED_USER '$TB_USER'"
}

need_root() { [[ $(id -u) -eq 0 ]] || die "run as root (it starts sshd, writes /etc/sudoers.d and creates a user)"; }

host_name() { printf 'h%d' $((10 + $1)); }
host_addr() { printf '127.0.0.%d' $((10 + $1)); }
host_dir() { printf '%s/h%d' "$TB_DIR" $((10 + $1)); }

host_count() {
  if [[ -f $TB_DIR/hosts ]]; then cat "$TB_DIR/hosts"; else echo 0; fi
}

# HOST argument -> index (1..N)
host_index() {
  local arg=$1 n i
  n=$(host_count)
  if [[ $arg =~ ^h([0-9]+)$ ]]; then i=$((10#${BASH_REMATCH[1]} - 10))
  elif [[ $arg =~ ^127\.0\.0\.([0-9]+)$ ]]; then i=$((10#${BASH_REMATCH[1]} - 10))
  elif [[ $arg =~ ^[0-9]+$ ]]; then i=$((10#$arg))
  else die "bad host '$arg' (use h11, 127.0.0.11 or 1)"
  fi
  ((i >= 1 && i <= n)) || die "no such test host '$arg' (testbed has $n host(s) under $TB_DIR)"
  printf '%d' "$i"
}

# 'all' or one host -> list of indexes
host_indexes() {
  local n i
  if [[ $1 == all ]]; then
    n=$(host_count)
    for ((i = 1; i <= n; i++)); do printf '%d\n' "$i"; done
  else
    host_index "$1"; echo
  fi
}

write_if_changed() { # FILE MODE < content ; returns 0 when changed
  local f=$1 mode=$2 tmp
  tmp=$(mktemp "$f.XXXXXX")
  cat >"$tmp"
  chmod "$mode" "$tmp"
  if cmp -s "$tmp" "$f" 2>/dev/null; then rm -f "$tmp"; return 1; fi
  mv -f "$tmp" "$f"
}

# VAR TEMPLATE [NAME=VALUE...]: sets VAR to the file templates/TEMPLATE with every @NAME@
# replaced by its VALUE (literally: no shell expansion). The values must be validated before
# (check_settings) and may not contain '@'; a placeholder left unfilled is an error.
render_to() {
  local _var=$1 _tpl=$LIBDIR/templates/$2 _text="" _kv _k _v
  shift 2
  [[ -f $_tpl ]] || die "template $_tpl is missing"
  IFS= read -r -d '' _text <"$_tpl" || true
  for _kv in "$@"; do
    _k=${_kv%%=*} _v=${_kv#*=}
    [[ $_k =~ ^[A-Z][A-Z0-9_]*$ && $_v != *@* ]] || die "render_to ${_tpl##*/}: bad substitution '$_kv'"
    _text=${_text//"@$_k@"/"$_v"}
  done
  if [[ $_text =~ @[A-Z][A-Z0-9_]*@ ]]; then die "render_to ${_tpl##*/}: ${BASH_REMATCH[0]} is not filled"; fi
  printf -v "$_var" '%s' "$_text"
}

# FILE MODE TEMPLATE [NAME=VALUE...]: write_if_changed with the rendered template
write_template() {
  local f=$1 mode=$2 text
  shift 2
  render_to text "$@"
  printf '%s' "$text" | write_if_changed "$f" "$mode"
}
