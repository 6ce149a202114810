#!/usr/bin/env bash
# reboot_server.sh — reboot this server. No arguments.
# The reboot is started in the background about a second later, so this script
# (and the SSH command running it) ends cleanly first.
# shellcheck source=jobs/lib.sh
if [[ -z ${ALFA_LIB_LOADED:-} ]]; then source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"; fi
set -euo pipefail

[[ $# -eq 0 ]] || usage_error "usage: reboot_server.sh (takes no arguments, got $#)"

step reboot
if path=$(resolve_cmd reboot); then
  args=()
elif path=$(resolve_cmd shutdown); then
  args=(-r now)
else
  die 127 "neither reboot nor shutdown is installed on this server"
fi
# check the permission now: a refusal in the background would go unseen
sudo -n -l -- "$path" "${args[@]}" >/dev/null 2>&1 </dev/null ||
  die "sudo -n $path is not allowed for $(id -un): add '$(id -un) ALL=(root) NOPASSWD: $path' to /etc/sudoers.d/alfa-cloud"
say "rebooting $(hostname 2>/dev/null || echo server) in 1 s: sudo $path${args[*]:+ ${args[*]}}"
if command -v setsid >/dev/null; then
  setsid nohup bash -c 'sleep 1; exec sudo -n -- "$@"' reboot "$path" "${args[@]}" </dev/null >/dev/null 2>&1 &
else
  nohup bash -c 'sleep 1; exec sudo -n -- "$@"' reboot "$path" "${args[@]}" </dev/null >/dev/null 2>&1 &
fi
say "reboot scheduled"
