#!/usr/bin/env bash
# client_reboot.sh BASE_DIR SUBDOMAIN — restart the client's compose project
# alfa_SUBDOMAIN (file BASE_DIR/docker/clients/SUBDOMAIN/docker-compose.yml)
# and show its containers.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -eq 2 ]] || usage_error "usage: client_reboot.sh BASE_DIR SUBDOMAIN (got $# arguments)"
BASE=$(valid_base_dir "$1")
SUB=$2
valid_subdomain "$SUB"
PROJECT="alfa_$SUB"
COMPOSE_FILE="$BASE/docker/clients/$SUB/docker-compose.yml"

[[ -f $COMPOSE_FILE ]] ||
  die "client $SUB has no compose file at $COMPOSE_FILE: was it created? (re-create the client or run deploy for its server)"

step restart
say "restarting $PROJECT"
dc -p "$PROJECT" -f "$COMPOSE_FILE" restart ||
  die "docker compose restart of $PROJECT failed (see above): check the container with 'sudo docker compose -p $PROJECT -f $COMPOSE_FILE logs'"

step status
dc -p "$PROJECT" -f "$COMPOSE_FILE" ps -a ||
  die "docker compose ps of $PROJECT failed (see above)"
running=$(dc -p "$PROJECT" -f "$COMPOSE_FILE" ps --status running --services) ||
  die "docker compose ps of $PROJECT failed (see above)"
[[ -n $running ]] ||
  die "no container of $PROJECT is running after the restart: the client was never started or its container exits; run deploy for its server, then look at 'sudo docker compose -p $PROJECT -f $COMPOSE_FILE logs'"
say "running: ${running//$'\n'/ }"
