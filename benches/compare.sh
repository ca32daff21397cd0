#!/usr/bin/env bash
# Side-by-side benchmark of two builds (e.g. the previous main and a change), alternating them
# round by round so both see the same machine: publish (wrk, 1 KiB events), inbound webhooks
# (wrk, HMAC + jq + SQLite commit) and delivery (fan-out 1 and 10 on SQLite).
# Usage: benches/compare.sh BASE_BIN NEW_BIN [ROUNDS, default 2]
# Needs wrk and openssl; builds the delivery bench harness once (release profile).
set -euo pipefail
cd "$(dirname "$0")/.."
BASE=$1 NEW=$2 ROUNDS=${3:-2}
export DURATION=${DURATION:-10s}
# DELIVERY_HARNESS names a prebuilt delivery bench binary (it drives SWITCHBOARD_BIN only).
HARNESS=${DELIVERY_HARNESS:-}
[ -n "$HARNESS" ] || HARNESS=$(cargo bench --bench delivery --no-run --message-format=json 2>/dev/null | python3 -c 'import json,sys
for l in sys.stdin:
    m=json.loads(l)
    if m.get("reason")=="compiler-artifact" and m["target"]["name"]=="delivery" and m.get("executable"): print(m["executable"])')
unset SWITCHBOARD_TEST_POSTGRES_URL
one() {
  local label=$1 bin=$2
  echo "### $label ($bin)"
  SWITCHBOARD_BIN=$bin benches/publish/run.sh 2>/dev/null | grep -E "RESULT|==" | sed "s/^/$label publish: /"
  SWITCHBOARD_BIN=$bin HOOKS_BARE=0 benches/hooks/run.sh "$DURATION" 2>/dev/null | sed "s/^/$label inbound: /"
  SWITCHBOARD_BIN=$bin BENCH_CASE="sqlite throughput" "$HARNESS" --bench 2>/dev/null | grep RESULT | sed "s/^/$label delivery: /"
}
for round in $(seq "$ROUNDS"); do
  echo "## round $round"
  if [ $((round % 2)) = 1 ]; then one base "$BASE"; one new "$NEW"; else one new "$NEW"; one base "$BASE"; fi
done
