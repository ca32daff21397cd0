#!/usr/bin/env bash
# "Under attack" figures for BENCHMARKS.md, for one or more builds side by side:
#  1. the jq memory bomb: an endpoint whose transformation is `"x" * 1000000000 | length`,
#     one request: its answer and the process's peak RSS (VmHWM);
#  2. 64 concurrent 1 MiB JSON arrays of numbers to an unauthenticated endpoint: peak RSS;
#  3. a neighbouring namespace's transformation latency (median and slowest of 20 sequential
#     requests idle, of 10 while 100 concurrent runaway requests run in another namespace).
# Usage: benches/attack.sh BIN [BIN…]   (each a `switchboard` binary; loopback only)
# ATTACK_CASES=bomb,arrays,neighbour (the default) picks the cases.
set -euo pipefail
cd "$(dirname "$0")/.."
[ $# -ge 1 ] || { echo "usage: $0 BIN [BIN…]" >&2; exit 2; }
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/manifests"
cat > "$WORK/manifests/attack.yaml" <<'YAML'
apiVersion: switchboard.dev/v1alpha1
kind: Transformation
metadata: {name: bomb, namespace: evil}
spec:
  jq: '"x" * 1000000000 | length'
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {name: bomb, namespace: evil}
spec:
  verify: {scheme: None}
  transformationRef: {name: bomb}
  route: {publish: {eventType: bomb}}
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {name: nums, namespace: evil}
spec:
  verify: {scheme: None}
  route: {publish: {eventType: nums}}
---
apiVersion: switchboard.dev/v1alpha1
kind: Transformation
metadata: {name: runaway, namespace: evil}
spec:
  jq: 'reduce range(0; 100000000) as $i (0; . + 1)'
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {name: runaway, namespace: evil}
spec:
  verify: {scheme: None}
  transformationRef: {name: runaway}
  route: {publish: {eventType: runaway}}
---
apiVersion: switchboard.dev/v1alpha1
kind: Transformation
metadata: {name: work, namespace: good}
spec:
  jq: '{total: (reduce range(0; 20000) as $i (0; . + $i)), id: .id}'
---
apiVersion: switchboard.dev/v1alpha1
kind: WebhookEndpoint
metadata: {name: work, namespace: good}
spec:
  verify: {scheme: None}
  transformationRef: {name: work}
  route: {publish: {eventType: work}}
YAML

start() {
  rm -rf "$WORK/data"
  "$1" run --manifests "$WORK/manifests" --data-dir "$WORK/data" --listen 127.0.0.1:18198 \
    --admin-listen 127.0.0.1:18197 2>"$WORK/log" &
  PID=$!
  for _ in $(seq 200); do curl -sf http://127.0.0.1:18197/readyz >/dev/null && return; sleep 0.05; done
  echo "did not start" >&2; cat "$WORK/log" >&2; exit 1
}
stop() { kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; }
hwm() { awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$PID/status"; }

python3 - <<'PY' > "$WORK/nums.json"
import json, random
random.seed(1)
out, n = [], 2
while n < 1000 * 1000:
    v = random.randint(0, 10**6)
    out.append(v); n += len(str(v)) + 1
print(json.dumps(out, separators=(",", ":")))
PY

CASES=${ATTACK_CASES:-bomb,arrays,neighbour}
has() { case ",$CASES," in *",$1,"*) return 0 ;; *) return 1 ;; esac; }
for BIN in "$@"; do
  echo "## $BIN"
  if has bomb; then
  start "$BIN"
  code=$(curl -s -o "$WORK/answer" -w '%{http_code}' --max-time 120 -X POST \
    -H 'content-type: application/json' --data '{}' http://127.0.0.1:18198/hooks/evil/bomb || true)
  echo "memory bomb: HTTP $code $(head -c 160 "$WORK/answer"), peak RSS $(hwm)"
  stop
  fi

  if has arrays; then
  start "$BIN"
  rm -f "$WORK/codes"
  for _ in $(seq 64); do
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 120 -X POST -H 'content-type: application/json' \
      --data-binary @"$WORK/nums.json" http://127.0.0.1:18198/hooks/evil/nums >>"$WORK/codes" &
  done
  wait $(jobs -p | grep -v "^$PID$") 2>/dev/null || true
  echo "64 x 1 MB numeric arrays: answers $(sort "$WORK"/codes | uniq -c | tr -s ' \n' ' '), peak RSS $(hwm)"
  stop
  fi

  has neighbour || continue
  start "$BIN"
  python3 - <<'PY'
import json, threading, time, urllib.request
URL = "http://127.0.0.1:18198/hooks/{}"
def post(path, body=b'{"id": 1}', timeout=120):
    req = urllib.request.Request(URL.format(path), data=body, method="POST",
                                 headers={"content-type": "application/json"})
    started = time.monotonic()
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            r.read()
    except Exception:
        pass
    return time.monotonic() - started
def sample(n):
    t = sorted(post("good/work") for _ in range(n))
    return t[len(t) // 2] * 1000, t[-1] * 1000
idle = sample(20)
stop = threading.Event()
def runaway():
    while not stop.is_set():
        post("evil/runaway")
threads = [threading.Thread(target=runaway, daemon=True) for _ in range(100)]
for t in threads: t.start()
time.sleep(2)
busy = sample(10)
stop.set()
print(f"neighbour median/slowest: idle {idle[0]:.1f}/{idle[1]:.1f} ms, with 100 runaway requests in another namespace {busy[0]:.1f}/{busy[1]:.1f} ms ({busy[1] / max(idle[1], 0.001):.1f}x)")
PY
  stop
done
