#!/usr/bin/env bash
# build.sh BASE_DIR BRANCH IMAGE_REPO VERSION IF_EXISTS — builds the LIMS image
# IMAGE_REPO:VERSION from branch BRANCH (dev or master) of the server's clone BASE_DIR/git:
#   git     fetch origin, check out BRANCH at origin/BRANCH (BASE_DIR/git is the server's clone,
#           made when the server was set up; it is left on BRANCH)
#   www     the branch's files into BASE_DIR/www (rsync --delete; vendor/, node_modules/ and .env
#           there are kept, so composer and npm start warm)
#   composer  composer install --no-dev --no-interaction --optimize-autoloader (when composer.json)
#   frontend  npm ci (npm install without a lock file) && npm run build (when package.json),
#           with ~/.nvm/nvm.sh sourced when present
#   docker  BASE_DIR/www into BASE_DIR/docker without .git, node_modules/ and .env, never touching
#           BASE_DIR/docker/clients (the labs' files)
#   image   sudo docker build -t IMAGE_REPO:VERSION BASE_DIR/docker, then
#           ::built {"image":…,"version":…,"branch":…,"built":true,"commit":…,"id":…}
# One build at a time per server: BASE_DIR/nginx/.alfa-build.lock is held throughout (a build
# an earlier attempt left running is waited for). A tag is never built twice: when
# IMAGE_REPO:VERSION exists already, IF_EXISTS `fail` exits 3 and `keep` prints ::built with
# "built":false, both before changing anything. Every tool's output is streamed; a failure names
# the step, the tool's last line and what to do.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -eq 5 ]] || usage_error "usage: build.sh BASE_DIR BRANCH IMAGE_REPO VERSION IF_EXISTS (got $# arguments)"
BASE=$(valid_base_dir "$1")
BRANCH=$2
REPO=$3
VERSION=$4
IF_EXISTS=$5
[[ $BRANCH == dev || $BRANCH == master ]] || usage_error "BRANCH must be dev or master (got '$BRANCH')"
valid_image_repo "$REPO"
[[ $VERSION =~ ^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$ ]] ||
  usage_error "VERSION must be a docker tag like 1.3.2-$BRANCH (got '$VERSION')"
[[ $IF_EXISTS == fail || $IF_EXISTS == keep ]] || usage_error "IF_EXISTS must be fail or keep (got '$IF_EXISTS')"
IMAGE=$REPO:$VERSION
GIT_DIR_=$BASE/git
WWW=$BASE/www
DOCKER=$BASE/docker

# Nobody answers a prompt here: git fails at once instead of asking for a password.
export GIT_TERMINAL_PROMPT=0

OUT=$(mktemp "${TMPDIR:-/tmp}/alfa-build.XXXXXX")
trap 'rm -f -- "$OUT"' EXIT

# logged WHAT FIX CMD… — runs CMD with its stdout and stderr streamed as log lines (and kept);
# on failure dies naming WHAT, the exit status, CMD's last line and FIX.
logged() {
  local what=$1 fix=$2 code=0 last
  shift 2
  "$@" </dev/null 2>&1 | tee -- "$OUT" || code=$?
  if ((code != 0)); then
    last=$(grep -v '^[[:space:]]*$' -- "$OUT" | tail -n 1 || true)
    die "$what failed (exit $code): ${last:-no output}; $fix"
  fi
}

need() {
  resolve_cmd "$1" >/dev/null || die 127 "$1 is not installed on this server, and the build needs it: $2"
}

need git "sudo apt-get install git"
need rsync "sudo apt-get install rsync"
need flock "sudo apt-get install util-linux"
LOCK=$BASE/nginx/.alfa-build.lock
require_dir "$BASE/nginx" "the nginx folder (which holds the jobs' lock files)"
exec {lock_fd}>>"$LOCK" || die "cannot open the lock file $LOCK: the nginx folder must be writable by $(id -un) (run check_host)"
if ! flock -n "$lock_fd"; then
  say "another build runs on this server (one an earlier attempt left running?): waiting for it to end"
  flock "$lock_fd"
fi
if id=$(run_sudo docker image inspect --format '{{.Id}}' "$IMAGE" 2>/dev/null); then
  [[ $IF_EXISTS == keep ]] ||
    die 3 "the image $IMAGE already exists on this server: build another version (or remove it: sudo docker rmi $IMAGE)"
  say "the image $IMAGE is already on this server: nothing to build"
  printf '::built {"image":%s,"version":%s,"branch":"%s","built":false,"commit":null,"id":%s}\n' \
    "$(json_str "$IMAGE")" "$(json_str "$VERSION")" "$BRANCH" "$(json_str "$id")"
  exit 0
fi

step git
git -C "$GIT_DIR_" rev-parse --is-inside-work-tree >/dev/null 2>&1 </dev/null ||
  die "$GIT_DIR_ is not a git clone of the LIMS repository: set the server up with git clone <repository URL> $GIT_DIR_ (as $(id -un)), then build again"
origin=$(git -C "$GIT_DIR_" remote get-url origin 2>/dev/null </dev/null) ||
  die "the clone $GIT_DIR_ has no remote 'origin': git -C $GIT_DIR_ remote add origin <repository URL>"
say "fetching $BRANCH from $origin into $GIT_DIR_"
logged "git fetch in $GIT_DIR_" "check that $(id -un) can reach $origin (its SSH key or credentials)" \
  git -C "$GIT_DIR_" fetch --prune origin
git -C "$GIT_DIR_" rev-parse --verify --quiet "refs/remotes/origin/$BRANCH" >/dev/null </dev/null ||
  die "origin ($origin) has no branch $BRANCH: push it, or build the other branch"
logged "git checkout of $BRANCH in $GIT_DIR_" "look at the clone by hand (git -C $GIT_DIR_ status)" \
  git -C "$GIT_DIR_" checkout --force -B "$BRANCH" "origin/$BRANCH"
logged "git clean in $GIT_DIR_" "remove the files above by hand" git -C "$GIT_DIR_" clean -ffdx
COMMIT=$(git -C "$GIT_DIR_" rev-parse HEAD </dev/null)
say "$BRANCH is at $(git -C "$GIT_DIR_" log -1 --format='%h %s' </dev/null)"

step www
[[ -d $WWW ]] || die "$WWW does not exist on this server: sudo install -d -o $(id -un) -m 775 $WWW"
logged "copying $GIT_DIR_ to $WWW" "check that $(id -un) may write $WWW" \
  rsync -a --delete --exclude=/.git --exclude=/vendor --exclude=/node_modules --exclude=/.env \
  "$GIT_DIR_/" "$WWW/"
say "$WWW holds $BRANCH at ${COMMIT:0:12}"

step composer
if [[ -f $WWW/composer.json ]]; then
  need composer "sudo apt-get install composer (or install it from getcomposer.org)"
  logged "composer install in $WWW" "fix composer.json/composer.lock of $BRANCH, or the server's PHP" \
    composer --working-dir="$WWW" install --no-dev --no-interaction --no-progress --prefer-dist --optimize-autoloader
else
  say "no composer.json in $BRANCH: nothing to install"
fi

step frontend
if [[ -f $WWW/package.json ]]; then
  nvm_sh=${NVM_DIR:-$HOME/.nvm}/nvm.sh
  if [[ -s $nvm_sh ]]; then
    say "sourcing $nvm_sh"
    set +u
    # shellcheck disable=SC1090  # the deploy user's own nvm
    source "$nvm_sh" </dev/null >/dev/null
    set -u
  fi
  need npm "install Node.js for $(id -un) (nvm: ~/.nvm/nvm.sh)"
  say "node $(node --version </dev/null 2>/dev/null || echo '?'), npm $(npm --version </dev/null 2>/dev/null || echo '?')"
  if [[ -f $WWW/package-lock.json ]]; then
    logged "npm ci in $WWW" "fix package.json/package-lock.json of $BRANCH, or the registry access" \
      npm --prefix "$WWW" ci --no-audit --no-fund
  else
    logged "npm install in $WWW" "fix package.json of $BRANCH, or the registry access" \
      npm --prefix "$WWW" install --no-audit --no-fund
  fi
  logged "npm run build in $WWW" "fix the front end of $BRANCH (its build output is above)" \
    npm --prefix "$WWW" run build
else
  say "no package.json in $BRANCH: no front end to build"
fi

step docker
[[ -f $WWW/Dockerfile ]] || die "$BRANCH has no Dockerfile at its root: the image cannot be built; add one to the repository"
[[ -d $DOCKER ]] || die "$DOCKER does not exist on this server: sudo install -d -o $(id -un) -m 775 $DOCKER"
logged "copying $WWW to $DOCKER" "check that $(id -un) may write $DOCKER" \
  rsync -a --delete --exclude=/clients --exclude=/.git --exclude=/node_modules --exclude=/.env \
  "$WWW/" "$DOCKER/"
say "$DOCKER holds the built tree ($DOCKER/clients untouched)"

step image
logged "docker build of $IMAGE" "the build's output is above; fix the Dockerfile of $BRANCH or the server's docker" \
  run_sudo docker build -t "$IMAGE" --label "org.opencontainers.image.revision=$COMMIT" "$DOCKER"
id=$(run_sudo docker image inspect --format '{{.Id}}' "$IMAGE" 2>&1) ||
  die "docker build ended but $IMAGE is not there: $id"
printf '::built {"image":%s,"version":%s,"branch":"%s","built":true,"commit":"%s","id":%s}\n' \
  "$(json_str "$IMAGE")" "$(json_str "$VERSION")" "$BRANCH" "$COMMIT" "$(json_str "$id")"
say "built $IMAGE from $BRANCH at ${COMMIT:0:12}"
