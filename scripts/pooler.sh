#!/usr/bin/env bash
# A local PgBouncer in front of a local PostgreSQL, for `make up` and the tests: one per
# directory, TCP on 127.0.0.1 only.
#
#   pooler.sh start DIR PORT PG_PORT   write DIR/pgbouncer.ini, start (pidfile DIR/pgbouncer.pid,
#                                      log DIR/pgbouncer.log), wait until it answers
#   pooler.sh stop DIR                 stop it by its PID, wait until it is gone
#   pooler.sh status DIR               exit 0 if running
#
# Why a pooler: a lost answer costs the service its connection (the session's state is unknown),
# and a new PostgreSQL connection costs the server a backend: forked, its caches filled, its
# statements planned again, some 10 ms of CPU. Through PgBouncer a service's new connection is a
# pooled backend reset with DISCARD ALL. Session mode: a service's session (its prepared
# statements, its SET limits, an advisory lock) stays on one backend until it disconnects.
# PgBouncer refuses to run as root, so under root it runs as the `postgres` user.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=as-postgres.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/as-postgres.sh"

die() {
    echo "pooler.sh: $*" >&2
    exit 1
}

usage() {
    die "usage: pooler.sh start DIR PORT PG_PORT | stop DIR | status DIR"
}

# The PID in DIR/pgbouncer.pid if that process is alive and is a pgbouncer: a stale pidfile must
# not make us signal whatever process has reused the number.
server_pid() {
    local pid
    pid=$(cat "$DIR/pgbouncer.pid" 2>/dev/null) || return 1
    [[ "$pid" =~ ^[0-9]+$ && "$(cat "/proc/$pid/comm" 2>/dev/null)" == pgbouncer ]] || return 1
    echo "$pid"
}

# The settings: every database of PG_PORT's cluster, as its superuser ms (the local cluster's
# only role, trust auth), so the client's user name is not checked (auth_type any).
# PostgreSQL down must give the services a fast error, as it does without the pooler: a client
# that arrives once a login has failed is refused at once, but one already waiting for a backend
# when PostgreSQL stops (or refuses with 57P03, "shutting down") is left waiting until
# query_wait_timeout, checked every 1/3 s. The pools' sum stays far below default_pool_size, so
# a wait is only ever a backend being opened (a few ms): 0.25 s is ample. A failed login is
# tried again after 0.25 s, not 15, so a restarted PostgreSQL is back for the services at once.
write_config() {
    local port=$1 pg_port=$2
    cat >"$DIR/pgbouncer.ini" <<EOF
[databases]
* = host=127.0.0.1 port=$pg_port user=ms

[pgbouncer]
listen_addr = 127.0.0.1
listen_port = $port
unix_socket_dir =
auth_type = any
pool_mode = session
server_reset_query = DISCARD ALL
max_client_conn = 1000
default_pool_size = 80
query_wait_timeout = 0.25
server_login_retry = 0.25
server_idle_timeout = 60
ignore_startup_parameters = extra_float_digits
admin_users = ms
log_connections = 0
log_disconnections = 0
logfile = $DIR/pgbouncer.log
pidfile = $DIR/pgbouncer.pid
EOF
}

wait_ready() {
    local port=$1 deadline=$((SECONDS + 10))
    while ((SECONDS < deadline)); do
        if psql -h 127.0.0.1 -p "$port" -U ms -d postgres -XAtqc 'SELECT 1' >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    echo "pooler.sh: PgBouncer in $DIR did not answer within 10 s; log tail:" >&2
    tail -n 20 "$DIR/pgbouncer.log" >&2 || true
    exit 1
}

cmd_start() {
    local port=$1 pg_port=$2
    check_port "$port"
    check_port "$pg_port"
    command -v pgbouncer >/dev/null || PATH="$PATH:/usr/sbin"
    command -v pgbouncer >/dev/null || die "pgbouncer is not installed (scripts/install-deps.sh)"
    mkdir -p "$DIR"
    [[ $EUID -ne 0 ]] || chown postgres "$DIR"
    server_pid >/dev/null && exit 0
    write_config "$port" "$pg_port"
    as_owner pgbouncer -d -q "$DIR/pgbouncer.ini" || die "pgbouncer did not start (see $DIR/pgbouncer.log)"
    wait_ready "$port"
}

cmd_stop() {
    local pid deadline
    pid=$(server_pid) || exit 0
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
        sleep 0.05
    done
    kill -KILL "$pid" 2>/dev/null || true
}

main() {
    local cmd=${1:-}
    DIR=${2:-}
    [[ -n "$cmd" && -n "$DIR" ]] || usage
    case "$cmd" in
    start)
        (($# == 4)) || usage
        cmd_start "$3" "$4"
        ;;
    stop) cmd_stop ;;
    status) server_pid >/dev/null ;;
    *) usage ;;
    esac
}

main "$@"
