#!/usr/bin/env bash
# The jq side of the transformation benchmark: records/s of the same three programs on the
# same inputs as benches/transform.rs, measured in ONE jq process per program (N records
# streamed through `jq -c`), so process start-up is not counted.
# Needs the Debian package `jq`. Usage: benches/jq_reference.sh [N]
set -euo pipefail
cd "$(dirname "$0")/data"
command -v jq >/dev/null || { echo "jq is not installed (apt-get install -y jq)" >&2; exit 1; }
n="${1:-100000}"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
echo "jq: $(jq --version), $n records per program"
for case in map select reshape; do
    records="$n"
    [ "$case" = reshape ] && records=$(( n / 20 ))
    line="$(jq -c . "$case.json")"
    { yes "$line" || true; } | head -n "$records" > "$tmp/$case.ndjson"
    start=$(date +%s.%N)
    jq -c -f "$case.jq" < "$tmp/$case.ndjson" > /dev/null
    end=$(date +%s.%N)
    awk -v c="$case" -v r="$records" -v s="$start" -v e="$end" \
        'BEGIN { printf "%-8s %8d records in %6.2f s: %10.0f records/s\n", c, r, e - s, r / (e - s) }'
done
