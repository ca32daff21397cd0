#!/usr/bin/env bash
# helm.sh — build (once) and locate the pinned helm CLI used by the chart tests.
#
#   helm.sh build   build (or reuse) helm; prints the path of the binary as the only stdout line
#   helm.sh path    same as build
#   helm.sh cached  print the path and exit 0 if helm is built; exit 1 (never builds)
#
# Environment:
#   HELM_TOOL_CACHE  cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/switchboard/helm)
#   HELM_GOFLAGS     GOFLAGS for the build (default: -mod=readonly -buildvcs=false)
#
# helm is built from the version pinned in go.mod (helm.sh/helm/v4) with go.sum committed,
# CGO_ENABLED=0 -trimpath -ldflags='-s -w', into <cache>/<version>/bin/helm. A build writes into
# a .partial.* directory and moves the finished binary into place, so an interrupted build never
# leaves a half binary; concurrent builds serialise on a lock file and reuse the first's result.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

log() { printf 'helm-tool: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

HELM_MODULE=helm.sh/helm/v4
HELM_VERSION="$(awk -v m="$HELM_MODULE" '$1 == m && $2 ~ /^v/ { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$HERE/go.mod")"
[[ -n "$HELM_VERSION" ]] || die "cannot read the pinned $HELM_MODULE version from $HERE/go.mod"

CACHE_ROOT="${HELM_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/switchboard/helm}"
BIN_DIR="$CACHE_ROOT/${HELM_VERSION#v}/bin"
HELM_BIN="$BIN_DIR/helm"

do_build() {
  [[ -x "$HELM_BIN" ]] && return 0
  command -v go >/dev/null || die "go is not installed (need Go >= 1.26)"
  mkdir -p "$BIN_DIR"
  exec 9>"$BIN_DIR/.lock"
  if ! flock -n 9; then
    log "another build of $HELM_BIN is running; waiting for it"
    flock 9
  fi
  if [[ -x "$HELM_BIN" ]]; then exec 9>&-; return 0; fi
  rm -rf "$BIN_DIR"/.partial.*   # left by an interrupted build (we hold the lock)

  local tmp start
  tmp="$(mktemp -d "$BIN_DIR/.partial.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  start=$(date +%s)
  # The same version stamps as helm's own release Makefile (`helm version` says $HELM_VERSION).
  local ld="-s -w -X $HELM_MODULE/internal/version.version=$HELM_VERSION"
  ld+=" -X $HELM_MODULE/internal/version.metadata= -X $HELM_MODULE/internal/version.gitTreeState=clean"
  export CGO_ENABLED=0 GOFLAGS="${HELM_GOFLAGS:--mod=readonly -buildvcs=false}"
  log "building helm from $HELM_MODULE@$HELM_VERSION (a few minutes the first time)"
  (cd "$HERE" && nice -n 10 go build -trimpath -ldflags="$ld" -o "$tmp/helm" "$HELM_MODULE/cmd/helm") >&2 \
    || die "go build of helm failed"
  mv -f "$tmp/helm" "$HELM_BIN"
  rm -rf "$tmp"; trap - EXIT
  exec 9>&-
  [[ -x "$HELM_BIN" ]] || die "build finished but $HELM_BIN is missing"
  log "built in $(( $(date +%s) - start ))s: $HELM_BIN"
}

case "${1:-path}" in
  build|path) do_build; printf '%s\n' "$HELM_BIN" ;;
  cached) [[ -x "$HELM_BIN" ]] || exit 1; printf '%s\n' "$HELM_BIN" ;;
  *) die "usage: helm.sh build|path|cached" ;;
esac
