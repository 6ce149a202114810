#!/usr/bin/env bash
# client_preflight.sh BASE_DIR SUBDOMAIN IMAGE_REPO VERSION CLIENT_ID — before a client is
# created: the subdomain is not in use on this server by anyone else (no client folder, no
# compose project — a folder marked as CLIENT_ID's own, half made by an earlier attempt, is
# not "in use") and the image REPO:VERSION is present. Changes nothing.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -eq 5 ]] || usage_error "usage: client_preflight.sh BASE_DIR SUBDOMAIN IMAGE_REPO VERSION CLIENT_ID (got $# arguments)"
BASE=$(valid_base_dir "$1")
SUB=$2
REPO=$3
VERSION=$4
CLIENT_ID=$5
[[ $CLIENT_ID =~ ^[0-9]+$ ]] || usage_error "CLIENT_ID must be a number (got '$CLIENT_ID')"
valid_subdomain "$SUB"
[[ $REPO =~ ^[a-z0-9][a-z0-9._/-]{0,127}$ ]] || usage_error "IMAGE_REPO must be a docker repository name (got '$REPO')"
[[ $VERSION =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ ]] || usage_error "VERSION must be an image tag (got '$VERSION')"
PROJECT="alfa_$SUB"

step subdomain
require_dir "$BASE/docker/clients" "the clients folder"
DIR=$BASE/docker/clients/$SUB
owner=$(cat "$DIR/.alfa-client" 2>/dev/null || true)
if [[ -e $DIR && $owner == "$CLIENT_ID" ]]; then
  say "subdomain $SUB: $DIR is this client's own (client $CLIENT_ID, from an earlier attempt)"
else
  if [[ -e $DIR ]]; then
    die "subdomain $SUB is already in use on this server: $DIR exists${owner:+ (client $owner)} (delete that client first, or pick another subdomain)"
  fi
  projects=$(dc ls --all --quiet) || die "docker compose ls failed (see above): is docker running?"
  if grep -qx -- "$PROJECT" <<<"$projects"; then
    die "subdomain $SUB is already in use on this server: compose project $PROJECT exists (stop it with 'sudo docker compose -p $PROJECT down')"
  fi
  say "subdomain $SUB is free"
fi

step image
if ! run_sudo docker image inspect "$REPO:$VERSION" >/dev/null 2>&1; then
  available=$(run_sudo docker images --format '{{.Tag}}' "$REPO" | tr '\n' ' ')
  die "image $REPO:$VERSION is not on this server; build it first or choose one of: ${available:-none}"
fi
say "image $REPO:$VERSION is present"
