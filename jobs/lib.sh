#!/usr/bin/env bash
# jobs/lib.sh — shared helpers for the job scripts Alfa Cloud runs on a server.
#
# The runner sends this file followed by one job script as ONE stdin stream to
# `bash -s -- ARGS`, so everything here is defined before the job's own text runs.
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
  local name=$1 p d
  if p=$(type -P -- "$name"); then
    printf '%s\n' "$p"
    return 0
  fi
  for d in /usr/local/sbin /usr/sbin /sbin /usr/local/bin /usr/bin /bin; do
    if [[ -x $d/$name ]]; then
      printf '%s\n' "$d/$name"
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
  path=$(resolve_cmd "$name") ||
    die 127 "'$name' is not installed on this server (not on PATH nor in /usr/sbin, /sbin): install it"
  sudo -n -- "$path" "$@" </dev/null
}

# dc ARGS... — docker compose (v2 plugin) via sudo.
dc() {
  run_sudo docker compose "$@"
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

# json_str STRING — STRING as a JSON string literal (quotes included).
json_str() {
  local s=$1 out="" c i code
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
  printf '"%s"' "$s"
}
