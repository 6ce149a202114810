#!/usr/bin/env bash
# certificate.sh BASE_DIR FQDN EMAIL ACME_SERVER — gets the certificate named FQDN for FQDN with
# certbot's webroot plugin (BASE_DIR/acme), under the server's certbot lock. Skips when certbot already
# holds one valid for more than 30 days. EMAIL may be empty (no ACME account e-mail), ACME_SERVER
# empty = certbot's default (Let's Encrypt). Renewals reload nginx (--deploy-hook). Prints
# ::cert {"name","serial","expires","days_left","state","domains","fullchain","privkey"}.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -eq 4 ]] || usage_error "usage: certificate.sh BASE_DIR FQDN EMAIL ACME_SERVER (got $# arguments)"
BASE=$(valid_base_dir "$1")
FQDN=$2
EMAIL=$3
ACME=$4
valid_fqdn "$FQDN"
[[ -z $EMAIL || $EMAIL =~ ^[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}$ ]] ||
  usage_error "EMAIL must be an e-mail address or empty (got '$EMAIL')"
[[ -z $ACME || $ACME =~ ^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~/-]*)?$ ]] ||
  usage_error "ACME_SERVER must be an https:// ACME directory URL or empty (got '$ACME')"
WEBROOT=$BASE/acme
MIN_DAYS=30

step certificate
require_dir "$WEBROOT" "the ACME webroot"
certbot_lock "$BASE"
have=0
if certbot_cert_info "$FQDN"; then
  have=1
  # certbot's state: "VALID: 89 days" or "INVALID: TEST_CERT, EXPIRED|REVOKED"; a staging ("test")
  # certificate is good enough when this run asks a non-default ACME server too
  usable=1
  [[ $CERT_STATE == *EXPIRED* || $CERT_STATE == *REVOKED* ]] && usable=0
  [[ $CERT_STATE == *TEST_CERT* && -z $ACME ]] && usable=0
  [[ " $CERT_DOMAINS " == *" $FQDN "* ]] || usable=0
  if ((usable && CERT_DAYS > MIN_DAYS)); then
    say "certbot already holds a certificate for $FQDN, valid until $CERT_EXPIRES ($CERT_DAYS days): nothing to do"
    printf '::cert %s\n' "$(cert_json "$FQDN")"
    exit 0
  fi
  say "certbot's certificate $FQDN is not good enough ($CERT_STATE, domains: $CERT_DOMAINS): getting a new one"
fi

# --debug: certbot prints the traceback of a failure, which holds the ACME server's own error
# (certbot 2.1 on Python 3.11 shows every ACME error as "AttributeError: can't set attribute").
args=(--debug certonly --webroot -w "$WEBROOT" -d "$FQDN" --cert-name "$FQDN" --non-interactive --agree-tos
  --deploy-hook 'nginx -s reload')
if [[ -n $EMAIL ]]; then args+=(-m "$EMAIL" --no-eff-email); else args+=(--register-unsafely-without-email); fi
if [[ -n $ACME ]]; then args+=(--server "$ACME"); fi
if ((have)); then args+=(--force-renewal); fi
say "certbot $(printf '%q ' "${args[@]}")"
for attempt in 1 2; do
  if out=$(certbot_run "${args[@]}"); then break; fi
  certbot_brief "$out" >&2
  acme=$(acme_error "$out")
  # badNonce and serverInternal are the ACME server's passing trouble: one more try
  if ((attempt == 1)) && [[ $acme == badNonce* || $acme == serverInternal* ]]; then
    say "the ACME server answered $acme: trying once more in 2 s"
    sleep 2
    continue
  fi
  if [[ -n $acme ]]; then
    die "certbot could not get a certificate for $FQDN: the ACME server answered $acme. $(acme_advice "$acme")"
  fi
  die "certbot could not get a certificate for $FQDN (above). Usual causes: $FQDN does not resolve to this server, or http://$FQDN/.well-known/acme-challenge/ is not served from $WEBROOT (is the vhost installed and nginx running?), or a rate limit"
done
printf '%s\n' "$out"

if ! certbot_cert_info "$FQDN"; then
  die "certbot reported success but holds no certificate named $FQDN: look at certbot's log (/var/log/letsencrypt/letsencrypt.log)"
fi
say "certificate $FQDN obtained, valid until $CERT_EXPIRES"
printf '::cert %s\n' "$(cert_json "$FQDN")"
