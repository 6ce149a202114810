# shellcheck shell=bash
# scripts/testbed.d/pebble.sh — the local ACME server (Pebble) that certbot on every host talks to.

ensure_pebble() {
  local d=$TB_DIR/pebble
  install -d -m 755 "$d"
  if [[ ! -s $d/cert.pem || ! -s $d/ca.pem ]]; then
    (
      cd "$d" || exit
      openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 3650 \
        -subj "/CN=alfa testbed pebble TLS CA" -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
      openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout key.pem -out server.csr \
        -subj "/CN=localhost" 2>/dev/null
      printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' >server.ext
      openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out cert.pem -days 3650 \
        -extfile server.ext 2>/dev/null
      rm -f server.csr server.ext ca.srl
      chmod 644 ca.pem cert.pem
      chmod 600 ca.key key.pem
    )
  fi
  local text
  render_to text pebble-config.json PEBBLE_PORT="$PEBBLE_PORT" PEBBLE_MGMT_PORT="$PEBBLE_MGMT_PORT" PEBBLE_DIR="$d"
  printf '%s' "$text" >"$d/config.json.new"
  local restart=0
  if ! cmp -s "$d/config.json.new" "$d/config.json" 2>/dev/null; then
    mv "$d/config.json.new" "$d/config.json"; restart=1
  else
    rm -f "$d/config.json.new"
  fi
  local pid
  if pid=$(live_pid "$d/pebble.pid" "$d/config.json"); then
    ((restart)) || return 0
    kill_tree "$pid"
  fi
  PEBBLE_VA_ALWAYS_VALID=1 PEBBLE_VA_NOSLEEP=1 PEBBLE_WFE_NONCEREJECT=0 \
    setsid /usr/bin/pebble -config "$d/config.json" </dev/null >>"$d/pebble.log" 2>&1 9>&- &
  echo $! >"$d/pebble.pid"
}
