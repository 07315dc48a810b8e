#!/usr/bin/env bash
# Throwaway PostgreSQL 15 cluster for the test suite.
#
#   postgres.sh start   initdb a fresh cluster, start it, create database
#                       `shouying` (no-op when it is already running)
#   postgres.sh stop    stop it and delete its data directory
#   postgres.sh status  exit 0 if it is running
#   postgres.sh url     print postgresql://postgres@127.0.0.1:55432/shouying
#
# The cluster listens on 127.0.0.1 only, with trust authentication on the
# loopback addresses (no passwords), max_connections=200. When run as root the
# server runs as the `postgres` OS user, since initdb refuses to run as root.
#
# Environment (all optional):
#   SHOUYING_RUN_DIR  run-time state; the cluster lives in $SHOUYING_RUN_DIR/pg
#                     (default /tmp/shouying-run; must be reachable by `postgres`)
#   SHOUYING_PG_PORT  TCP port           (default 55432)
#   SHOUYING_PG_BIN   server binaries    (default /usr/lib/postgresql/15/bin)
set -euo pipefail

RUN_DIR="${SHOUYING_RUN_DIR:-/tmp/shouying-run}"
PG_DIR="$RUN_DIR/pg"
DATA_DIR="$PG_DIR/data"
LOG_FILE="$PG_DIR/postgres.log"
PORT="${SHOUYING_PG_PORT:-55432}"
PG_BIN="${SHOUYING_PG_BIN:-/usr/lib/postgresql/15/bin}"
DB_NAME=shouying
URL="postgresql://postgres@127.0.0.1:$PORT/$DB_NAME"

log() { echo "postgres.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# Run a server command as the postgres OS user (or as ourselves if not root).
as_pg() {
    if [[ $EUID -eq 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

is_running() {
    [[ -f "$DATA_DIR/PG_VERSION" ]] && as_pg "$PG_BIN/pg_ctl" status -D "$DATA_DIR" >/dev/null 2>&1
}

psql_admin() {
    "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d postgres "$@"
}

ensure_database() {
    if [[ "$(psql_admin -tAc "SELECT 1 FROM pg_database WHERE datname = '$DB_NAME'")" != 1 ]]; then
        psql_admin -c "CREATE DATABASE $DB_NAME"
    fi
}

start() {
    [[ -x "$PG_BIN/initdb" ]] || die "$PG_BIN/initdb not found (run install-system.sh)"
    if is_running; then
        ensure_database
        log "already running on 127.0.0.1:$PORT"
        return 0
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        die "port $PORT is already taken by another process"
    fi
    local t0=$SECONDS
    # Anything left from a crashed run is stale: start from scratch.
    rm -rf "$PG_DIR"
    if [[ ! -d "$RUN_DIR" ]]; then  # the postgres user must be able to enter it
        mkdir -p "$(dirname "$RUN_DIR")"
        mkdir -m 755 "$RUN_DIR"
    fi
    mkdir -p "$PG_DIR"
    if [[ $EUID -eq 0 ]]; then
        chown postgres:postgres "$PG_DIR"
    fi
    as_pg "$PG_BIN/initdb" -D "$DATA_DIR" -U postgres --encoding=UTF8 --locale=C.UTF-8 \
        --auth-local=trust --auth-host=trust >"$PG_DIR/initdb.log" 2>&1 \
        || { cat "$PG_DIR/initdb.log" >&2; die "initdb failed"; }
    # initdb's pg_hba.conf only has host lines for 127.0.0.1/32 and ::1/128, so
    # "trust" covers loopback connections and nothing else.
    cat >>"$DATA_DIR/postgresql.conf" <<EOF

# Added by deploy/local/postgres.sh
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$PG_DIR'
max_connections = 200
EOF
    as_pg "$PG_BIN/pg_ctl" start -D "$DATA_DIR" -l "$LOG_FILE" -w -t 60 >/dev/null \
        || { tail -n 40 "$LOG_FILE" >&2 || true; die "PostgreSQL did not start"; }
    ensure_database
    log "started on 127.0.0.1:$PORT in $((SECONDS - t0))s"
}

stop() {
    if is_running; then
        as_pg "$PG_BIN/pg_ctl" stop -D "$DATA_DIR" -m fast -w -t 60 >/dev/null
        log "stopped"
    fi
    rm -rf "$PG_DIR"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    status)
        if is_running; then echo running; else echo stopped; exit 1; fi
        ;;
    url) echo "$URL" ;;
    *)
        echo "usage: $0 start|stop|status|url" >&2
        exit 2
        ;;
esac
