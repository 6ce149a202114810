#!/usr/bin/env bash
# probe.sh FQDN HTTPS_PORT ADDR [SERIAL] — from the server itself: https://FQDN:HTTPS_PORT/up,
# connected to ADDR (curl --resolve), must answer 200, and the certificate nginx presents there for
# FQDN must be the one certbot holds under the name FQDN (same serial): SERIAL when given (the
# certificate step's ::cert), else asked from certbot. Prints
# ::probe {"status":…,"served_serial":…,"expected_serial":…}, then fails on either mismatch.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -eq 3 || $# -eq 4 ]] || usage_error "usage: probe.sh FQDN HTTPS_PORT ADDR [SERIAL] (got $# arguments)"
FQDN=$1
PORT=$2
ADDR=$3
SERIAL=${4:-}
[[ -z $SERIAL || $SERIAL =~ ^[0-9A-Fa-f:]{1,128}$ ]] || usage_error "SERIAL must be a certificate serial in hex (got '$SERIAL')"
valid_fqdn "$FQDN"
valid_port "$PORT" HTTPS_PORT
valid_ip "$ADDR" ADDR
resolve_cmd curl >/dev/null || die "curl is not installed on this server: sudo apt-get install curl"
resolve_cmd openssl >/dev/null || die "openssl is not installed on this server: sudo apt-get install openssl"
if [[ $ADDR == *:* ]]; then HOSTPORT="[$ADDR]:$PORT"; else HOSTPORT="$ADDR:$PORT"; fi
URL="https://$FQDN:$PORT/up"

# probe_once — sets status (0 = no HTTPS answer), why, served (the serial nginx presents).
probe_once() {
  local rc=0
  # -k: the certificate is checked below against certbot's, not against a CA (this request only)
  status=$(curl -s -k -o /dev/null -w '%{http_code}' --max-time 15 --resolve "$FQDN:$PORT:$ADDR" "$URL" </dev/null) || rc=$?
  if ((rc)) || [[ ! $status =~ ^[0-9]{3}$ ]]; then
    case $rc in
      7) why="connection refused" ;;
      28) why="no answer within 15 s" ;;
      35 | 60) why="TLS handshake failed" ;;
      *) why="curl exit $rc" ;;
    esac
    status=0
  else
    status=$((10#$status))
    why="HTTP $status"
  fi
  served=$(timeout 20 openssl s_client -connect "$HOSTPORT" -servername "$FQDN" </dev/null 2>/dev/null |
    openssl x509 -noout -serial 2>/dev/null) || served=""
  [[ -z $served ]] || served=$(norm_serial "$served")
}

step certificate
expected=""
if [[ -n $SERIAL ]]; then
  expected=$(norm_serial "$SERIAL")
  say "expecting the certificate serial $expected (the certificate step's)"
else
  if certbot_cert_info "$FQDN"; then expected=$CERT_SERIAL; fi
  say "certbot holds ${expected:+serial }${expected:-no certificate} for $FQDN"
fi

step https
# a few tries: right after a reload, nginx's old workers may still answer for a moment
for try in 1 2 3 4 5; do
  probe_once
  say "try $try: $URL via $ADDR: $why, certificate serial ${served:-none}"
  [[ $status == 200 && -n $served && $served == "$expected" ]] && break
  ((try == 5)) || sleep 1
done
printf '::probe {"status":%s,"served_serial":%s,"expected_serial":%s}\n' \
  "$status" "$(json_str "$served")" "$(json_str "$expected")"

[[ $status == 200 ]] ||
  die "https://$FQDN:$PORT/up (via $ADDR) got ${why}, not 200: check the vhost (nginx -T), nginx's error log and the container (docker compose -p alfa_<subdomain> logs)"
[[ -n $served ]] ||
  die "nginx presented no readable certificate for $FQDN on $HOSTPORT: is the https vhost installed and nginx reloaded?"
[[ -n $expected ]] ||
  die "certbot holds no certificate named $FQDN: run the certificate step again"
[[ $served == "$expected" ]] ||
  die "nginx serves certificate serial $served for $FQDN but certbot holds serial $expected: reload nginx (sudo nginx -s reload) or check ssl_certificate in the vhost"
say "$FQDN answers 200 with certbot's certificate (serial $served)"
