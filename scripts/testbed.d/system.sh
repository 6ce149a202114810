# shellcheck shell=bash
# scripts/testbed.d/system.sh — what the machine needs: Debian packages, the login user, its
# sudoers file, the client key.

ensure_packages() {
  local missing=() updated=0
  [[ -x /usr/sbin/sshd ]] || missing+=(openssh-server)
  command -v ssh >/dev/null && command -v ssh-keygen >/dev/null || missing+=(openssh-client)
  [[ -x /usr/sbin/nginx ]] || missing+=(nginx)
  [[ -x /usr/bin/certbot ]] || missing+=(certbot)
  [[ -d /usr/lib/python3/dist-packages/certbot_nginx ]] || missing+=(python3-certbot-nginx)
  [[ -x /usr/bin/pebble ]] || missing+=(pebble)
  [[ -x /usr/bin/sudo && -x /usr/sbin/visudo ]] || missing+=(sudo)
  [[ -x $PY ]] || missing+=(python3)
  command -v openssl >/dev/null || missing+=(openssl)
  command -v ss >/dev/null || missing+=(iproute2)
  command -v mariadb >/dev/null || command -v mysql >/dev/null || missing+=(mariadb-client)
  command -v psql >/dev/null || missing+=(postgresql-client)
  command -v git >/dev/null || missing+=(git)
  ((${#missing[@]})) || return 0
  log "installing missing packages: ${missing[*]}"
  if ! DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >"${TB_DIR}.apt.log" 2>&1; then
    updated=1
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >>"${TB_DIR}.apt.log" 2>&1 || true
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"${TB_DIR}.apt.log" 2>&1 ||
      die "apt-get install ${missing[*]} failed (updated=$updated); see ${TB_DIR}.apt.log"
  fi
}

ensure_user() {
  if ! id "$TB_USER" >/dev/null 2>&1; then
    useradd -M -d "$TB_HOME" -s /bin/bash -U -c "alfa testbed login" "$TB_USER"
  else
    local ent
    ent=$(getent passwd "$TB_USER")
    if [[ $(cut -d: -f6 <<<"$ent") != "$TB_HOME" || $(cut -d: -f7 <<<"$ent") != /bin/bash ]]; then
      usermod -d "$TB_HOME" -s /bin/bash "$TB_USER" >/dev/null
    fi
  fi
  # '*' = no password but not locked: sshd with UsePAM no refuses locked ('!') accounts
  if [[ $(getent shadow "$TB_USER" | cut -d: -f2) == '!'* ]]; then usermod -p '*' "$TB_USER"; fi
  install -d -o "$TB_USER" -g "$TB_USER" -m 755 "$TB_HOME"
  rm -f "$TB_HOME/.bashrc" "$TB_HOME/.profile" "$TB_HOME/.bash_profile" "$TB_HOME/.bash_login" "$TB_HOME/.bash_logout"
}

ensure_sudoers() {
  local tmp text
  render_to text sudoers TB_USER="$TB_USER"
  tmp=$(mktemp)
  printf '%s' "$text" >"$tmp"
  if ! visudo -cqf "$tmp" >/dev/null; then rm -f "$tmp"; die "generated sudoers file does not validate"; fi
  if ! cmp -s "$tmp" "$SUDOERS" 2>/dev/null; then install -o root -g root -m 0440 "$tmp" "$SUDOERS"; fi
  rm -f "$tmp"
}

ensure_client_key() {
  [[ -f $TB_DIR/id_ed25519 ]] || ssh-keygen -q -t ed25519 -N '' -C "alfa-testbed-client" -f "$TB_DIR/id_ed25519"
}
