#!/usr/bin/env bash
# Controller scale benchmark (not part of `make test`): creates N WebhookSubscriptions
# (default 2000, generated signing Secrets included) against a private envtest API server and
# measures the time from the first create until every one is Ready=True, and the
# controller's peak RSS (VmHWM). Needs the envtest binaries (`make envtest`). Uses the debug
# build unless SWITCHBOARD_BIN names another binary. Prints one RESULT line; see BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/.."
N="${N:-2000}"
PARALLEL="${PARALLEL:-4}"
TARGET="${CARGO_TARGET_DIR:-target}"
BIN="${SWITCHBOARD_BIN:-$TARGET/debug/switchboard}"
[ -x "$BIN" ] || cargo build --quiet --bin switchboard

WORK="$(mktemp -d)"
export ENVTEST_DIR="$WORK/envtest"
CTL_PID=""
cleanup() {
  if [ -n "${SAMPLER_PID:-}" ]; then kill "$SAMPLER_PID" 2>/dev/null || true; fi
  if [ -n "$CTL_PID" ]; then kill "$CTL_PID" 2>/dev/null || true; wait "$CTL_PID" 2>/dev/null || true; fi
  bash tests/e2e/envtest/envtest.sh down >/dev/null 2>&1 || true
  rm -rf "$WORK"
}
trap cleanup EXIT

bash tests/e2e/envtest/envtest.sh up >/dev/null
eval "$(bash tests/e2e/envtest/envtest.sh env)"
KUBECTL="$ENVTEST_BIN/kubectl"
"$KUBECTL" apply --server-side -f crds/ >/dev/null
"$KUBECTL" wait --for condition=established --timeout=60s -f crds/ >/dev/null
"$KUBECTL" create namespace bench >/dev/null

# N subscriptions in PARALLEL files.
for p in $(seq 0 $((PARALLEL - 1))); do : >"$WORK/subs-$p.yaml"; done
for i in $(seq 1 "$N"); do
  cat >>"$WORK/subs-$((i % PARALLEL)).yaml" <<YAML
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {name: sub-$i, namespace: bench}
spec:
  url: https://partner-$i.example.com/hooks
  eventTypes: ["order.*", "invoice.paid"]
YAML
done

# WRAP: a profiler to run the controller under (e.g. "heaptrack -o /tmp/heap"); its RSS
# figures are then the wrapper's.
${WRAP:-} "$BIN" controller --store "sqlite://$WORK/store.db" --namespace bench \
  --leader-election-namespace bench --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
  --status-interval 30s 2>"$WORK/controller.log" &
CTL_PID=$!
# The controller is up once it holds the Lease.
for _ in $(seq 300); do
  "$KUBECTL" get lease switchboard-leader -n bench >/dev/null 2>&1 && break
  sleep 0.1
done
RSS_IDLE_KB="$(awk '/VmRSS/ {print $2}' "/proc/$CTL_PID/status")"
# RSS_LOG: a file to receive "seconds rss_kib" samples (every 0.25 s) of the controller.
SAMPLER_PID=""
if [ -n "${RSS_LOG:-}" ]; then
  T0="$(date +%s.%N)"
  (while [ -r "/proc/$CTL_PID/status" ]; do
     printf '%s %s\n' "$(echo "$(date +%s.%N) - $T0" | bc)" \
       "$(awk '/VmRSS/ {print $2}' "/proc/$CTL_PID/status" 2>/dev/null)"
     sleep 0.25
   done) >"$RSS_LOG" 2>/dev/null &
  SAMPLER_PID=$!
fi

ready_count() {
  "$KUBECTL" get whs -n bench -o jsonpath='{range .items[*]}{.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null | grep -c '^True$' || true
}

START="$(date +%s.%N)"
CREATORS=()
for p in $(seq 0 $((PARALLEL - 1))); do
  "$KUBECTL" create -f "$WORK/subs-$p.yaml" >/dev/null &
  CREATORS+=("$!")
done
wait "${CREATORS[@]}"
CREATED="$(date +%s.%N)"
READY=0
DEADLINE=$(( $(date +%s) + 300 ))
while [ "$READY" -lt "$N" ] && [ "$(date +%s)" -lt "$DEADLINE" ]; do
  READY="$(ready_count)"
  [ "$READY" -ge "$N" ] || sleep 0.5
done
END="$(date +%s.%N)"
# HOLD_S: seconds to keep the controller running after all are Ready (RSS_LOG keeps sampling).
sleep "${HOLD_S:-0}"
HWM_KB="$(awk '/VmHWM/ {print $2}' "/proc/$CTL_PID/status")"
RSS_KB="$(awk '/VmRSS/ {print $2}' "/proc/$CTL_PID/status")"
LOAD="$(cut -d' ' -f1-3 /proc/loadavg)"
SECRETS="$("$KUBECTL" get secrets -n bench -l switchboard.dev/signing-secret-for -o name | wc -l)"
printf 'RESULT subscriptions=%s ready=%s create_s=%.1f all_ready_s=%.1f peak_rss_mib=%.1f rss_mib=%.1f idle_rss_mib=%.1f signing_secrets=%s load="%s" nproc=%s\n' \
  "$N" "$READY" "$(echo "$CREATED - $START" | bc)" "$(echo "$END - $START" | bc)" \
  "$(echo "$HWM_KB / 1024" | bc -l)" "$(echo "$RSS_KB / 1024" | bc -l)" \
  "$(echo "$RSS_IDLE_KB / 1024" | bc -l)" "$SECRETS" "$LOAD" "$(nproc)"
[ "$READY" -ge "$N" ]
