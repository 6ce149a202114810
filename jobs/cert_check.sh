#!/usr/bin/env bash
# cert_check.sh BASE_DIR DAYS [FQDN]... — the daily certificate check of one server: for each
# FQDN (its clients' names), the certificate certbot holds under that name, renewed when it
# expires within DAYS days (certbot renew --cert-name FQDN --force-renewal, without the random
# delay certbot adds when run without a terminal; nginx reloaded by
# the deploy hook), under the server's certbot lock. One `certbot certificates` for all names.
# Prints one line per name:
# ::cert_check {"name":…,"days_left":…,"expires":…,"action":"ok|renewed|failed|missing","error":…}
# Exits 0 when every name was checked (a missing or unrenewable certificate is a line, for the
# operation to report); non-zero when certbot cannot be asked at all.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

(($# >= 2)) || usage_error "usage: cert_check.sh BASE_DIR DAYS [FQDN]... (got $# arguments)"
BASE=$(valid_base_dir "$1")
DAYS=$2
shift 2
[[ $DAYS =~ ^[0-9]{1,5}$ ]] || usage_error "DAYS must be a whole number of days (got '$DAYS')"
for fqdn in "$@"; do valid_fqdn "$fqdn"; done

step certificates
(($#)) || {
  say "no client on this server: nothing to check"
  exit 0
}
certbot_lock "$BASE"

# name → expiry ("2027-03-02 05:21:47+00:00"), from one listing of every certificate
declare -A EXPIRY=()
read_expiries() {
  local out line name=""
  EXPIRY=()
  out=$(certbot_run certificates) || {
    printf '%s\n' "$out" >&2
    die "certbot certificates failed (above): is certbot installed and allowed by sudo? (run check_host)"
  }
  while IFS= read -r line; do
    line=${line#"${line%%[![:space:]]*}"}
    case $line in
      "Certificate Name: "*) name=${line#Certificate Name: } ;;
      "Expiry Date: "*) [[ -z $name ]] || EXPIRY[$name]=${line#Expiry Date: } ;;
    esac
  done <<<"$out"
}

# days_left EXPIRY — whole days until EXPIRY (negative once past), into LEFT and EXPIRES (UTC).
days_left() {
  local exp_s now
  exp_s=$(date -u -d "${1%% (*}" +%s) || die "cannot read certbot's expiry date '$1'"
  now=$(date -u +%s)
  LEFT=$(((exp_s - now) / 86400))
  if ((exp_s < now)); then LEFT=$(((exp_s - now) / 86400 - 1)); fi
  EXPIRES=$(date -u -d "@$exp_s" +%Y-%m-%dT%H:%M:%SZ)
}

report() { # NAME DAYS_LEFT EXPIRES ACTION ERROR
  local j_name j_expires j_action j_error
  json_str_to j_name "$1"
  json_str_to j_expires "$3"
  json_str_to j_action "$4"
  json_str_to j_error "$5"
  printf '::cert_check {"name":%s,"days_left":%s,"expires":%s,"action":%s,"error":%s}\n' \
    "$j_name" "${2:-null}" "$j_expires" "$j_action" "$j_error"
}

read_expiries
failed=0 renewed=0 LEFT="" EXPIRES=""
for fqdn in "$@"; do
  if [[ -z ${EXPIRY[$fqdn]:-} ]]; then
    report "$fqdn" "" "" missing "certbot holds no certificate named $fqdn: retry the client's creation or switch it to get one"
    failed=$((failed + 1))
    continue
  fi
  days_left "${EXPIRY[$fqdn]}"
  if ((LEFT >= DAYS)); then
    report "$fqdn" "$LEFT" "$EXPIRES" ok ""
    continue
  fi
  say "$fqdn expires in $LEFT days ($EXPIRES): renewing"
  if out=$(certbot_run --debug renew --cert-name "$fqdn" --force-renewal --non-interactive --no-random-sleep-on-renew \
    --deploy-hook 'nginx -s reload'); then
    renewed=$((renewed + 1))
    report "$fqdn" "$LEFT" "$EXPIRES" renewed ""
  else
    certbot_brief "$out" >&2
    acme=$(acme_error "$out")
    why="certbot renew failed (above)"
    [[ -z $acme ]] || why="the ACME server answered $acme. $(acme_advice "$acme")"
    report "$fqdn" "$LEFT" "$EXPIRES" failed "$why"
    failed=$((failed + 1))
  fi
done
if ((renewed)); then
  # the new expiry dates, as certbot now holds them
  read_expiries
  for fqdn in "$@"; do
    [[ -n ${EXPIRY[$fqdn]:-} ]] || continue
    days_left "${EXPIRY[$fqdn]}"
    say "$fqdn: valid until $EXPIRES ($LEFT days)"
  done
fi
say "$# certificates checked: $renewed renewed, $failed failed or missing"
