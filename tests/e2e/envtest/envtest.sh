#!/usr/bin/env bash
# envtest.sh — build and run a real kube-apiserver + etcd (+ kubectl) on loopback.
#
#   envtest.sh build   build (or reuse) the binaries; prints the bin dir as the only stdout line
#   envtest.sh path    same as build (prints the bin dir, building if needed)
#   envtest.sh up      start etcd + kube-apiserver in the background (idempotent)
#   envtest.sh down    stop them (idempotent)
#   envtest.sh status  exit 0 if up and healthy
#   envtest.sh env     print shell exports (KUBECONFIG, ENVTEST_BIN, ...) for an instance that is up
#
# Environment:
#   ENVTEST_DIR        instance directory (default: $REPO/target/envtest); data, logs, certs,
#                      pid files and kubeconfigs live here, so a test can run a private instance
#   ENVTEST_CACHE      binary cache root (default: ${XDG_CACHE_HOME:-$HOME/.cache}/switchboard/envtest)
#   ENVTEST_UP_TIMEOUT seconds to wait for /readyz (default 60)
#
# Only the three binaries are built, with -trimpath and -ldflags='-s -w', from the pinned
# module versions in go.mod (k8s.io/kubernetes) and etcd/go.mod (go.etcd.io/etcd/server/v3).
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../../.." && pwd)"

log() { printf 'envtest: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

modver() { # modver FILE MODULE -> version required in FILE
  awk -v m="$2" '$1 == m && $2 ~ /^v/ { print $2; exit } $1 == "require" && $2 == m { print $3; exit }' "$1"
}

K8S_VERSION="$(modver "$HERE/go.mod" k8s.io/kubernetes)"
ETCD_VERSION="$(modver "$HERE/etcd/go.mod" go.etcd.io/etcd/server/v3)"
[[ -n "$K8S_VERSION" && -n "$ETCD_VERSION" ]] || die "cannot read pinned versions from go.mod files"

CACHE_ROOT="${ENVTEST_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/switchboard/envtest}"
BIN_DIR="$CACHE_ROOT/k8s-${K8S_VERSION#v}-etcd-${ETCD_VERSION#v}/bin"
BINARIES=(etcd kube-apiserver kubectl)

ENVTEST_DIR="${ENVTEST_DIR:-$REPO/target/envtest}"

have_binaries() {
  local b
  for b in "${BINARIES[@]}"; do [[ -x "$BIN_DIR/$b" ]] || return 1; done
}

# ---------------------------------------------------------------------------------------------
# build
# ---------------------------------------------------------------------------------------------
do_build() {
  have_binaries && return 0
  command -v go >/dev/null || die "go is not installed (need Go >= 1.26)"
  mkdir -p "$BIN_DIR"
  # One builder at a time per cache dir; others wait and then reuse its result.
  exec 9>"$BIN_DIR/.build.lock"
  if ! flock -n 9; then
    log "another build of $BIN_DIR is running; waiting for it"
    flock 9
  fi
  if have_binaries; then exec 9>&-; return 0; fi

  local tmp start
  tmp="$(mktemp -d "$BIN_DIR/.build.XXXXXX")"
  # shellcheck disable=SC2064
  trap "rm -rf '$tmp'" EXIT
  start=$(date +%s)

  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local ldk="-s -w"
  local key val
  for kv in "gitVersion=$K8S_VERSION" gitMajor=1 "gitMinor=$minor" gitTreeState=clean \
            "buildDate=1970-01-01T00:00:00Z"; do
    key="${kv%%=*}"; val="${kv#*=}"
    ldk+=" -X k8s.io/component-base/version.$key=$val -X k8s.io/client-go/pkg/version.$key=$val"
  done

  # nice: other engineers' builds share this machine. -mod=readonly: go.sum is committed.
  export CGO_ENABLED=0 GOFLAGS="${ENVTEST_GOFLAGS:--mod=readonly}"
  local missing=()
  for b in kube-apiserver kubectl; do [[ -x "$BIN_DIR/$b" ]] || missing+=("k8s.io/kubernetes/cmd/$b"); done
  if ((${#missing[@]})); then
    log "building ${missing[*]##*/} from k8s.io/kubernetes@$K8S_VERSION (this takes a while the first time)"
    (cd "$HERE" && nice -n 10 go build -trimpath -ldflags="$ldk" -o "$tmp/" "${missing[@]}") >&2 \
      || die "go build of kubernetes binaries failed"
  fi
  if [[ ! -x "$BIN_DIR/etcd" ]]; then
    log "building etcd from go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    (cd "$HERE/etcd" && nice -n 10 go build -trimpath -ldflags='-s -w' -o "$tmp/etcd" go.etcd.io/etcd/server/v3) >&2 \
      || die "go build of etcd failed"
  fi
  # Atomic install: each binary appears under its final name only once it is complete.
  for b in "${BINARIES[@]}"; do
    [[ -f "$tmp/$b" ]] && mv -f "$tmp/$b" "$BIN_DIR/$b"
  done
  rm -rf "$tmp"; trap - EXIT
  exec 9>&-
  have_binaries || die "build finished but binaries are missing in $BIN_DIR"
  log "built in $(( $(date +%s) - start ))s into $BIN_DIR"
}

cmd_build() { do_build; printf '%s\n' "$BIN_DIR"; }

# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------
case "${1:-}" in
  build|path) cmd_build ;;
  *) echo "usage: $0 {build|path|up|down|status|env}" >&2; exit 2 ;;
esac
