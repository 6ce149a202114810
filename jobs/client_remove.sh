#!/usr/bin/env bash
# client_remove.sh BASE_DIR SUBDOMAIN FQDN — idempotent teardown of a client on this server: its
# vhost (nginx -t + reload, under the nginx/certbot lock), its compose project alfa_SUBDOMAIN
# (down), certbot's certificate named FQDN (delete, under the lock), and its folder
# BASE_DIR/docker/clients/SUBDOMAIN. Each part says what it did or that there was nothing to do.
# The vhost goes first: it names the certificate, and nginx -t fails once that is deleted.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -eq 3 ]] || usage_error "usage: client_remove.sh BASE_DIR SUBDOMAIN FQDN (got $# arguments)"
BASE=$(valid_base_dir "$1")
SUB=$2
FQDN=$3
valid_subdomain "$SUB"
valid_fqdn "$FQDN"
PROJECT="alfa_$SUB"
CLIENT_DIR=$BASE/docker/clients/$SUB
COMPOSE_FILE=$CLIENT_DIR/docker-compose.yml

step vhost
vhost_remove "$BASE" "$SUB"
nginx_unlock

step container
projects=$(dc ls --all --quiet) || die "docker compose ls failed (above): is docker running?"
if grep -qx -- "$PROJECT" <<<"$projects"; then
  if [[ -f $COMPOSE_FILE ]]; then
    dc -p "$PROJECT" -f "$COMPOSE_FILE" down --remove-orphans ||
      die "docker compose down of $PROJECT failed (above): see 'sudo docker compose -p $PROJECT ps -a', then rerun"
  else
    dc -p "$PROJECT" down --remove-orphans ||
      die "docker compose down of $PROJECT failed (above): see 'sudo docker compose -p $PROJECT ps -a', then rerun"
  fi
  say "compose project $PROJECT removed"
else
  say "no compose project $PROJECT: nothing to stop"
fi

step certificate
certbot_lock "$BASE"
if certbot_cert_info "$FQDN"; then
  out=$(certbot_run delete --cert-name "$FQDN" --non-interactive) || {
    printf '%s\n' "$out" >&2
    die "certbot delete --cert-name $FQDN failed (above): rerun; certbot's log is /var/log/letsencrypt/letsencrypt.log"
  }
  say "certificate $FQDN (serial $CERT_SERIAL) deleted from certbot"
else
  say "certbot holds no certificate $FQDN: nothing to delete"
fi

step files
if [[ -e $CLIENT_DIR ]]; then
  if ! rm -rf -- "$CLIENT_DIR" 2>/dev/null; then
    left=$(find "$CLIENT_DIR" -maxdepth 3 ! -user "$(id -un)" 2>/dev/null | head -n 5 | tr '\n' ' ')
    die "cannot remove all of $CLIENT_DIR as $(id -un) (files owned by others, e.g.: ${left:-?}): remove it with 'sudo rm -rf $CLIENT_DIR', then rerun"
  fi
  say "folder $CLIENT_DIR removed"
else
  say "no folder $CLIENT_DIR: nothing to remove"
fi
