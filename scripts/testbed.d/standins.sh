# shellcheck shell=bash
# scripts/testbed.d/standins.sh — the recording stand-ins (docker, docker-compose, nginx, certbot,
# reboot, shutdown, alfa-fakeapp) on each host, and the commands that drive them.

# stand-ins: one launcher called by name through symlinks; its code, the package standins/,
# byte-compiled beside it (the login user cannot write the byte code there itself)
install_standins() { # HOST_DIR
  local d=$1 pkg=$1/bin/standins f changed=0
  if ! cmp -s "$LIBDIR/standin.py" "$d/bin/standin.py"; then install -m 755 "$LIBDIR/standin.py" "$d/bin/standin.py"; fi
  install -d -m 755 "$pkg"
  for f in "$LIBDIR"/standins/*.py; do
    cmp -s "$f" "$pkg/${f##*/}" || { install -m 644 "$f" "$pkg/${f##*/}"; changed=1; }
  done
  for f in "$pkg"/*.py; do
    [[ -e $LIBDIR/standins/${f##*/} ]] || { rm -f "$f"; changed=1; }
  done
  # the one-file standin_lib.py of older versions (which reinstall it if they run again)
  if [[ -e $d/bin/standin_lib.py ]]; then rm -rf "$d/bin/standin_lib.py" "$d/bin/__pycache__"; fi
  if ((changed)) || [[ ! -d $pkg/__pycache__ ]]; then
    rm -rf "$pkg/__pycache__"
    "$PY" -I -m compileall -q "$pkg" >&2 || die "byte-compiling $pkg failed"
  fi
}

seed_host() {
  local d
  d=$(host_dir "$1")
  [[ -n $SEED_IMAGES ]] || return 0
  # shellcheck disable=SC2086  # SEED_IMAGES is a space-separated list
  "$d/bin/docker" __testbed seed-image $SEED_IMAGES
}

cmd_seed_image() {
  [[ $# -ge 2 ]] || die "usage: scripts/testbed seed-image HOST|all REPO:TAG..."
  local idx i
  idx=$(host_indexes "$1")
  shift
  for i in $idx; do "$(host_dir "$i")/bin/docker" __testbed seed-image "$@"; done
}

cmd_standin() {
  [[ $# -eq 2 ]] || die "usage: scripts/testbed standin HOST|all JSON|-"
  local json=$2 idx i d tmp
  idx=$(host_indexes "$1")
  [[ $json == - ]] && json=$(cat)
  "$PY" -c 'import json,sys; v=json.loads(sys.argv[1]); assert isinstance(v, dict), "must be a JSON object"' "$json" 2>/dev/null ||
    die "not a JSON object: $json"
  for i in $idx; do
    d=$(host_dir "$i")
    tmp=$(mktemp "$d/standin.json.XXXXXX")
    printf '%s\n' "$json" >"$tmp"
    chmod 666 "$tmp"
    mv -f "$tmp" "$d/standin.json"
  done
}

cmd_reset() {
  [[ $# -eq 1 ]] || die "usage: scripts/testbed reset HOST|all"
  local idx i d
  idx=$(host_indexes "$1")
  for i in $idx; do
    d=$(host_dir "$i")
    rm -f "$d/standin.json"
    : >"$d/calls.jsonl"
    "$d/bin/docker" __testbed reset-state
    seed_host "$i"
  done
}

cmd_calls() {
  [[ $# -eq 1 ]] || die "usage: scripts/testbed calls HOST"
  local i
  i=$(host_index "$1")
  cat "$(host_dir "$i")/calls.jsonl"
}
