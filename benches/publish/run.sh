#!/usr/bin/env bash
# Publish API benchmark: accepted events/s and latency with wrk (64 connections, 1 KiB bodies)
# against `switchboard run --release`, on SQLite and (when SWITCHBOARD_TEST_POSTGRES_URL is
# set) PostgreSQL. Prints one RESULT line per store; see BENCHMARKS.md.
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION="${DURATION:-15s}"
CONNECTIONS="${CONNECTIONS:-64}"
command -v wrk >/dev/null || apt-get install -y wrk >/dev/null
# SWITCHBOARD_BIN names a prebuilt binary (benches/compare.sh); otherwise it is built here.
if [ -z "${SWITCHBOARD_BIN:-}" ]; then cargo build --release --quiet; fi
BIN="${SWITCHBOARD_BIN:-${CARGO_TARGET_DIR:-target}/release/switchboard}"

run_one() {
  local label="$1"; shift
  local tmp; tmp="$(mktemp -d)"
  # The examples' outbound URLs point at a closed loopback port: nothing leaves the machine.
  mkdir "$tmp/manifests"
  for f in config-examples/*.yaml; do
    sed -E 's#https?://[A-Za-z0-9.-]+\.[A-Za-z]{2,}(:[0-9]+)?#http://127.0.0.1:9#g' "$f" >"$tmp/manifests/$(basename "$f")"
  done
  "$BIN" run --manifests "$tmp/manifests" --allow-private-destinations --data-dir "$tmp/data" \
    --listen 127.0.0.1:18080 --admin-listen 127.0.0.1:19090 "$@" 2>"$tmp/log" &
  local pid=$!
  for _ in $(seq 100); do curl -sf http://127.0.0.1:19090/readyz >/dev/null && break; sleep 0.1; done
  # Warm up, then measure.
  wrk -t2 -c"$CONNECTIONS" -d3s -s benches/publish/publish.lua http://127.0.0.1:18080/v1/namespaces/payments/events >/dev/null
  echo "== $label ($CONNECTIONS connections, $DURATION, 1 KiB events)"
  wrk -t2 -c"$CONNECTIONS" -d"$DURATION" --latency -s benches/publish/publish.lua http://127.0.0.1:18080/v1/namespaces/payments/events | grep RESULT
  kill "$pid"; wait "$pid" || true
  rm -rf "$tmp"
}

run_one sqlite
if [ -n "${SWITCHBOARD_TEST_POSTGRES_URL:-}" ]; then
  run_one postgres --store "$SWITCHBOARD_TEST_POSTGRES_URL"
fi
