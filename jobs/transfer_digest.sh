#!/usr/bin/env bash
# transfer_digest.sh PATH [EXCLUDE…] — what a move compares on both ends. PATH a file: its size
# and SHA-256. PATH a folder: every entry under it but the EXCLUDEs (paths relative to PATH,
# written ./name; an excluded folder goes with its contents), as one listing — folders and links
# by name (and target), files by name and SHA-256 — and the SHA-256 of that listing, so two
# folders with the same digest hold the same files. Prints
# ::digest {"kind":"file"|"dir","entries":N,"bytes":B,"sha256":"…"}. Changes nothing.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -ge 1 ]] || usage_error "usage: transfer_digest.sh PATH [EXCLUDE…] (got $# arguments)"
TARGET=$1
shift
[[ $TARGET =~ ^/[A-Za-z0-9._/-]+$ && $TARGET != *..* ]] ||
  usage_error "PATH must be an absolute path of [A-Za-z0-9._/-] without '..' (got '$TARGET')"
EXCLUDES=("$@")
for ex in "${EXCLUDES[@]}"; do
  [[ $ex =~ ^\./[A-Za-z0-9._/-]+$ && $ex != *..* ]] ||
    usage_error "EXCLUDE must be ./NAME of [A-Za-z0-9._/-] without '..' (got '$ex')"
done

if [[ -f $TARGET ]]; then
  bytes=$(stat -c %s -- "$TARGET") || die "cannot read the size of $TARGET"
  sha=$(sha256sum -- "$TARGET" </dev/null | cut -d' ' -f1) || die "cannot read $TARGET to hash it"
  say "$TARGET: $bytes bytes, sha256 $sha"
  printf '::digest {"kind":"file","entries":1,"bytes":%s,"sha256":"%s"}\n' "$bytes" "$sha"
  exit 0
fi
[[ -d $TARGET ]] || die "$TARGET is neither a file nor a folder on this server"
cd -- "$TARGET"
prune=()
if ((${#EXCLUDES[@]})); then
  prune=('(')
  for ex in "${EXCLUDES[@]}"; do prune+=(-path "$ex" -o); done
  prune[-1]=')'
  prune+=(-prune -o)
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
find . -mindepth 1 "${prune[@]}" -type f -print0 </dev/null | LC_ALL=C sort -z >"$tmp/files" ||
  die "cannot list the files under $TARGET (above): files $(id -un) cannot read?"
find . -mindepth 1 "${prune[@]}" ! -type f -printf '%y %p -> %l\n' </dev/null | LC_ALL=C sort >"$tmp/other" ||
  die "cannot list the folders under $TARGET (above)"
xargs -0 -r sha256sum -- <"$tmp/files" >"$tmp/sums" ||
  die "cannot read every file under $TARGET (above): files $(id -un) cannot read?"
bytes=$(xargs -0 -r stat -c %s -- <"$tmp/files" | awk '{ s += $1 } END { print s + 0 }')
entries=$(($(tr -cd '\0' <"$tmp/files" | wc -c) + $(wc -l <"$tmp/other")))
sha=$(cat "$tmp/other" "$tmp/sums" | sha256sum | cut -d' ' -f1)
say "$TARGET: $entries entries, $bytes bytes in files, listing sha256 $sha"
printf '::digest {"kind":"dir","entries":%s,"bytes":%s,"sha256":"%s"}\n' "$entries" "$bytes" "$sha"
