#!/usr/bin/env bash
# Inbound webhook throughput: verified (HMAC-SHA256) + transformed (jq) + committed (SQLite,
# synchronous=FULL) webhooks per second and latency, next to a bare axum handler answering
# 200, measured in the same run with the same wrk settings. Then p99 at half the measured
# rate (wrk2-style fixed rate is not available in wrk; half the connections are used instead).
# Usage: benches/hooks/run.sh [duration, default 10s]. Needs wrk, openssl and a built
# `switchboard` (release profile) and `hooks_bare` bench binary (built here).
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${1:-10s}
CONNS=${CONNS:-64}
THREADS=${THREADS:-2}
PROFILE=${PROFILE:-release}
TARGET=${CARGO_TARGET_DIR:-target}

# SWITCHBOARD_BIN names a prebuilt binary (benches/compare.sh); otherwise it is built here.
# HOOKS_BARE=0 skips the bare handler.
if [ -z "${SWITCHBOARD_BIN:-}" ]; then cargo build --profile "$PROFILE" --bin switchboard >&2; fi
BARE=""
[ "${HOOKS_BARE:-1}" = 0 ] || BARE=$(cargo bench --profile "$PROFILE" --bench hooks_bare --no-run --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m["target"]["name"]=="hooks_bare" and m.get("executable"): print(m["executable"])')
BIN="${SWITCHBOARD_BIN:-$TARGET/$PROFILE/switchboard}"
[ "$PROFILE" = dev ] && [ -z "${SWITCHBOARD_BIN:-}" ] && BIN="$TARGET/debug/switchboard"

WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/manifests"
cat > "$WORK/manifests/bench.yaml" <<'YAML'
apiVersion: v1
kind: Secret
metadata: {name: bench-key, namespace: bench, labels: {switchboard.dev/usable: "true"}}
stringData: {secret: bench-secret}
---
apiVersion: switchboard.dev/v1alpha1
kind: Transformation
metadata: {name: reshape, namespace: bench}
spec:
  jq: '{order: .id, total: (.amount / 100), customer: .customer.email, items: (.items | length)}'
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {name: orders, namespace: bench}
spec:
  verify:
    scheme: Hmac
    secretRef: {name: bench-key}
    hmac: {header: X-Signature}
  transformationRef: {name: reshape}
  route: {publish: {eventType: order.created}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {name: audit, namespace: bench}
spec:
  url: https://audit.example.com/events
  eventTypes: ["*"]
  signing: {scheme: None}
  # Suspended: every webhook still commits its delivery row, but nothing leaves the machine.
  suspend: true
YAML

export BODY='{"id":"ord_123","amount":4200,"customer":{"email":"ada@example.com"},"items":[{"sku":"a"},{"sku":"b"}]}'
export SIG=$(printf '%s' "$BODY" | openssl dgst -sha256 -hmac bench-secret -hex | sed 's/^.*= //')

"$BIN" run --manifests "$WORK/manifests" --data-dir "$WORK/data" --listen 127.0.0.1:18098 \
  --admin-listen 127.0.0.1:18097 --max-inflight-per-endpoint 4096 2>"$WORK/log" &
[ -z "$BARE" ] || "$BARE" 18099 &
for _ in $(seq 100); do curl -sf http://127.0.0.1:18097/readyz >/dev/null && break; sleep 0.1; done
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H "x-signature: $SIG" -H 'content-type: application/json' --data "$BODY" http://127.0.0.1:18098/hooks/bench/orders)
[ "$code" = 202 ] || { echo "warm-up request answered $code" >&2; cat "$WORK/log" >&2; exit 1; }

run() { wrk -t"$THREADS" -c"$2" -d"$DURATION" --latency -s benches/hooks/post.lua "$1" | grep RESULT; }
[ -z "$BARE" ] || echo "bare axum 200   c=$CONNS: $(run http://127.0.0.1:18099/hooks/bench/orders "$CONNS")"
echo "switchboard     c=$CONNS: $(run http://127.0.0.1:18098/hooks/bench/orders "$CONNS")"
echo "switchboard     c=$((CONNS / 2)): $(run http://127.0.0.1:18098/hooks/bench/orders $((CONNS / 2)))"
[ -z "$BARE" ] || echo "bare axum 200   c=$((CONNS / 2)): $(run http://127.0.0.1:18099/hooks/bench/orders $((CONNS / 2)))"
