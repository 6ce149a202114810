#!/usr/bin/env bash
# probe_clients.sh BASE_DIR HTTPS_PORT ADDR PARALLEL TIMEOUT [SUBDOMAIN FQDN]... — the probe
# loop's one command per server and pass: for each client, https://FQDN:HTTPS_PORT/up through
# nginx (connected to ADDR with curl --resolve, certificate not checked: a reachability probe),
# at most PARALLEL at once, each given TIMEOUT seconds; whether its maintenance page is on
# (BASE_DIR/docker/clients/SUBDOMAIN/maintenance.on exists); and the image and state of its
# compose project's app container (one `docker ps -a` for all). Prints one line per client:
# ::client {"subdomain":…,"status":200,"why":"HTTP 200","maintenance":false,
#           "image":"alfa-lims:1.3-master","state":"running"}
# (status 0: no HTTP answer, why says what happened; image and state "" when it has no
# container). A docker that cannot be asked is one stderr line, not a failure: every client
# still gets its line, with "docker":false.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

(($# >= 5 && $# % 2 == 1)) ||
  usage_error "usage: probe_clients.sh BASE_DIR HTTPS_PORT ADDR PARALLEL TIMEOUT [SUBDOMAIN FQDN]... (got $# arguments)"
BASE=$(valid_base_dir "$1")
PORT=$2
ADDR=$3
PARALLEL=$4
TIMEOUT=$5
shift 5
valid_port "$PORT" HTTPS_PORT
valid_ip "$ADDR" ADDR
[[ $PARALLEL =~ ^[1-9][0-9]?$ ]] || usage_error "PARALLEL must be 1..99 (got '$PARALLEL')"
[[ $TIMEOUT =~ ^[1-9][0-9]?$ ]] || usage_error "TIMEOUT must be 1..99 seconds (got '$TIMEOUT')"
SUBS=()
FQDNS=()
while (($#)); do
  valid_subdomain "$1"
  valid_fqdn "$2"
  SUBS+=("$1")
  FQDNS+=("$2")
  shift 2
done
resolve_cmd curl >/dev/null || die "curl is not installed on this server: sudo apt-get install curl"

WORK=$(mktemp -d) || die "cannot create a temporary folder (is /tmp writable?)"
trap 'rm -rf -- "$WORK"' EXIT

# One curl for every client (--parallel, at most PARALLEL transfers at once), in the background
# while docker is asked: a process per client would cost more than the probes themselves. Each
# transfer writes "EXITCODE<TAB>HTTP_CODE<TAB>URL" to $WORK/curl.out.
args=(-s -k --parallel --parallel-max "$PARALLEL" --max-time "$TIMEOUT"
  -w '%{exitcode}\t%{http_code}\t%{url_effective}\n')
for i in "${!SUBS[@]}"; do
  fqdn=${FQDNS[$i]}
  args+=(--resolve "$fqdn:$PORT:$ADDR" -o /dev/null "https://$fqdn:$PORT/up")
done
curl_pid=""
if ((${#SUBS[@]})); then
  curl "${args[@]}" </dev/null >"$WORK/curl.out" 2>/dev/null &
  curl_pid=$!
fi

# project → "image<TAB>state" of its service "app", from the compose labels.
declare -A IMAGE=() STATE=()
docker_ok=true
if ps_out=$(run_sudo docker ps -a --no-trunc --format '{{.Labels}}\t{{.Image}}\t{{.State}}' 2>"$WORK/docker.err"); then
  while IFS=$'\t' read -r labels image state; do
    # the labels are "key=value,key=value,…"; parameter expansion, not a read per container
    project="" service=""
    labels=",$labels,"
    if [[ $labels == *,com.docker.compose.project=* ]]; then
      project=${labels#*,com.docker.compose.project=}
      project=${project%%,*}
    fi
    if [[ $labels == *,com.docker.compose.service=* ]]; then
      service=${labels#*,com.docker.compose.service=}
      service=${service%%,*}
    fi
    if [[ -n $project && $service == app ]]; then
      IMAGE[$project]=$image
      STATE[$project]=$state
    fi
  done <<<"$ps_out"
else
  docker_ok=false
  printf 'error: docker ps failed, container images unknown: %s (is docker allowed by sudo? run check_host)\n' \
    "$(tail -n 1 -- "$WORK/docker.err")" >&2
fi
[[ -z $curl_pid ]] || wait "$curl_pid" || true

# fqdn → HTTP status (0: none) and why
declare -A STATUS=() WHY=()
if [[ -f $WORK/curl.out ]]; then
  while IFS=$'\t' read -r rc code url; do
    fqdn=${url#https://}
    fqdn=${fqdn%%[:/]*}
    if [[ $rc == 0 && $code =~ ^[0-9]{3}$ && $code != 000 ]]; then
      STATUS[$fqdn]=$((10#$code))
      WHY[$fqdn]="HTTP $((10#$code))"
    else
      case $rc in
        6 | 7) why="connection refused on $ADDR:$PORT" ;;
        28) why="no answer within $TIMEOUT s" ;;
        35) why="TLS handshake failed" ;;
        52) why="empty reply" ;;
        *) why="no HTTP answer (curl exit $rc)" ;;
      esac
      STATUS[$fqdn]=0
      WHY[$fqdn]=$why
    fi
  done <"$WORK/curl.out"
fi

# One line per client, built without a subshell (a $(…) per value forked 4 times a client).
j_sub="" j_why="" j_image="" j_state=""
for i in "${!SUBS[@]}"; do
  sub=${SUBS[$i]}
  fqdn=${FQDNS[$i]}
  status=${STATUS[$fqdn]:-0}
  why=${WHY[$fqdn]:-the probe did not run}
  maintenance=false
  [[ ! -e $BASE/docker/clients/$sub/maintenance.on ]] || maintenance=true
  project="alfa_$sub"
  json_str_to j_sub "$sub"
  json_str_to j_why "$why"
  json_str_to j_image "${IMAGE[$project]:-}"
  json_str_to j_state "${STATE[$project]:-}"
  printf '::client {"subdomain":%s,"status":%s,"why":%s,"maintenance":%s,"docker":%s,"image":%s,"state":%s}\n' \
    "$j_sub" "$status" "$j_why" "$maintenance" "$docker_ok" "$j_image" "$j_state"
done
