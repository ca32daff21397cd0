#!/usr/bin/env bash
# helm-argocd-lua.sh — print the path of a Lua 5.4 interpreter for the Argo CD health-check
# tests (tests/argocd_health.rs), installing Debian's lua5.4 with apt-get when it is missing
# and this runs as root. Exit 1 (with a note on stderr) when none can be had.
set -euo pipefail

log() { printf 'helm-argocd-lua: %s\n' "$*" >&2; }

find_lua() {
  local c
  for c in lua5.4 lua; do
    if command -v "$c" >/dev/null && "$c" -v 2>&1 | grep -q '^Lua 5\.4'; then
      command -v "$c"
      return 0
    fi
  done
  return 1
}

if find_lua; then exit 0; fi
if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null; then
  log "lua5.4 is not installed and cannot be installed here (need root and apt-get)"
  exit 1
fi
# One installer at a time (several test binaries may ask at once).
exec 9>/tmp/switchboard-lua-install.lock
flock 9
if find_lua; then exit 0; fi
log "installing lua5.4 with apt-get"
export DEBIAN_FRONTEND=noninteractive
apt-get install -y -qq --no-install-recommends lua5.4 >&2 \
  || { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends lua5.4 >&2; }
find_lua || { log "lua5.4 was installed but is not on PATH"; exit 1; }
