#!/usr/bin/env bash
# client_preflight.sh BASE_DIR SUBDOMAIN IMAGE_REPO VERSION — before a client is created: the
# subdomain is not in use on this server (no client folder, no compose project) and the image
# REPO:VERSION is present. Changes nothing.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -eq 4 ]] || usage_error "usage: client_preflight.sh BASE_DIR SUBDOMAIN IMAGE_REPO VERSION (got $# arguments)"
BASE=$(valid_base_dir "$1")
SUB=$2
REPO=$3
VERSION=$4
valid_subdomain "$SUB"
[[ $REPO =~ ^[a-z0-9][a-z0-9._/-]{0,127}$ ]] || usage_error "IMAGE_REPO must be a docker repository name (got '$REPO')"
[[ $VERSION =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ ]] || usage_error "VERSION must be an image tag (got '$VERSION')"
PROJECT="alfa_$SUB"

step subdomain
require_dir "$BASE/docker/clients" "the clients folder"
if [[ -e $BASE/docker/clients/$SUB ]]; then
  die "subdomain $SUB is already in use on this server: $BASE/docker/clients/$SUB exists (delete that client first, or pick another subdomain)"
fi
projects=$(dc ls --all --quiet) || die "docker compose ls failed (see above): is docker running?"
if grep -qx -- "$PROJECT" <<<"$projects"; then
  die "subdomain $SUB is already in use on this server: compose project $PROJECT exists (stop it with 'sudo docker compose -p $PROJECT down')"
fi
say "subdomain $SUB is free"

step image
if ! run_sudo docker image inspect "$REPO:$VERSION" >/dev/null 2>&1; then
  available=$(run_sudo docker images --format '{{.Tag}}' "$REPO" | tr '\n' ' ')
  die "image $REPO:$VERSION is not on this server; build it first or choose one of: ${available:-none}"
fi
say "image $REPO:$VERSION is present"
