#!/usr/bin/env bash
# container_up.sh BASE_DIR SUBDOMAIN PORT WAIT_SECONDS [MIGRATE] — starts the client's compose
# project alfa_SUBDOMAIN (BASE_DIR/docker/clients/SUBDOMAIN/docker-compose.yml), waits at most
# WAIT_SECONDS for http://127.0.0.1:PORT/up to answer 200, prints the image each running service
# runs (`::running {"service":…,"image":…}`), then runs `php artisan migrate --force` in it —
# unless MIGRATE is `no-migrate` (a switch migrates as a step of its own; default `migrate`).
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -eq 4 || $# -eq 5 ]] || usage_error "usage: container_up.sh BASE_DIR SUBDOMAIN PORT WAIT_SECONDS [MIGRATE] (got $# arguments)"
BASE=$(valid_base_dir "$1")
SUB=$2
PORT=$3
WAIT=$4
MIGRATE=${5:-migrate}
[[ $MIGRATE == migrate || $MIGRATE == no-migrate ]] || usage_error "MIGRATE must be migrate or no-migrate (got '$MIGRATE')"
valid_subdomain "$SUB"
valid_port "$PORT" PORT
[[ $WAIT =~ ^[0-9]{1,4}$ ]] || usage_error "WAIT_SECONDS must be a number of seconds 0..9999 (got '$WAIT')"
PROJECT="alfa_$SUB"
COMPOSE_FILE="$BASE/docker/clients/$SUB/docker-compose.yml"

[[ -f $COMPOSE_FILE ]] ||
  die "client $SUB has no compose file at $COMPOSE_FILE: upload its files first (the client's creation does), then rerun"
resolve_cmd curl >/dev/null || die "curl is not installed on this server: sudo apt-get install curl"

step up
say "starting $PROJECT"
dc -p "$PROJECT" -f "$COMPOSE_FILE" up -d ||
  die "docker compose up of $PROJECT failed (above): check the image and the port $PORT ('sudo docker compose -p $PROJECT -f $COMPOSE_FILE logs')"

step ready
wait_up "$PROJECT" "$COMPOSE_FILE" "$PORT" "$WAIT" "" "fix the container, then rerun"

# shellcheck disable=SC2016  # {{...}} is a docker template, not a shell expansion
running=$(dc -p "$PROJECT" -f "$COMPOSE_FILE" ps --status running --format '{{.Service}} {{.Image}}') ||
  die "docker compose ps of $PROJECT failed (above): is docker running?"
while read -r service image; do
  [[ -n $service ]] || continue
  printf '::running {"service":%s,"image":%s}\n' "$(json_str "$service")" "$(json_str "$image")"
done <<<"$running"

if [[ $MIGRATE == no-migrate ]]; then
  say "migrations not run here (no-migrate)"
  exit 0
fi
step migrate
say "php artisan migrate --force in $PROJECT"
dc -p "$PROJECT" -f "$COMPOSE_FILE" exec -T app php artisan migrate --force ||
  die "php artisan migrate failed in $PROJECT (above): check DB_* in $BASE/docker/clients/$SUB/.env and that the database is reachable from the container, then rerun"
