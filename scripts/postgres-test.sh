#!/usr/bin/env bash
# A throwaway PostgreSQL server for the store tests, under target/pg.
#
#   scripts/postgres-test.sh start   install PostgreSQL if needed, start it, print its URL
#   scripts/postgres-test.sh url     print the URL of the running server
#   scripts/postgres-test.sh stop    stop it
#
# The server listens on 127.0.0.1 only (a free port, kept in target/pg/port), with its unix
# socket in the cluster directory and trust authentication. It runs as the `postgres` system
# user when invoked as root (PostgreSQL refuses to run as root). Every command is idempotent.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
PGROOT="$ROOT/target/pg"
DB=switchboard

log() { echo "postgres-test: $*" >&2; }

# Directory holding initdb and pg_ctl, installing PostgreSQL with apt-get when missing.
find_bindir() {
    local dir
    dir="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true)"
    if [[ -z "$dir" || ! -x "$dir/initdb" ]]; then
        [[ "$(id -u)" == 0 ]] || { log "PostgreSQL is not installed and this is not root"; exit 1; }
        log "installing postgresql with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq >&2
        apt-get install -y -qq --no-install-recommends postgresql >&2
        dir="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n1)"
    fi
    echo "$dir"
}

# Runs a command as the cluster's owner: `postgres` when we are root, else ourselves.
as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        (cd / && runuser -u postgres -- "$@")
    else
        "$@"
    fi
}

port_in_use() { (echo >"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

free_port() {
    local port
    for port in $(seq 55432 55532); do
        port_in_use "$port" || { echo "$port"; return; }
    done
    log "no free port in 55432-55532"
    exit 1
}

# Sets the cluster's paths. As root, when the `postgres` user cannot reach target/ (a checkout
# under /root, say), target/pg is a link to a directory under /var/tmp that it can reach.
layout() {
    if [[ "$(id -u)" == 0 ]]; then
        id postgres >/dev/null 2>&1 || useradd --system --home-dir /var/lib/postgresql postgres
        mkdir -p "$ROOT/target"
        if [[ ! -e "$PGROOT" ]] && ! runuser -u postgres -- test -x "$ROOT/target"; then
            local real
            real="/var/tmp/switchboard-pg-$(printf %s "$ROOT" | md5sum | cut -c1-12)"
            mkdir -p "$real"
            ln -s "$real" "$PGROOT"
        fi
        mkdir -p "$PGROOT/"
        chown postgres: "$PGROOT/"
    else
        mkdir -p "$PGROOT"
    fi
    PGROOT="$(readlink -f "$PGROOT")"
    DATA="$PGROOT/data"
    PORT_FILE="$PGROOT/port"
    LOG="$PGROOT/postgres.log"
}

url() { echo "postgres://postgres@127.0.0.1:$(cat "$PORT_FILE")/$DB"; }

running() { [[ -f "$PORT_FILE" && -d "$DATA" ]] && as_owner "$BIN/pg_ctl" -D "$DATA" status >/dev/null 2>&1; }

start() {
    if running; then url; return; fi
    if [[ ! -f "$DATA/PG_VERSION" ]]; then
        rm -rf "$DATA"
        log "initdb $DATA"
        as_owner "$BIN/initdb" -D "$DATA" -U postgres --auth=trust --encoding=UTF8 \
            --locale=C.UTF-8 >/dev/null
    fi
    local port
    port="$(free_port)"
    echo "$port" >"$PORT_FILE"
    log "starting on 127.0.0.1:$port"
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start -o \
        "-c listen_addresses=127.0.0.1 -p $port -k $DATA -c max_connections=300" >/dev/null
    if ! as_owner "$BIN/psql" -h 127.0.0.1 -p "$port" -U postgres -d postgres -tAc \
        "SELECT 1 FROM pg_database WHERE datname = '$DB'" | grep -q 1; then
        as_owner "$BIN/createdb" -h 127.0.0.1 -p "$port" -U postgres "$DB"
    fi
    url
}

stop() {
    if running; then
        as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
        log "stopped"
    fi
}

case "${1:-}" in
start | stop | url) BIN="$(find_bindir)"; layout ;;
*) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
case "$1" in
start) start ;;
stop) stop ;;
url) running || { log "not running"; exit 1; }; url ;;
esac
