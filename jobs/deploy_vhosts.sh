#!/usr/bin/env bash
# deploy_vhosts.sh BASE_DIR SUBDOMAIN… — installs the vhosts a deploy uploaded to
# BASE_DIR/nginx/SUBDOMAIN.conf.new, all at once under the server's nginx lock: those whose bytes
# equal the live vhost are dropped, the others swapped in, then ONE nginx -t and ONE reload. If
# nginx refuses the configuration (or the reload fails), every previous vhost is put back (a new
# one without a previous one is removed), so nginx keeps serving what it served, and the error
# names the client whose vhost nginx refused.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -ge 2 ]] || usage_error "usage: deploy_vhosts.sh BASE_DIR SUBDOMAIN... (got $# arguments)"
BASE=$(valid_base_dir "$1")
shift
for sub in "$@"; do valid_subdomain "$sub"; done

step vhosts
nginx_lock "$BASE"
swapped=()   # subdomains whose new vhost is live now
had_prev=()  # 1 when that subdomain had a live vhost before (kept as .prev)
unchanged=0
for sub in "$@"; do
  conf=$BASE/nginx/$sub.conf
  if [[ ! -e $conf && -f $conf.prev ]]; then
    mv -f -- "$conf.prev" "$conf" # an install that was interrupted: its previous vhost first
    say "restored $conf from an interrupted install"
  fi
  if [[ ! -f $conf.new ]]; then
    # the engine passes only what its children staged: an earlier attempt installed it already
    say "no staged vhost $conf.new (installed by an earlier attempt of this deploy): skipped"
    unchanged=$((unchanged + 1))
    continue
  fi
  if [[ -f $conf ]] && cmp -s -- "$conf" "$conf.new"; then
    rm -f -- "$conf.new" "$conf.prev"
    unchanged=$((unchanged + 1))
    continue
  fi
  if [[ -f $conf ]]; then
    cp -p -- "$conf" "$conf.prev" # the live vhost is never absent (certbot's hook may reload)
    had_prev+=(1)
  else
    rm -f -- "$conf.prev"
    had_prev+=(0)
  fi
  mv -f -- "$conf.new" "$conf"
  swapped+=("$sub")
done

if ((${#swapped[@]} == 0)); then
  say "all $unchanged vhost(s) unchanged: nginx not reloaded"
  exit 0
fi

# put_back — every swapped vhost back to what it was.
put_back() {
  local i conf
  for i in "${!swapped[@]}"; do
    conf=$BASE/nginx/${swapped[$i]}.conf
    if ((had_prev[i])); then mv -f -- "$conf.prev" "$conf"; else rm -f -- "$conf"; fi
  done
}

if ! out=$(run_sudo nginx -t 2>&1); then
  printf '%s\n' "$out" >&2
  put_back
  refused=()
  for sub in "${swapped[@]}"; do
    [[ $out == *"$BASE/nginx/$sub.conf:"* ]] && refused+=("$sub")
  done
  if ((${#refused[@]})); then
    die "nginx -t refused the new vhost of ${refused[*]} (nginx says above); the previous vhosts of ${swapped[*]} are back in place and nginx keeps serving them: fix templates/nginx/vhost.conf or the client's values, then deploy again"
  fi
  die "nginx -t refused the configuration with the new vhosts of ${swapped[*]}, naming none of them (above: the fault may be in another file); the previous vhosts are back in place: fix what nginx names, then deploy again"
fi
if ! out=$(run_sudo nginx -s reload 2>&1); then
  printf '%s\n' "$out" >&2
  put_back
  die "nginx -s reload failed (above): is nginx running? The previous vhosts of ${swapped[*]} are back in place: start nginx (sudo systemctl start nginx), then deploy again"
fi
for sub in "${swapped[@]}"; do rm -f -- "$BASE/nginx/$sub.conf.prev"; done
say "${#swapped[@]} vhost(s) replaced (${swapped[*]}), $unchanged unchanged; nginx tested and reloaded once"
# nginx's old workers accept connections for a moment after the reload: let them go
nginx_unlock
sleep 0.5
