# shellcheck shell=bash
# scripts/testbed.d/procs.sh — the processes the testbed starts: find them by pidfile, wait for
# them, stop them (and their children).

# pid from PIDFILE if that process is alive and its command line contains PATTERN
live_pid() {
  local pidfile=$1 pattern=$2 pid
  [[ -s $pidfile ]] || return 1
  pid=$(tr -dc '0-9' <"$pidfile")
  [[ -n $pid && -r /proc/$pid/cmdline ]] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "$pattern" || return 1
  printf '%s' "$pid"
}

descendants() {
  local root=$1
  ps -e -o pid=,ppid= | awk -v root="$root" '
    { parent[$1] = $2; pids[NR] = $1 }
    END {
      want[root] = 1; changed = 1
      while (changed) { changed = 0
        for (i in pids) { p = pids[i]; if (!(p in want) && (parent[p] in want)) { want[p] = 1; changed = 1 } } }
      for (p in want) if (p != root) print p
    }'
}

# kill PIDs: SIGTERM (and SIGCONT, for stopped ones), wait up to 3 s, then SIGKILL; kill_tree adds the descendants
kill_pids() {
  local pids=("$@") p i alive
  ((${#pids[@]})) || return 0
  kill -TERM "${pids[@]}" 2>/dev/null || true
  kill -CONT "${pids[@]}" 2>/dev/null || true
  for ((i = 0; i < 30; i++)); do
    alive=0
    for p in "${pids[@]}"; do
      if kill -0 "$p" 2>/dev/null && [[ $(awk '{print $3}' "/proc/$p/stat" 2>/dev/null) != Z ]]; then alive=1; fi
    done
    ((alive)) || return 0
    sleep 0.1
  done
  kill -KILL "${pids[@]}" 2>/dev/null || true
}

kill_tree() {
  local pid=$1 kids
  kids=$(descendants "$pid")
  # shellcheck disable=SC2086  # word splitting of the pid list is intended
  kill_pids "$pid" $kids
}

wait_gone() {
  local pid=$1 k
  for ((k = 0; k < 30; k++)); do
    kill -0 "$pid" 2>/dev/null || return 0
    [[ $(awk '{print $3}' "/proc/$pid/stat" 2>/dev/null) == Z ]] && return 0
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
}

# wait until every ADDR:PORT given is listening (max ~5 s)
wait_listen() {
  local k want listening missing
  for ((k = 0; k < 100; k++)); do
    listening=$(ss -Hltn 2>/dev/null | awk '{print $4}')
    missing=()
    for want in "$@"; do
      grep -qxF -- "$want" <<<"$listening" || missing+=("$want")
    done
    ((${#missing[@]})) || return 0
    sleep 0.05
  done
  log "still not listening after 5 s: ${missing[*]}"
  return 1
}

proc_state() { awk '{print $3}' "/proc/$1/stat" 2>/dev/null || true; }
