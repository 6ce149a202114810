#!/usr/bin/env bash
# jobs/lib.sh — shared helpers for the job scripts Alfa Cloud runs on a server.
#
# The runner loads this file and jobs/lib_web.sh (the nginx and certbot helpers) once
# into a warm shell (a `bash -s` kept per session slot, src/remote/shell.rs), then runs
# each job script in a subshell of it, so everything here is defined before the job's
# own text runs. By hand: `cat jobs/lib.sh jobs/lib_web.sh jobs/X.sh | bash -s -- ARGS`.
# Rules for job scripts (see jobs/README.md):
#   - positional arguments only, validated (exit 2 on bad arguments);
#   - `::step NAME` lines on stdout mark progress; other stdout lines are the log;
#   - errors go to stderr, saying what failed and what to do;
#   - bash reads the script itself from stdin: a command that reads stdin would eat
#     the rest of the script, so every command here gets </dev/null.
set -euo pipefail

# shellcheck disable=SC2034  # read by the guard at the top of each job script
ALFA_LIB_LOADED=1

# ::step NAME — marks the start of a step (one word, [A-Za-z0-9_.-]).
step() {
  printf '::step %s\n' "$1"
}

# Human-readable progress line on stdout.
say() {
  printf '%s\n' "$*"
}

# die [CODE] MESSAGE... — message on stderr, exit CODE (default 1).
die() {
  local code=1
  if [[ $# -gt 1 && $1 =~ ^[0-9]+$ ]]; then
    code=$1
    shift
  fi
  printf 'error: %s\n' "$*" >&2
  exit "$code"
}

# usage_error MESSAGE — bad arguments: exit 2.
usage_error() {
  printf 'error: bad arguments: %s\n' "$*" >&2
  exit 2
}

# resolve_cmd NAME — absolute path of NAME: the login user's PATH first, then the
# sbin folders (a non-root PATH on Debian lacks /usr/sbin, where nginx lives).
# Prints the path; returns 1 when not found.
resolve_cmd() {
  local path
  resolve_cmd_into path "$1" || return 1
  printf '%s\n' "$path"
}

# resolve_cmd_into VAR NAME — resolve_cmd's path into the variable VAR, without the subshell
# of $(resolve_cmd NAME) (run_sudo runs for every docker call).
resolve_cmd_into() {
  local __var=$1 __name=$2 __d IFS=:
  # shellcheck disable=SC2086  # PATH is split on ':' (IFS) on purpose
  for __d in $PATH /usr/local/sbin /usr/sbin /sbin /usr/local/bin /usr/bin /bin; do
    if [[ -n $__d && -f $__d/$__name && -x $__d/$__name ]]; then
      printf -v "$__var" '%s' "$__d/$__name"
      return 0
    fi
  done
  return 1
}

# run_sudo CMD ARGS... — sudo -n with the absolute path of CMD (sudo resets PATH and
# sudoers rules name absolute paths). stdin is /dev/null (see above).
run_sudo() {
  local name=$1 path
  shift
  resolve_cmd_into path "$name" ||
    die 127 "'$name' is not installed on this server (not on PATH nor in /usr/sbin, /sbin): install it"
  sudo -n -- "$path" "$@" </dev/null
}

# dc ARGS... — docker compose (v2 plugin) via sudo.
dc() {
  run_sudo docker compose "$@"
}

# wait_up PROJECT COMPOSE_FILE PORT WAIT WHEN FIX — asks http://127.0.0.1:PORT/up once a second
# until it answers 200 (and says after how long), for at most WAIT seconds; then prints the
# project's last 30 log lines and dies: "PROJECT did not answer 200 on URL within WAIT sWHEN
# (last answer: …); its logs are above: FIX".
wait_up() {
  local project=$1 file=$2 port=$3 wait=$4 when=$5 fix=$6
  local url="http://127.0.0.1:$port/up" start=$SECONDS last="none" rc code
  local deadline=$((start + wait))
  while :; do
    rc=0
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$url" </dev/null) || rc=$?
    if [[ $code == 200 ]]; then
      say "$url answers 200 after $((SECONDS - start)) s"
      return 0
    fi
    case $rc in
      0) last="HTTP $code" ;;
      7) last="connection refused" ;;
      28) last="no answer within 5 s" ;;
      *) last="no HTTP answer (curl exit $rc)" ;;
    esac
    if ((SECONDS >= deadline)); then
      say "last 30 log lines of $project:"
      dc -p "$project" -f "$file" logs --tail 30 2>&1 || true
      die "$project did not answer 200 on $url within $wait s$when (last answer: $last); its logs are above: $fix"
    fi
    sleep 1
  done
}

# require_dir DIR WHAT — die with a clear message when DIR is not a directory.
require_dir() {
  [[ -d $1 ]] || die "$2 $1 does not exist on this server: run check_host, create it (mode 775, owned by $(id -un))"
}

# valid_base_dir PATH — an absolute path of safe characters, no '..'; prints it
# without a trailing slash.
valid_base_dir() {
  local p=$1
  [[ $p =~ ^/[A-Za-z0-9._/-]*$ && $p != *..* ]] ||
    usage_error "BASE_DIR must be an absolute path of [A-Za-z0-9._/-] without '..' (got '$p')"
  p=${p%/}
  printf '%s\n' "${p:-/}"
}

# valid_subdomain NAME — a DNS label: lower-case letters, digits, inner hyphens, 1..63.
valid_subdomain() {
  [[ $1 =~ ^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]] ||
    usage_error "SUBDOMAIN must be a DNS label (a-z, 0-9, inner '-', at most 63 chars) (got '$1')"
}

# valid_image_repo NAME: exits 2 unless NAME is a docker repository name (alfa-lims,
# registry/alfa-lims), at most 200 characters.
valid_image_repo() {
  [[ $1 =~ ^[a-z0-9]+([._-][a-z0-9]+)*(/[a-z0-9]+([._-][a-z0-9]+)*)*$ && ${#1} -le 200 ]] ||
    usage_error "IMAGE_REPO must be a docker repository name like alfa-lims or registry/alfa-lims (got '$1')"
}

# json_str STRING — STRING as a JSON string literal (quotes included).
json_str() {
  local literal
  json_str_to literal "$1"
  printf '%s' "$literal"
}

# json_str_to VAR STRING — STRING as a JSON string literal, into the variable VAR: no
# subshell, for loops over many values (a $(json_str …) forks).
json_str_to() {
  local s=$2 out="" c i code
  s=${s//\\/\\\\}
  s=${s//\"/\\\"}
  s=${s//$'\n'/\\n}
  s=${s//$'\r'/\\r}
  s=${s//$'\t'/\\t}
  # any other control character
  if [[ $s == *[$'\x01'-$'\x1f']* ]]; then
    for ((i = 0; i < ${#s}; i++)); do
      c=${s:i:1}
      if [[ $c == [$'\x01'-$'\x1f'] ]]; then
        printf -v code '%d' "'$c"
        printf -v c '\\u%04x' "$code"
      fi
      out+=$c
    done
    s=$out
  fi
  printf -v "$1" '"%s"' "$s"
}

# valid_fqdn NAME — a lower-case DNS name of at least two labels, at most 253 characters.
valid_fqdn() {
  [[ ${#1} -le 253 && $1 =~ ^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$ ]] ||
    usage_error "FQDN must be a lower-case DNS name such as lab1.example.org (got '$1')"
}

# valid_port VALUE WHAT — a TCP port 1..65535.
valid_port() {
  if [[ ! $1 =~ ^[1-9][0-9]{0,4}$ ]] || (($1 > 65535)); then
    usage_error "$2 must be a TCP port 1..65535 (got '$1')"
  fi
}

# valid_ip VALUE WHAT — an IPv4 or IPv6 address (shape only).
valid_ip() {
  [[ $1 =~ ^[0-9]{1,3}(\.[0-9]{1,3}){3}$ || ($1 =~ ^[0-9A-Fa-f:.]+$ && $1 == *:*) ]] ||
    usage_error "$2 must be an IPv4 or IPv6 address (got '$1')"
}

# By file (a job run from a checkout, a test sourcing this file): the nginx and certbot helpers
# beside it. The runner sends jobs/lib_web.sh after this file itself.
if [[ -n ${BASH_SOURCE[0]:-} && -f ${BASH_SOURCE[0]%/*}/lib_web.sh ]]; then
  # shellcheck source=jobs/lib_web.sh
  source "${BASH_SOURCE[0]%/*}/lib_web.sh"
fi
