#!/usr/bin/env bash
# client_artisan.sh BASE_DIR SUBDOMAIN COMMAND [OPTION...] — runs `php artisan COMMAND OPTION...` in
# the running `app` service of the client's compose project alfa_SUBDOMAIN, its output streamed.
# COMMAND is one of migrate, db:seed, migrate:status; options are --flag or --name=value of safe
# characters.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -ge 3 ]] || usage_error "usage: client_artisan.sh BASE_DIR SUBDOMAIN COMMAND [OPTION...] (got $# arguments)"
BASE=$(valid_base_dir "$1")
SUB=$2
COMMAND=$3
shift 3
valid_subdomain "$SUB"
case $COMMAND in
  migrate | db:seed | migrate:status) ;;
  *) usage_error "COMMAND must be migrate, db:seed or migrate:status (got '$COMMAND')" ;;
esac
for option in "$@"; do
  [[ $option =~ ^--[a-z][a-z-]{0,30}(=[A-Za-z0-9_\\:.-]{1,128})?$ ]] ||
    usage_error "an OPTION must be --name or --name=value of [A-Za-z0-9_\\:.-] (got '$option')"
done
PROJECT="alfa_$SUB"
COMPOSE_FILE="$BASE/docker/clients/$SUB/docker-compose.yml"

[[ -f $COMPOSE_FILE ]] ||
  die "client $SUB has no compose file at $COMPOSE_FILE: was it created? (re-create the client or run deploy for its server)"

step artisan
# exec first: a stopped app fails it without changing anything, and only then is `ps` asked
# why (one docker call per command instead of two: a fan-out runs this for every client).
say "php artisan $COMMAND $* in $PROJECT"
if dc -p "$PROJECT" -f "$COMPOSE_FILE" exec -T app php artisan "$COMMAND" "$@"; then
  say "php artisan $COMMAND done in $PROJECT"
  exit 0
fi
running=$(dc -p "$PROJECT" -f "$COMPOSE_FILE" ps --status running --services 2>/dev/null) || running=
grep -qx app <<<"$running" ||
  die "the app service of $PROJECT is not running, so artisan cannot run in it: start it (GET /clients/<id>/reboot), then rerun"
die "php artisan $COMMAND failed in $PROJECT (its output is above): fix the cause in the lab's database or code, then rerun"
