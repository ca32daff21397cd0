#!/usr/bin/env bash
# Memory with 1,000,000 pending retries: they live in the store, so the process's RSS should
# not grow with them. Run from the repository root after `cargo build --release`:
#   benches/pending_retries.sh [COUNT]      (SWITCHBOARD_BIN picks another binary)
#
# 1. Starts `switchboard run` (SQLite) with one subscription whose destination refuses
#    connections (a retryable failure) and a one-hour retry schedule; records RSS idle.
# 2. Publishes 2,000 events through the API: each is attempted once, fails, and waits as a
#    Pending retry. Records RSS.
# 3. Stops it and adds COUNT more pending retries straight into the database, shaped as the
#    engine writes them (an event, a Pending delivery after one attempt, its attempt record),
#    their due times spread over the next hour (≈ COUNT/3600 come due per second).
# 4. Starts it again on that store and records RSS every 10 s for a minute, with the count of
#    seeded retries attempted again meanwhile (about one a second were in the first runs:
#    the failing subscription's breaker and queue hold the rest back in the store).
set -euo pipefail

COUNT=${1:-1000000}
BIN=${SWITCHBOARD_BIN:-${CARGO_TARGET_DIR:-target}/release/switchboard}
TOKEN=bench-token
tmp=$(mktemp -d)
trap 'kill "${pid:-}" 2>/dev/null || true; rm -rf "$tmp"' EXIT
mkdir -p "$tmp/m" "$tmp/d"
closed_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$tmp/m/bench.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata: {name: publisher, namespace: bench, labels: {switchboard.dev/publisher-token: "true"}}
stringData: {token: $TOKEN}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookSubscription
metadata: {name: down, namespace: bench}
spec:
  url: http://127.0.0.1:$closed_port/hook
  eventTypes: ["bench.*"]
  retry: {schedule: ["1h", "1h"]}
  circuitBreaker: {failureThreshold: 1000, openDuration: 1s}
EOF

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
admin=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
db="$tmp/d/switchboard.db"

start() {
    RUST_LOG=warn "$BIN" run --manifests "$tmp/m" --data-dir "$tmp/d" --allow-private-destinations \
        --listen "127.0.0.1:$port" --admin-listen "127.0.0.1:$admin" 2>/dev/null &
    pid=$!
    for _ in $(seq 1 200); do
        curl -fs "http://127.0.0.1:$admin/readyz" >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "switchboard did not become ready" >&2
    exit 1
}
rss() { awk '/VmRSS/ {printf "%.1f MiB", $2/1024}' "/proc/$pid/status"; }
stop() { kill -TERM "$pid"; wait "$pid" 2>/dev/null || true; pid=; }
count() { sqlite3 "$db" "SELECT count(*) FROM deliveries WHERE status = '$1'"; }

start
sleep 3
echo "RESULT idle, empty store: rss=$(rss)"

seq 1 2000 | xargs -P 8 -I{} curl -fs -o /dev/null -H "authorization: Bearer $TOKEN" \
    -H 'content-type: application/json' \
    -d '{"type":"bench.event","data":{"n":{},"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}}' \
    "http://127.0.0.1:$port/v1/namespaces/bench/events"
for _ in $(seq 1 100); do
    [ "$(sqlite3 "$db" "SELECT count(*) FROM deliveries WHERE attempts = 0")" = 0 ] && break
    sleep 0.2
done
echo "RESULT after 2,000 failed deliveries: pending=$(count Pending) rss=$(rss)"
stop

# COUNT more retries, shaped like the engine's: attempted once, failed, due within the hour.
now_us=$(($(date +%s) * 1000000))
sqlite3 "$db" <<EOF
PRAGMA synchronous = OFF;
BEGIN;
CREATE TEMP TABLE n AS WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < $COUNT) SELECT i FROM c;
INSERT INTO events (namespace, id, event_type, source, payload, received_at)
  SELECT 'bench', 'seeded-' || i, 'bench.event', 'publish-api',
         '{"n":' || i || ',"pad":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}', $now_us
  FROM n;
INSERT INTO deliveries (id, event_namespace, event_id, target_namespace, target_kind, target_name,
                        status, attempts, next_attempt_at, last_error, created_at)
  SELECT printf('00000000-0000-7000-8000-%012d', i), 'bench', 'seeded-' || i, 'bench',
         'subscription', 'down', 'Pending', 1, $now_us + 5000000 + i * (3600000000 / $COUNT),
         'connection refused', $now_us
  FROM n;
INSERT INTO attempts (delivery_id, n, started_at, duration_ms, request, response_status,
                      response_headers, response_body, error)
  SELECT printf('00000000-0000-7000-8000-%012d', i), 1, $now_us, 1,
         'POST http://127.0.0.1:$closed_port/hook', NULL, '[]', '', 'connection refused'
  FROM n;
COMMIT;
EOF
echo "RESULT seeded: pending=$(count Pending) db=$(du -m "$db" | cut -f1) MiB"

start
for t in 0 10 20 30 40 50 60; do
    [ "$t" = 0 ] || sleep 10
    echo "RESULT ${t}s after restart with $(count Pending) pending: rss=$(rss) attempts_made_since=$(sqlite3 "$db" "SELECT count(*) FROM attempts WHERE n > 1")"
done
stop
