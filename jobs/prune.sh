#!/usr/bin/env bash
# prune.sh BASE_DIR IMAGE_REPO KEEP apply|dry-run [VERSION]... — removes the images of
# IMAGE_REPO that nothing on this server uses, keeping the KEEP newest unused ones, then the
# dangling images and the build cache. Never `-a`, never `--volumes`, never `system prune`
# (which also removes stopped containers: a stopped client could not start again).
#
# An image (an id, with all its tags) is in use when one of its tags is a VERSION (what Alfa
# Cloud's records name for the clients on this machine), or a container of any state runs or
# ran it (`docker ps -a`), or a compose file under BASE_DIR/docker/clients/*/ names it (a
# client Alfa Cloud does not know, a half-done switch).
# Prints one line per image of IMAGE_REPO, newest first, then what was removed:
#   ::image {"tag":"1.0-master","tags":["1.0-master"],"id":"4f1d2e3a5b6c","created":"…","size":"512MB","action":"keep|remove","why":"…"}
#   ::removed {"tag":"1.0-master","id":"4f1d2e3a5b6c","size":"512MB","deleted":true}
#   ::reclaimed {"what":"dangling_images|build_cache","space":"1.2GB","items":N}
#   ::dangling {"id":"…","size":"…"}   (dry-run only: what `docker image prune` would remove)
# dry-run changes nothing.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

(($# >= 4)) || usage_error "usage: prune.sh BASE_DIR IMAGE_REPO KEEP apply|dry-run [VERSION]... (got $# arguments)"
BASE=$(valid_base_dir "$1")
REPO=$2
KEEP=$3
MODE=$4
shift 4
valid_image_repo "$REPO"
[[ $KEEP =~ ^[0-9]{1,4}$ ]] || usage_error "KEEP must be a whole number (got '$KEEP')"
[[ $MODE == apply || $MODE == dry-run ]] || usage_error "MODE must be apply or dry-run (got '$MODE')"
for v in "$@"; do
  [[ $v =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$ ]] || usage_error "VERSION must be a docker tag (got '$v')"
done

# JSON string literals, set by json_str_to
j="" j_tag="" j_created="" j_size="" j_why="" j_space=""

# --- the images of REPO: id → tags, created (epoch and as docker says it), size -------------
step images
declare -A TAGS=() CREATED=() CREATED_AT=() SIZE=() WHY=()
fmt=$'{{.Tag}}\t{{.ID}}\t{{.CreatedAt}}\t{{.Size}}'
out=$(run_sudo docker images --no-trunc --format "$fmt" "$REPO" 2>&1) || {
  printf '%s\n' "$out" >&2
  die "docker images $REPO failed: is docker running? (sudo -n docker version); nothing was removed"
}
while IFS=$'\t' read -r tag id created size; do
  [[ -n $id && $tag != '<none>' ]] || continue
  id=${id#sha256:}
  if [[ -n ${TAGS[$id]:-} ]]; then
    TAGS[$id]+=" $tag"
    continue
  fi
  TAGS[$id]=$tag
  SIZE[$id]=$size
  CREATED_AT[$id]=$created
  # "2026-11-17 09:03:01 +0000 UTC": the zone's name is not for date(1)
  CREATED[$id]=$(date -u -d "${created% [A-Z]*}" +%s 2>/dev/null || echo 0)
done <<<"$out"
say "${#TAGS[@]} image(s) of $REPO"

# in_use ID REASON — marks an image as in use; its first 3 reasons are said, then a count
declare -A WHYN=()
in_use() {
  local id=$1 why=$2
  [[ "; ${WHY[$id]:-}; " != *"; $why; "* ]] || return 0
  WHYN[$id]=$((${WHYN[$id]:-0} + 1))
  if ((WHYN[$id] <= 3)); then WHY[$id]+=${WHY[$id]:+; }$why; fi
  return 0
}

# tag_id TAG — the id of REPO:TAG, or nothing
tag_id() {
  local id t
  for id in "${!TAGS[@]}"; do
    for t in ${TAGS[$id]}; do [[ $t == "$1" ]] && { printf '%s' "$id"; return 0; }; done
  done
  return 0
}

# ref_id REF — the id of an image reference when it names an image of REPO
# (REPO, REPO:TAG, docker.io/library/REPO:TAG, sha256:ID or a short ID), or nothing
ref_id() {
  local ref=$1 id
  ref=${ref#docker.io/}
  ref=${ref#library/}
  if [[ $ref == "$REPO" ]]; then tag_id latest; return 0; fi
  if [[ $ref == "$REPO:"* ]]; then tag_id "${ref#"$REPO:"}"; return 0; fi
  ref=${ref#sha256:}
  if [[ $ref =~ ^[0-9a-f]{12,64}$ ]]; then
    for id in "${!TAGS[@]}"; do [[ $id == "$ref"* ]] && { printf '%s' "$id"; return 0; }; done
  fi
  return 0
}

# --- what uses them ---------------------------------------------------------------------
step references
for v in "$@"; do
  id=$(tag_id "$v")
  [[ -z $id ]] || in_use "$id" "client records name $REPO:$v"
done

out=$(run_sudo docker ps -a --no-trunc --format $'{{.Image}}\t{{.Names}}\t{{.State}}' 2>&1) || {
  printf '%s\n' "$out" >&2
  die "docker ps -a failed: is docker running? (sudo -n docker version); nothing was removed"
}
containers=0
while IFS=$'\t' read -r image name state; do
  [[ -n $image ]] || continue
  containers=$((containers + 1))
  id=$(ref_id "$image")
  [[ -z $id ]] || in_use "$id" "container $name ($state)"
done <<<"$out"
say "$containers container(s) on this server (running or not)"

# image_lines FILE — the values of the `image:` keys of a compose file
image_lines() {
  local line re='^[[:space:]]*image:[[:space:]]*["'"'"']?([^"'"'"'[:space:]#]+)'
  while IFS= read -r line || [[ -n $line ]]; do
    [[ ! $line =~ $re ]] || printf '%s\n' "${BASH_REMATCH[1]}"
  done <"$1"
  return 0
}

files=0
shopt -s nullglob dotglob
for f in "$BASE"/docker/clients/*/{docker-compose,compose}.{yml,yaml}; do
  [[ -r $f ]] || die "cannot read the compose file $f (as $(id -un)): it may name an image in use; make it readable, then prune again; nothing was removed"
  files=$((files + 1))
  images=$(image_lines "$f")
  if [[ $images == *'$'* ]]; then
    # a value docker compose interpolates: let it say which image it means
    images=$(dc -f "$f" config --images 2>&1) ||
      die "cannot tell which image $f names ($images): fix the file or move it out of $BASE/docker/clients, then prune again; nothing was removed"
  fi
  while IFS= read -r image; do
    [[ -n $image ]] || continue
    id=$(ref_id "$image")
    [[ -z $id ]] || in_use "$id" "compose file $f"
  done <<<"$images"
done
shopt -u nullglob dotglob
say "$files compose file(s) under $BASE/docker/clients"

# --- the plan: newest first; in use → keep; the KEEP newest unused → keep; the rest → remove -
step plan
ORDER=()
while IFS=$'\t' read -r _ id; do [[ -z $id ]] || ORDER+=("$id"); done < <(
  for id in "${!TAGS[@]}"; do printf '%s\t%s\n' "${CREATED[$id]}" "$id"; done | sort -t $'\t' -k1,1nr -k2,2
)
REMOVE=()
unused=0
for id in "${ORDER[@]}"; do
  if [[ -n ${WHY[$id]:-} ]]; then
    action=keep why="in use: ${WHY[$id]}"
    ((WHYN[$id] <= 3)) || why+="; and $((WHYN[$id] - 3)) more"
  elif ((unused < KEEP)); then
    unused=$((unused + 1))
    action=keep why="unused, one of the $KEEP newest unused kept (ALFA_KEEP_IMAGES)"
  else
    action=remove why="unused, older than the $KEEP newest unused"
    REMOVE+=("$id")
  fi
  tags_json="" first=""
  for t in ${TAGS[$id]}; do
    json_str_to j "$t"
    tags_json+=${tags_json:+,}$j
    [[ -n $first ]] || first=$t
  done
  json_str_to j_tag "$first"
  json_str_to j_created "${CREATED_AT[$id]}"
  json_str_to j_size "${SIZE[$id]}"
  json_str_to j_why "$why"
  printf '::image {"tag":%s,"tags":[%s],"id":"%s","created":%s,"size":%s,"action":"%s","why":%s}\n' \
    "$j_tag" "$tags_json" "${id:0:12}" "$j_created" "$j_size" "$action" "$j_why"
done
say "${#REMOVE[@]} image(s) of $REPO to remove, $((${#ORDER[@]} - ${#REMOVE[@]})) kept"

if [[ $MODE == dry-run ]]; then
  out=$(run_sudo docker images --filter dangling=true --no-trunc --format $'{{.ID}}\t{{.Size}}' 2>&1) || {
    printf '%s\n' "$out" >&2
    die "docker images --filter dangling=true failed (above)"
  }
  while IFS=$'\t' read -r id size; do
    [[ -n $id ]] || continue
    id=${id#sha256:}
    json_str_to j_size "$size"
    printf '::dangling {"id":"%s","size":%s}\n' "${id:0:12}" "$j_size"
  done <<<"$out"
  say "dry run: nothing removed (a prune would then run 'docker image prune --force' and 'docker builder prune --force')"
  exit 0
fi

# --- remove -----------------------------------------------------------------------------
step remove
FAILED=()
for id in "${REMOVE[@]}"; do
  for t in ${TAGS[$id]}; do
    # never -f: docker itself refuses an image a container (even a stopped one) uses
    rc=0
    out=$(run_sudo docker rmi "$REPO:$t" 2>&1) || rc=$?
    printf '%s\n' "$out"
    if ((rc == 0)); then
      deleted=false
      [[ $out == *"Deleted:"* ]] && deleted=true
      json_str_to j_tag "$t"
      json_str_to j_size "${SIZE[$id]}"
      printf '::removed {"tag":%s,"id":"%s","size":%s,"deleted":%s}\n' "$j_tag" "${id:0:12}" "$j_size" "$deleted"
    elif [[ $out == *"No such image"* ]]; then
      say "$REPO:$t is already gone"
    elif [[ $out == *"conflict"* || $out == *"is using"* || $out == *"being used"* ]]; then
      say "kept $REPO:$t: docker says a container uses it"
    else
      FAILED+=("$REPO:$t (${out##*$'\n'})")
    fi
  done
done

# reclaimed WHAT OUTPUT — the space docker says it reclaimed ("Total reclaimed space: X"
# after an image prune, "Total: X" after a builder prune) and how many items it removed
# (`deleted:` lines of an image prune, the rows of the builder prune's table)
reclaimed() {
  local what=$1 text=$2 line space=0B items=0 table=0
  while IFS= read -r line; do
    case $line in
      "Total reclaimed space: "*) space=${line#Total reclaimed space: } ;;
      Total:*) space=${line#Total:} space=${space//[[:space:]]/} table=0 ;;
      deleted:*) items=$((items + 1)) ;;
      ID*RECLAIMABLE*) table=1 ;;
      *[![:space:]]*) ((table == 0)) || items=$((items + 1)) ;;
    esac
  done <<<"$text"
  json_str_to j_space "$space"
  printf '::reclaimed {"what":"%s","space":%s,"items":%d}\n' "$what" "$j_space" "$items"
}

step dangling
# dangling images only (no -a: a tagged image nothing runs is the plan's business above)
rc=0
out=$(run_sudo docker image prune --force 2>&1) || rc=$?
printf '%s\n' "$out"
if ((rc == 0)); then reclaimed dangling_images "$out"; else FAILED+=("docker image prune --force (${out##*$'\n'})"); fi

step build_cache
# the build cache no image refers to (no -a: the cache of the images kept stays)
rc=0
out=$(run_sudo docker builder prune --force 2>&1) || rc=$?
printf '%s\n' "$out"
if ((rc == 0)); then
  reclaimed build_cache "$out"
elif [[ $out == *"is not a docker command"* || $out == *"unknown command"* ]]; then
  # docker before 18.09 keeps no build cache of its own
  say "this docker has no 'builder prune' (no build cache of its own): skipped"
  printf '::reclaimed {"what":"build_cache","space":"0B","items":0,"note":"docker has no builder prune: skipped"}\n'
else
  FAILED+=("docker builder prune --force (${out##*$'\n'})")
fi

if ((${#FAILED[@]})); then
  die "not everything could be removed: $(printf '%s; ' "${FAILED[@]}")see the lines above, fix the cause and prune again (what was removed stays removed)"
fi
say "prune done"
