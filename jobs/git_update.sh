#!/usr/bin/env bash
# git_update.sh BASE_DIR pull|fetch — brings the server's checkout BASE_DIR/git up to origin's
# master. `fetch`: only `git fetch origin master` (the working tree and HEAD stay as they are: a dry
# run reads .env.example from origin/master). `pull`: the fetch, then a fast-forward of the checked
# out master (a clean checkout on another branch, where a build left it, goes back to master first)
# — refused, changing nothing, when the tree has local changes to tracked files, is detached, or
# master has diverged from origin/master. Prints
# `::git {"mode":…,"before":HEAD before,"commit":the commit to read .env.example from}`.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -eq 2 ]] || usage_error "usage: git_update.sh BASE_DIR pull|fetch (got $# arguments)"
BASE=$(valid_base_dir "$1")
MODE=$2
[[ $MODE == pull || $MODE == fetch ]] || usage_error "MODE must be pull or fetch (got '$MODE')"
DIR=$BASE/git
export GIT_TERMINAL_PROMPT=0 # never wait for a password nobody types

step git
resolve_cmd git >/dev/null || die "git is not installed on this server: sudo apt-get install git"
require_dir "$DIR" "the repository checkout"
g() { git -C "$DIR" "$@" </dev/null; }
[[ $(g rev-parse --is-inside-work-tree 2>/dev/null) == true ]] ||
  die "$DIR is not a git checkout: clone the LIMS repository there (git clone URL $DIR), then rerun"
before=$(g rev-parse HEAD) || die "$DIR has no commit checked out: check out master, then rerun"
say "fetching master from $(g remote get-url origin 2>/dev/null || echo "origin (no URL)") into $DIR"
g fetch --quiet origin master ||
  die "git fetch origin master failed in $DIR (above): check the remote 'origin' and this server's access to it, then rerun"
target=$(g rev-parse --verify -q refs/remotes/origin/master || g rev-parse FETCH_HEAD)

if [[ $MODE == fetch ]]; then
  say "dry run: the checkout stays at ${before:0:12}; origin/master is ${target:0:12}"
  printf '::git {"mode":"fetch","before":%s,"commit":%s}\n' "$(json_str "$before")" "$(json_str "$target")"
  exit 0
fi

branch=$(g symbolic-ref --short -q HEAD) ||
  die "$DIR has no branch checked out (a detached HEAD at ${before:0:12}): git -C $DIR checkout master, then rerun"
dirty=$(g status --porcelain --untracked-files=no) ||
  die "git status failed in $DIR (above)"
if [[ -n $dirty ]]; then
  die "the checkout $DIR has local changes to tracked files ($(printf '%s' "$dirty" | head -n 5 | tr '\n' ';' | sed 's/;$//')): commit them upstream or discard them (git -C $DIR stash), then rerun; nothing was pulled"
fi
if [[ $branch != master ]]; then
  # A build leaves the checkout on the branch it built (build_dev: dev); clean, it goes back.
  say "$DIR is on branch $branch (a build's): checking out master"
  if g rev-parse --verify -q refs/heads/master >/dev/null; then
    g checkout --quiet master || die "git checkout master failed in $DIR (above): fix the checkout, then rerun"
  else
    g checkout --quiet -b master "$target" || die "git checkout -b master failed in $DIR (above): fix the checkout, then rerun"
  fi
fi
head=$(g rev-parse HEAD)
if [[ $head == "$target" ]]; then
  say "$DIR is already at origin/master (${target:0:12})"
elif g merge-base --is-ancestor HEAD "$target"; then
  g merge --quiet --ff-only "$target" ||
    die "git merge --ff-only origin/master failed in $DIR (above): nothing was changed; fix the checkout, then rerun"
  say "$DIR fast-forwarded ${head:0:12} → ${target:0:12}"
else
  die "master in $DIR has diverged from origin/master (local commits origin does not have): a fast-forward is impossible; push or drop them (git -C $DIR reset --hard origin/master), then rerun; nothing was pulled"
fi
printf '::git {"mode":"pull","before":%s,"commit":%s}\n' "$(json_str "$before")" "$(json_str "$target")"
