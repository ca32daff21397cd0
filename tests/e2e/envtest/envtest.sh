#!/usr/bin/env bash
# envtest.sh — build and run a real kube-apiserver + etcd (+ kubectl) on loopback.
#
#   envtest.sh build   build (or reuse) the binaries; prints the bin dir as the only stdout line
#   envtest.sh path    same as build (prints the bin dir, building if needed)
#   envtest.sh cached  print the bin dir and exit 0 if the binaries are built; exit 1 (never builds)
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

ENVTEST_DIR="$(realpath -m "${ENVTEST_DIR:-$REPO/target/envtest}")"

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
  exec 9>"$BIN_DIR/.lock"
  if ! flock -n 9; then
    log "another build of $BIN_DIR is running; waiting for it"
    flock 9
  fi
  if have_binaries; then exec 9>&-; return 0; fi
  rm -rf "$BIN_DIR"/.partial.*   # left by an interrupted build (we hold the lock)

  local tmp start
  tmp="$(mktemp -d "$BIN_DIR/.partial.XXXXXX")"
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
  export CGO_ENABLED=0 GOFLAGS="${ENVTEST_GOFLAGS:--mod=readonly -buildvcs=false}"
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

cmd_cached() { have_binaries || return 1; printf '%s\n' "$BIN_DIR"; }

# ---------------------------------------------------------------------------------------------
# instance layout
# ---------------------------------------------------------------------------------------------
CERTS="$ENVTEST_DIR/certs"
ETCD_DATA="$ENVTEST_DIR/etcd-data"
LOGS="$ENVTEST_DIR/logs"
ADMIN_KUBECONFIG="$ENVTEST_DIR/kubeconfig"
TENANT_KUBECONFIG="$ENVTEST_DIR/tenant.kubeconfig"
ENV_FILE="$ENVTEST_DIR/env"
TENANT_NAMESPACE=tenant-a

lock_instance() {
  mkdir -p "$ENVTEST_DIR"
  exec 8>"$ENVTEST_DIR/.lock"
  flock 8
}

# pid_of NAME -> pid if the pid file names a live NAME process of this ENVTEST_DIR
pid_of() {
  local f="$ENVTEST_DIR/$1.pid" pid
  [[ -f "$f" ]] || return 1
  pid="$(<"$f")"
  [[ "$pid" =~ ^[0-9]+$ ]] || return 1
  is_ours "$pid" "$1" || return 1
  printf '%s\n' "$pid"
}

# is_ours PID NAME: PID is a live NAME process whose command line mentions ENVTEST_DIR
is_ours() {
  local cmd
  [[ -r "/proc/$1/cmdline" ]] || return 1
  cmd="$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline")" 2>/dev/null || return 1
  [[ "$cmd" == *"/$2 "* || "$cmd" == "$2 "* ]] || return 1
  [[ "$cmd" == *"$ENVTEST_DIR/"* ]]
}

# running PID: the process exists and is not a zombie. (Start-up checks use this rather than
# is_ours: /proc/PID/cmdline can read empty while the process is in execve.)
running() {
  local st
  st="$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" || return 1
  [[ -n "$st" && "$st" != Z && "$st" != X ]]
}

# every NAME process of this ENVTEST_DIR, with or without a pid file
all_pids_of() {
  local p
  for p in $(pgrep -x "$1" 2>/dev/null || true); do
    is_ours "$p" "$1" && printf '%s\n' "$p"
  done
  return 0
}

# shellcheck disable=SC1090
read_env() { [[ -f "$ENV_FILE" ]] && source "$ENV_FILE"; }

readyz() { # readyz URL TOKEN -> 0 if /readyz says ok
  local out
  if command -v curl >/dev/null; then
    out="$(curl -sS --max-time 2 --cacert "$CERTS/ca.crt" -H "Authorization: Bearer $2" "$1/readyz" 2>/dev/null)" || return 1
  else
    out="$("$BIN_DIR/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" --request-timeout=2s get --raw /readyz 2>/dev/null)" || return 1
  fi
  [[ "$out" == ok ]]
}

healthy() {
  pid_of etcd >/dev/null && pid_of kube-apiserver >/dev/null && read_env || return 1
  readyz "$ENVTEST_APISERVER_URL" "$ENVTEST_ADMIN_TOKEN"
}

free_ports() { # free_ports N -> N distinct free loopback TCP ports, one a line
  if command -v python3 >/dev/null && python3 - "$1" <<'PY' 2>/dev/null; then return 0; fi
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s)
print("\n".join(str(s.getsockname()[1]) for s in socks))
PY
  # fallback: random high ports nobody is listening on
  local n=0 p seen=" "
  while ((n < $1)); do
    p=$((20000 + RANDOM % 12000))
    [[ "$seen" == *" $p "* ]] && continue
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then printf '%s\n' "$p"; seen+="$p "; n=$((n + 1)); fi
  done
}

# ---------------------------------------------------------------------------------------------
# certificates and credentials (generated once per ENVTEST_DIR)
# ---------------------------------------------------------------------------------------------
gen_credentials() {
  mkdir -p "$CERTS"
  if [[ ! -s "$CERTS/serving.crt" || ! -s "$CERTS/sa.key" || ! -s "$CERTS/tokens.csv" ]]; then
    command -v openssl >/dev/null || die "openssl is required"
    local t; t="$(mktemp -d "$CERTS/.gen.XXXXXX")"
    (
      cd "$t"
      openssl ecparam -name prime256v1 -genkey -noout -out ca.key
      openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=switchboard-envtest-ca" \
        -addext "basicConstraints=critical,CA:TRUE" \
        -addext "keyUsage=critical,keyCertSign,cRLSign,digitalSignature" \
        -addext "subjectKeyIdentifier=hash" -out ca.crt
      openssl ecparam -name prime256v1 -genkey -noout -out serving.key
      openssl req -new -key serving.key -subj "/CN=kube-apiserver" -out serving.csr
      cat >serving.ext <<'EXT'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid
subjectAltName=IP:127.0.0.1,IP:::1,IP:10.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
EXT
      openssl x509 -req -in serving.csr -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 \
        -days 3650 -extfile serving.ext -out serving.crt
      # service-account token signing key pair (TokenRequest / TokenReview)
      openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out sa.key
      openssl pkey -in sa.key -pubout -out sa.pub
      # static bearer tokens: admin (system:masters) and a tenant user (group tenants)
      printf '%s,admin,envtest-admin,"system:masters"\n' "$(openssl rand -hex 24)" >tokens.csv
      printf '%s,tenant,envtest-tenant,"tenants"\n' "$(openssl rand -hex 24)" >>tokens.csv
      rm -f serving.csr serving.ext ca.srl
      chmod 600 ./*.key tokens.csv
    ) >/dev/null 2>"$t/openssl.log" || { cat "$t/openssl.log" >&2; rm -rf "$t"; die "certificate generation failed"; }
    rm -f "$t/openssl.log"
    mv -f "$t"/* "$CERTS/" && rmdir "$t"
  fi
  ENVTEST_ADMIN_TOKEN="$(awk -F, '$2 == "admin" { print $1 }' "$CERTS/tokens.csv")"
  ENVTEST_TENANT_TOKEN="$(awk -F, '$2 == "tenant" { print $1 }' "$CERTS/tokens.csv")"
}

write_kubeconfig() { # write_kubeconfig FILE USER TOKEN NAMESPACE
  local ca; ca="$(base64 -w0 <"$CERTS/ca.crt")"
  umask 077
  cat >"$1.tmp" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: envtest
  cluster:
    server: $ENVTEST_APISERVER_URL
    certificate-authority-data: $ca
users:
- name: $2
  user:
    token: $3
contexts:
- name: envtest-$2
  context:
    cluster: envtest
    user: $2
    namespace: $4
current-context: envtest-$2
EOF
  mv -f "$1.tmp" "$1"
}

# ---------------------------------------------------------------------------------------------
# up / down
# ---------------------------------------------------------------------------------------------
# start_bg NAME BINARY ARGS... : detached in its own session, so it outlives this script. A small
# bash parent stays behind to reap the server when it exits: the servers are orphans, and init
# may be slow to reap them (pgrep would list the zombie meanwhile). The pid file names the server.
start_bg() {
  local name="$1"; shift
  rm -f "$ENVTEST_DIR/$name.pid"
  # shellcheck disable=SC2016
  setsid bash -c '"$@" & echo $! >"$0"; wait $!' "$ENVTEST_DIR/$name.pid" "$@" \
    </dev/null >"$LOGS/$name.log" 2>&1 8>&- 9>&- &
  for _ in $(seq 50); do [[ -s "$ENVTEST_DIR/$name.pid" ]] && return 0; sleep 0.02; done
  die "$name did not start"
}

stop_proc() { # stop_proc NAME: SIGTERM, then SIGKILL after a grace period
  local name="$1" pids p
  pids="$( { pid_of "$name" || true; all_pids_of "$name"; } | sort -u)"
  if [[ -n "$pids" ]]; then
    log "stopping $name (pid ${pids//$'\n'/ })"
    for p in $pids; do kill -TERM "$p" 2>/dev/null || true; done
    for _ in $(seq 50); do                       # up to 5 s
      local alive=""
      for p in $pids; do kill -0 "$p" 2>/dev/null && is_ours "$p" "$name" && alive+="$p "; done
      [[ -z "$alive" ]] && break
      sleep 0.1
    done
    for p in $pids; do
      if kill -0 "$p" 2>/dev/null && is_ours "$p" "$name"; then
        log "$name (pid $p) ignored SIGTERM; sending SIGKILL"; kill -KILL "$p" 2>/dev/null || true
      fi
    done
    # Wait until they are gone from the process table, not just dead (see start_bg). Bounded: a
    # zombie holds no ports.
    for _ in $(seq 100); do
      local alive=""
      for p in $pids; do [[ -e "/proc/$p" ]] && alive+="$p "; done
      [[ -z "$alive" ]] && break
      sleep 0.1
    done
  fi
  rm -f "$ENVTEST_DIR/$name.pid"
}

do_down() {
  stop_proc kube-apiserver
  stop_proc etcd
  rm -rf "$ETCD_DATA"
}

wait_port_or_exit() { # wait until NAME answers on URL, or fail if the process died
  local name="$1" check="$2" deadline=$(( $(date +%s) + ${ENVTEST_UP_TIMEOUT:-60} ))
  while :; do
    eval "$check" && return 0
    if ! running "$(<"$ENVTEST_DIR/$name.pid")"; then
      log "$name exited during start-up; last log lines ($LOGS/$name.log):"
      tail -n 25 "$LOGS/$name.log" >&2 || true
      return 1
    fi
    if (( $(date +%s) >= deadline )); then
      log "$name not ready after ${ENVTEST_UP_TIMEOUT:-60}s; last log lines ($LOGS/$name.log):"
      tail -n 25 "$LOGS/$name.log" >&2 || true
      return 1
    fi
    sleep 0.1
  done
}

start_servers() {
  local ports etcd_port peer_port api_port
  ports="$(free_ports 3)"
  { read -r etcd_port; read -r peer_port; read -r api_port; } <<<"$ports"
  ENVTEST_ETCD_URL="http://127.0.0.1:$etcd_port"
  ENVTEST_APISERVER_URL="https://127.0.0.1:$api_port"

  rm -rf "$ETCD_DATA"; mkdir -p "$ETCD_DATA" "$LOGS"
  chmod 700 "$ETCD_DATA"
  start_bg etcd "$BIN_DIR/etcd" \
    --name=envtest \
    --data-dir="$ETCD_DATA" \
    --listen-client-urls="$ENVTEST_ETCD_URL" \
    --advertise-client-urls="$ENVTEST_ETCD_URL" \
    --listen-peer-urls="http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls="http://127.0.0.1:$peer_port" \
    --initial-cluster="envtest=http://127.0.0.1:$peer_port" \
    --initial-cluster-state=new \
    --unsafe-no-fsync=true \
    --log-level=warn
  wait_port_or_exit etcd \
    "curl -fsS --max-time 1 '$ENVTEST_ETCD_URL/health' 2>/dev/null | grep -q '\"health\":\"true\"'" || return 1

  start_bg kube-apiserver "$BIN_DIR/kube-apiserver" \
    --etcd-servers="$ENVTEST_ETCD_URL" \
    --bind-address=127.0.0.1 \
    --advertise-address=127.0.0.1 \
    --secure-port="$api_port" \
    --cert-dir="$CERTS" \
    --tls-cert-file="$CERTS/serving.crt" \
    --tls-private-key-file="$CERTS/serving.key" \
    --client-ca-file="$CERTS/ca.crt" \
    --token-auth-file="$CERTS/tokens.csv" \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$CERTS/sa.pub" \
    --service-account-signing-key-file="$CERTS/sa.key" \
    --authorization-mode=RBAC \
    --disable-admission-plugins=ServiceAccount \
    --service-cluster-ip-range=10.0.0.0/24 \
    --allow-privileged=false \
    --enable-priority-and-fairness=false \
    --profiling=false \
    --v=1
  # shellcheck disable=SC2016
  wait_port_or_exit kube-apiserver 'readyz "$ENVTEST_APISERVER_URL" "$ENVTEST_ADMIN_TOKEN"' || return 1
}

bootstrap_objects() {
  "$BIN_DIR/kubectl" --kubeconfig "$ADMIN_KUBECONFIG" apply --server-side --force-conflicts \
    --field-manager=envtest -f - >/dev/null <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $TENANT_NAMESPACE
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: switchboard-tenant
  namespace: $TENANT_NAMESPACE
rules:
- apiGroups: ["switchboard.dev"]
  resources: ["*"]
  verbs: ["*"]
# Not Secrets: a tenant who may not read them must not get their values through Switchboard
# either (tests/e2e/secret_wall.rs).
- apiGroups: [""]
  resources: ["configmaps"]
  verbs: ["get", "list", "watch"]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: switchboard-tenant
  namespace: $TENANT_NAMESPACE
subjects:
- apiGroup: rbac.authorization.k8s.io
  kind: User
  name: tenant
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: switchboard-tenant
EOF
}

cmd_up() {
  local start; start=$(date +%s%N)
  do_build
  lock_instance
  gen_credentials
  if healthy; then
    log "already up and healthy: $ENVTEST_APISERVER_URL (ENVTEST_DIR=$ENVTEST_DIR)"
    return 0
  fi
  # partial or stale instance: clean up first
  if pid_of etcd >/dev/null || pid_of kube-apiserver >/dev/null \
     || [[ -n "$(all_pids_of etcd)$(all_pids_of kube-apiserver)" ]]; then
    log "found a partial instance; restarting it"
  fi
  do_down
  rm -f "$ENV_FILE" "$ADMIN_KUBECONFIG" "$TENANT_KUBECONFIG"

  local attempt ok=""
  for attempt in 1 2 3; do      # a free port can be taken between picking and binding: retry
    if start_servers; then ok=1; break; fi
    log "start-up attempt $attempt failed"
    do_down
  done
  [[ -n "$ok" ]] || die "could not start etcd + kube-apiserver (logs in $LOGS)"

  write_kubeconfig "$ADMIN_KUBECONFIG" admin "$ENVTEST_ADMIN_TOKEN" default
  write_kubeconfig "$TENANT_KUBECONFIG" tenant "$ENVTEST_TENANT_TOKEN" "$TENANT_NAMESPACE"
  if ! bootstrap_objects; then do_down; die "could not create the tenant namespace and RBAC"; fi
  umask 077
  cat >"$ENV_FILE.tmp" <<EOF
ENVTEST_DIR='$ENVTEST_DIR'
ENVTEST_BIN='$BIN_DIR'
ENVTEST_APISERVER_URL='$ENVTEST_APISERVER_URL'
ENVTEST_ETCD_URL='$ENVTEST_ETCD_URL'
ENVTEST_CA_FILE='$CERTS/ca.crt'
ENVTEST_ADMIN_TOKEN='$ENVTEST_ADMIN_TOKEN'
ENVTEST_TENANT_TOKEN='$ENVTEST_TENANT_TOKEN'
ENVTEST_KUBECONFIG='$ADMIN_KUBECONFIG'
ENVTEST_TENANT_KUBECONFIG='$TENANT_KUBECONFIG'
EOF
  mv -f "$ENV_FILE.tmp" "$ENV_FILE"
  log "up in $(( ($(date +%s%N) - start) / 1000000 )) ms: $ENVTEST_APISERVER_URL, kubeconfig $ADMIN_KUBECONFIG"
}

cmd_down() {
  lock_instance
  do_down
  rm -f "$ENV_FILE"
  log "down (ENVTEST_DIR=$ENVTEST_DIR)"
}

cmd_status() {
  if [[ -d "$ENVTEST_DIR" ]] && healthy; then
    log "up: $ENVTEST_APISERVER_URL (ENVTEST_DIR=$ENVTEST_DIR)"; return 0
  fi
  log "not up (ENVTEST_DIR=$ENVTEST_DIR)"; return 1
}

cmd_env() {
  healthy || die "not up (ENVTEST_DIR=$ENVTEST_DIR); run: $0 up"
  local k
  for k in ENVTEST_DIR ENVTEST_BIN ENVTEST_APISERVER_URL ENVTEST_ETCD_URL ENVTEST_CA_FILE \
           ENVTEST_KUBECONFIG ENVTEST_TENANT_KUBECONFIG; do
    printf 'export %s=%q\n' "$k" "${!k}"
  done
  printf 'export KUBECONFIG=%q\n' "$ADMIN_KUBECONFIG"
  # shellcheck disable=SC2016
  printf 'export PATH=%q:"$PATH"\n' "$BIN_DIR"
}

# ---------------------------------------------------------------------------------------------
# main
# ---------------------------------------------------------------------------------------------
case "${1:-}" in
  build|path) cmd_build ;;
  cached) cmd_cached ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  env) cmd_env ;;
  *) echo "usage: $0 {build|path|cached|up|down|status|env}" >&2; exit 2 ;;
esac
