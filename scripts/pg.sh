#!/usr/bin/env bash
# A local PostgreSQL for `make up` and the tests: one cluster per directory, TCP on 127.0.0.1 only.
#
#   pg.sh start DIR PORT         initdb DIR/data if needed (superuser ms, trust), start, wait
#   pg.sh stop DIR               fast shutdown, wait; nothing to do if not running
#   pg.sh createdb DIR PORT NAME...   create each database that is missing, owned by ms
#   pg.sh status DIR             exit 0 if running
#
# PG_FAST=1 trades durability for speed (fsync, synchronous_commit, full_page_writes off):
# for throwaway test clusters only. PostgreSQL refuses to run as root, so under root the
# cluster belongs to, and runs as, the `postgres` user.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=as-postgres.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/as-postgres.sh"

die() {
    echo "pg.sh: $*" >&2
    exit 1
}

usage() {
    die "usage: pg.sh start DIR PORT | stop DIR | createdb DIR PORT NAME... | status DIR"
}

# The newest installed server, unless PG_BIN says otherwise or the tools are on PATH.
find_bin() {
    local dir
    if [[ -n "${PG_BIN:-}" ]]; then
        echo "$PG_BIN"
        return
    fi
    dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null |
        sort -V | tail -n 1)
    if [[ -n "$dir" ]]; then
        echo "$dir"
    elif command -v pg_ctl >/dev/null; then
        dirname "$(command -v pg_ctl)"
    else
        die "no PostgreSQL server binaries found (set PG_BIN)"
    fi
}

is_running() {
    [[ -f "$DIR/data/PG_VERSION" ]] && as_owner "$BIN/pg_ctl" status -D "$DIR/data" >/dev/null 2>&1
}

prepare_dir() {
    mkdir -p "$DIR"
    if [[ $EUID -eq 0 ]]; then
        chown -R postgres:postgres "$DIR"
        as_owner test -w "$DIR" ||
            die "user postgres cannot write $DIR (check the parent directories' permissions)"
    fi
}

init_cluster() {
    [[ -f "$DIR/data/PG_VERSION" ]] && return 0
    if ! as_owner "$BIN/initdb" -D "$DIR/data" -U ms --auth=trust -E UTF8 --locale=C \
        >"$DIR/initdb.log" 2>&1; then
        tail -n 20 "$DIR/initdb.log" >&2
        die "initdb failed"
    fi
}

wait_ready() {
    local port=$1 deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)); do
        if "$BIN/pg_isready" -q -t 2 -h 127.0.0.1 -p "$port"; then
            return 0
        fi
        sleep 0.1
    done
    echo "pg.sh: PostgreSQL in $DIR did not accept connections within 30 s; log tail:" >&2
    tail -n 30 "$DIR/postgres.log" >&2 || true
    exit 1
}

cmd_start() {
    local port=$1 opts
    check_port "$port"
    # pg_ctl hands -o to a shell: the directory is quoted, so it must not hold a quote itself.
    [[ "$DIR" != *"'"* ]] || die "DIR must not contain a single quote"
    prepare_dir
    init_cluster
    if is_running; then
        exit 0
    fi
    opts="-h 127.0.0.1 -p $port -k '$DIR'"
    if [[ "${PG_FAST:-0}" == 1 ]]; then
        opts+=" -c fsync=off -c synchronous_commit=off -c full_page_writes=off"
    fi
    # -w: pg_ctl waits for the server to be ready and notices at once if it exits instead
    # (port taken, bad setting), which pg_isready alone could only time out on.
    if ! as_owner "$BIN/pg_ctl" start -w -t 30 -D "$DIR/data" -l "$DIR/postgres.log" \
        -o "$opts" >/dev/null; then
        echo "pg.sh: PostgreSQL in $DIR did not start; log tail:" >&2
        tail -n 30 "$DIR/postgres.log" >&2 || true
        exit 1
    fi
    wait_ready "$port"
}

cmd_stop() {
    if ! is_running; then
        exit 0
    fi
    as_owner "$BIN/pg_ctl" stop -D "$DIR/data" -m fast -w -t 60 >/dev/null
}

cmd_createdb() {
    local port=$1 name exists
    shift
    check_port "$port"
    for name in "$@"; do
        # Names go into SQL text below, so only plain identifiers are accepted.
        [[ "$name" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "bad database name: $name"
        exists=$("$BIN/psql" -h 127.0.0.1 -p "$port" -U ms -d postgres -X -tAq \
            -c "SELECT 1 FROM pg_database WHERE datname = '$name'")
        if [[ "$exists" != 1 ]]; then
            "$BIN/createdb" -h 127.0.0.1 -p "$port" -U ms -O ms "$name"
        fi
    done
}

main() {
    local cmd=${1:-}
    [[ $# -ge 2 ]] || usage
    DIR=$(realpath -m -- "$2")
    BIN=$(find_bin)
    # The postgres user may not be allowed into the caller's working directory.
    cd /
    case "$cmd" in
    start)
        [[ $# -eq 3 ]] || usage
        cmd_start "$3"
        ;;
    stop)
        [[ $# -eq 2 ]] || usage
        cmd_stop
        ;;
    createdb)
        [[ $# -ge 4 ]] || usage
        shift 2
        cmd_createdb "$@"
        ;;
    status)
        [[ $# -eq 2 ]] || usage
        is_running
        ;;
    *)
        usage
        ;;
    esac
}

main "$@"
