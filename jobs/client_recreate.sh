#!/usr/bin/env bash
# client_recreate.sh BASE_DIR SUBDOMAIN PORT WAIT_SECONDS — recreates the container of the client's
# compose project alfa_SUBDOMAIN (BASE_DIR/docker/clients/SUBDOMAIN/docker-compose.yml) so that it
# takes its rewritten .env and php/add_vars.ini (a restart would keep the environment the container
# was created with), then waits at most WAIT_SECONDS for http://127.0.0.1:PORT/up to answer 200.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -eq 4 ]] || usage_error "usage: client_recreate.sh BASE_DIR SUBDOMAIN PORT WAIT_SECONDS (got $# arguments)"
BASE=$(valid_base_dir "$1")
SUB=$2
PORT=$3
WAIT=$4
valid_subdomain "$SUB"
valid_port "$PORT" PORT
[[ $WAIT =~ ^[0-9]{1,4}$ ]] || usage_error "WAIT_SECONDS must be a number of seconds 0..9999 (got '$WAIT')"
PROJECT="alfa_$SUB"
COMPOSE_FILE="$BASE/docker/clients/$SUB/docker-compose.yml"

[[ -f $COMPOSE_FILE ]] ||
  die "client $SUB has no compose file at $COMPOSE_FILE: was it created? (re-create the client)"
resolve_cmd curl >/dev/null || die "curl is not installed on this server: sudo apt-get install curl"

step recreate
say "recreating $PROJECT with its current .env and php/add_vars.ini"
dc -p "$PROJECT" -f "$COMPOSE_FILE" up -d --force-recreate ||
  die "docker compose up --force-recreate of $PROJECT failed (above): check 'sudo docker compose -p $PROJECT -f $COMPOSE_FILE logs', then rerun"

step ready
wait_up "$PROJECT" "$COMPOSE_FILE" "$PORT" "$WAIT" " after its recreation" "fix the cause (the new .env or add_vars.ini?), then rerun"
