#!/usr/bin/env bash
# jobs/lib_web.sh — the nginx and certbot helpers of the job scripts: the two locks, nginx -t and
# reload, a vhost's install and removal with their put-back, certbot and its errors. Loaded after
# jobs/lib.sh (whose say, die, run_sudo and json_str it uses): the runner sends both files before
# every job; jobs/lib.sh sources this file itself when it is sourced from a file.

# --- the nginx and certbot locks ----------------------------------------------------------------
# Every job that changes nginx's configuration holds BASE/nginx/.alfa.lock (flock), so two jobs
# never interleave nginx -t/reload; every job that runs certbot to change certificates holds
# BASE/nginx/.alfa-certbot.lock, since certbot refuses to run twice at once. Two locks, so that
# installing one client's vhost never waits for another's certificate. Each is held until the
# script exits (or its unlock); taking one twice is a no-op.
ALFA_LOCK_FD=""
# shellcheck disable=SC2034  # set and read through alfa_lock's VAR
ALFA_CERTBOT_LOCK_FD=""

# alfa_lock VAR FILE NAME — opens FILE on a new descriptor kept in VAR and waits (up to 120 s)
# to hold it (flock); a no-op when VAR already holds the lock.
alfa_lock() {
  local var=$1 file=$2 name=$3 fd
  [[ -z ${!var} ]] || return 0
  require_dir "${file%/*}" "the nginx folder"
  resolve_cmd flock >/dev/null || die "flock is not installed on this server: install util-linux"
  exec {fd}>>"$file" ||
    die "cannot open the lock file $file: the nginx folder must be writable by $(id -un) (run check_host)"
  printf -v "$var" '%s' "$fd"
  flock -w 120 "$fd" ||
    die "another job has held the $name lock $file for 120 s: try again later (a stuck job? see 'fuser -v $file')"
}

# nginx_lock BASE — waits (up to 120 s) for the nginx lock of BASE and holds it.
nginx_lock() {
  alfa_lock ALFA_LOCK_FD "$1/nginx/.alfa.lock" nginx
}

# certbot_lock BASE — waits (up to 120 s) for the certbot lock of BASE and holds it.
certbot_lock() {
  alfa_lock ALFA_CERTBOT_LOCK_FD "$1/nginx/.alfa-certbot.lock" certbot
}

# nginx_unlock — releases the nginx lock early (before slow work that needs no lock).
nginx_unlock() {
  [[ -n $ALFA_LOCK_FD ]] || return 0
  flock -u "$ALFA_LOCK_FD"
  exec {ALFA_LOCK_FD}>&-
  ALFA_LOCK_FD=""
}

# --- nginx vhosts ---------------------------------------------------------------------------
# BASE/nginx/SUB.conf is the live vhost (nginx includes BASE/nginx/*.conf). Names that nginx does
# not include: SUB.conf.new (uploaded, to install), SUB.conf.prev (the previous vhost during an
# install), SUB.conf.removed (the vhost during a removal).

# nginx_apply WHAT — nginx -t, then nginx -s reload. On failure prints nginx's own message on
# stderr and returns 1 (nginx -t failed) or 2 (the reload failed); the caller puts the files back.
nginx_apply() {
  local what=$1 out
  if ! out=$(run_sudo nginx -t 2>&1); then
    printf '%s\n' "$out" >&2
    printf 'error: nginx -t refused the configuration %s (nginx says above)\n' "$what" >&2
    return 1
  fi
  if ! out=$(run_sudo nginx -s reload 2>&1); then
    printf '%s\n' "$out" >&2
    printf 'error: nginx -s reload failed %s (above): is nginx running? (sudo systemctl start nginx, then run this job again)\n' "$what" >&2
    return 2
  fi
  # The reload only signals nginx's master, which then starts new workers while the old ones
  # finish: a probe right after it may still meet the old configuration, so probe.sh tries
  # again (no wait here, where every other client's vhost would wait with us).
}

# vhost_install BASE SUB — installs the uploaded BASE/nginx/SUB.conf.new as SUB.conf under the
# lock: the same content → "unchanged", no reload; otherwise nginx -t + reload, and on any failure
# the previous vhost is put back (or ours removed), so nginx keeps serving what it served.
vhost_install() {
  local base=$1 sub=$2 conf new prev
  conf=$base/nginx/$sub.conf
  new=$conf.new
  prev=$conf.prev
  nginx_lock "$base"
  if [[ ! -e $conf && -f $prev ]]; then
    mv -f -- "$prev" "$conf" # an install that was interrupted: its previous vhost first
    say "restored $conf from an interrupted install"
  fi
  [[ -f $new ]] ||
    die "no uploaded vhost at $new: upload the rendered vhost there, then run vhost_install again"
  if [[ -f $conf ]] && cmp -s -- "$conf" "$new"; then
    rm -f -- "$new" "$prev"
    say "vhost $conf unchanged: nginx not reloaded"
    return 0
  fi
  local had_prev=0
  if [[ -f $conf ]]; then
    # a copy, then an atomic replace: the live vhost is never absent (a reload by certbot's
    # deploy hook, which does not take this lock, must not find the client gone)
    cp -p -- "$conf" "$prev"
    had_prev=1
  else
    rm -f -- "$prev"
  fi
  mv -f -- "$new" "$conf"
  local rc=0 undone fix
  nginx_apply "with the new vhost of $sub" || rc=$?
  if ((rc)); then
    if ((had_prev)); then
      mv -f -- "$prev" "$conf"
      undone="the previous one is back in place"
    else
      rm -f -- "$conf"
      undone="it was removed again"
    fi
    fix="fix the vhost (templates/nginx/vhost.conf or its values), upload it again and rerun"
    ((rc == 2)) && fix="start nginx, upload the vhost again and rerun"
    die "the new vhost of $sub was not installed ($undone); nginx keeps serving the others: $fix"
  fi
  rm -f -- "$prev"
  if ((had_prev)); then say "vhost $conf replaced, nginx reloaded"; else say "vhost $conf installed, nginx reloaded"; fi
  # nginx's old workers accept connections for a moment after the reload: let them go before
  # the next step meets the vhost, without holding the lock meanwhile
  nginx_unlock
  sleep 0.5
}

# vhost_remove BASE SUB — removes BASE/nginx/SUB.conf under the lock, nginx -t + reload (put
# back on failure). Absent: says so, returns 0.
vhost_remove() {
  local base=$1 sub=$2 conf removed
  conf=$base/nginx/$sub.conf
  removed=$conf.removed
  nginx_lock "$base"
  rm -f -- "$conf.new"
  if [[ ! -e $conf && -f $conf.prev ]]; then mv -f -- "$conf.prev" "$conf"; fi # interrupted install
  rm -f -- "$conf.prev"
  if [[ -f $conf ]]; then
    mv -f -- "$conf" "$removed"
  elif [[ ! -f $removed ]]; then
    say "no vhost $conf: nothing to remove"
    return 0
  fi # else: a removal that was interrupted before its reload: reload now
  if ! nginx_apply "without the vhost of $sub"; then
    mv -f -- "$removed" "$conf"
    die "the vhost of $sub was put back: nginx's configuration fails without it (above), so the fault is elsewhere in it; fix that, then rerun"
  fi
  rm -f -- "$removed"
  say "vhost $conf removed, nginx reloaded"
}

# --- certbot ------------------------------------------------------------------------------------
# certbot_run ARGS... — run_sudo certbot ARGS; certbot allows one instance at a time (a renewal
# timer may be running), so "Another instance of Certbot is already running" is retried for
# up to 2 minutes. Prints certbot's stdout and stderr together on stdout; returns its status.
certbot_run() {
  local out rc tries=0
  while :; do
    rc=0
    out=$(run_sudo certbot "$@" 2>&1) || rc=$?
    if ((rc != 0)) && [[ $out == *"Another instance of Certbot is already running"* ]] && ((tries < 24)); then
      tries=$((tries + 1))
      sleep 5
      continue
    fi
    [[ -z $out ]] || printf '%s\n' "$out"
    return "$rc"
  done
}

# certbot_brief OUTPUT — certbot's output without the Python tracebacks --debug adds (each
# traceback's last line, the exception, stays).
certbot_brief() {
  local line in_tb=0
  while IFS= read -r line; do
    case $line in
      "Traceback (most recent call last):") in_tb=1 ;;
      "Exiting abnormally:" | "During handling of the above exception"* | "") ;;
      " "*) ((in_tb)) || printf '%s\n' "$line" ;;
      *) in_tb=0 && printf '%s\n' "$line" ;;
    esac
  done <<<"$1"
}

# acme_error OUTPUT — the ACME server's error in certbot --debug OUTPUT as "TYPE :: detail"
# (urn:ietf:params:acme:error: dropped), or nothing.
acme_error() {
  local line found=
  while IFS= read -r line; do
    [[ $line == "acme.messages.Error: "* ]] && found=${line#acme.messages.Error: }
  done <<<"$1"
  printf '%s' "${found#urn:ietf:params:acme:error:}"
}

# acme_advice ERROR — what to do about an ACME error from acme_error.
acme_advice() {
  case $1 in
    accountDoesNotExist* | "unauthorized :: Account has been deactivated"*)
      printf '%s' "certbot's ACME account on this server is unknown to the ACME server (or deactivated): remove it with 'certbot unregister' (or its folder under accounts/ in certbot's config) and retry; certbot registers a new one" ;;
    rateLimited*)
      printf '%s' "the ACME server's rate limit: retry after the time it names" ;;
    rejectedIdentifier* | caa*)
      printf '%s' "the ACME server will not issue for this name (its policy or the domain's CAA records): use another domain or fix CAA" ;;
    unauthorized* | connection* | dns* | incorrectResponse* | tls*)
      printf '%s' "the ACME server could not fetch the challenge: check that the name resolves to this server, port 80 reaches nginx and the vhost serves /.well-known/acme-challenge/, then retry" ;;
    *)
      printf '%s' "retry; if it repeats, certbot's log on the server has the whole exchange" ;;
  esac
}

# norm_serial HEX — a certificate serial as certbot prints it: lower-case hex, no leading zeros
# (openssl prints upper case, padded).
norm_serial() {
  local s=${1,,}
  s=${s#serial=}
  s=${s//:/}
  while [[ $s == 0?* ]]; do s=${s#0}; done
  printf '%s\n' "$s"
}

# certbot_cert_info NAME — what certbot holds under the certificate name NAME, asked with
# `certbot certificates --cert-name NAME` (never reading LE_DIR/live, which is root's). Sets
# CERT_SERIAL (normalised), CERT_EXPIRES (ISO 8601 UTC), CERT_DAYS (whole days left, negative
# when expired), CERT_STATE (certbot's "VALID: 89 days", "INVALID: EXPIRED", ...), CERT_DOMAINS
# (space-separated), CERT_FULLCHAIN, CERT_PRIVKEY. Returns 0 when found, 1 when certbot holds no
# such certificate; dies when certbot fails.
certbot_cert_info() {
  local name=$1 out line expiry in_block=0 now exp_s
  CERT_SERIAL="" CERT_EXPIRES="" CERT_DAYS="" CERT_STATE="" CERT_DOMAINS="" CERT_FULLCHAIN="" CERT_PRIVKEY=""
  out=$(certbot_run certificates --cert-name "$name") || {
    printf '%s\n' "$out" >&2
    die "certbot certificates --cert-name $name failed (above): is certbot installed and allowed by sudo? (run check_host)"
  }
  while IFS= read -r line; do
    line=${line#"${line%%[![:space:]]*}"} # trim leading blanks
    case $line in
      "Certificate Name: "*)
        if [[ ${line#Certificate Name: } == "$name" ]]; then in_block=1; else in_block=0; fi
        ;;
      "Serial Number: "*) ((in_block)) && CERT_SERIAL=$(norm_serial "${line#Serial Number: }") ;;
      "Domains: "*) ((in_block)) && CERT_DOMAINS=${line#Domains: } ;;
      "Expiry Date: "*) ((in_block)) && expiry=${line#Expiry Date: } ;;
      "Certificate Path: "*) ((in_block)) && CERT_FULLCHAIN=${line#Certificate Path: } ;;
      "Private Key Path: "*) ((in_block)) && CERT_PRIVKEY=${line#Private Key Path: } ;;
    esac
  done <<<"$out"
  [[ -n $CERT_SERIAL ]] || return 1
  # "2027-03-02 05:21:47+00:00 (VALID: 89 days)"
  CERT_STATE=${expiry#*\(}
  CERT_STATE=${CERT_STATE%\)}
  exp_s=$(date -u -d "${expiry%% (*}" +%s) || die "cannot read certbot's expiry date '$expiry' of $name"
  now=$(date -u +%s)
  CERT_EXPIRES=$(date -u -d "@$exp_s" +%Y-%m-%dT%H:%M:%SZ)
  CERT_DAYS=$(((exp_s - now) / 86400))
  if ((exp_s < now)); then CERT_DAYS=$(((exp_s - now) / 86400 - 1)); fi
  return 0
}

# cert_json — the certificate certbot_cert_info found, as a JSON object.
cert_json() {
  local d domains="" sep=""
  for d in $CERT_DOMAINS; do
    domains+="$sep$(json_str "$d")"
    sep=","
  done
  printf '{"name":%s,"serial":%s,"expires":%s,"days_left":%s,"state":%s,"domains":[%s],"fullchain":%s,"privkey":%s}' \
    "$(json_str "$1")" "$(json_str "$CERT_SERIAL")" "$(json_str "$CERT_EXPIRES")" "$CERT_DAYS" \
    "$(json_str "$CERT_STATE")" "$domains" "$(json_str "$CERT_FULLCHAIN")" "$(json_str "$CERT_PRIVKEY")"
}
