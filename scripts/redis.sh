#!/usr/bin/env bash
# A local Redis for `make up` and the tests: one server per directory, bound to 127.0.0.1.
#
#   redis.sh start DIR PORT   start in the background (pidfile DIR/redis.pid, log DIR/redis.log),
#                             wait until it answers
#   redis.sh stop DIR         stop the server in DIR by its PID, wait until it is gone
#   redis.sh status DIR       exit 0 if running
#
# No RDB snapshots; the append-only file (fsync every second) keeps the data, unless
# REDIS_FAST=1, which turns it off for throwaway test servers.
set -euo pipefail

die() {
    echo "redis.sh: $*" >&2
    exit 1
}

usage() {
    die "usage: redis.sh start DIR PORT | stop DIR | status DIR"
}

# Whether process $1 exists and is not a zombie (init may be slow to reap a daemon).
alive() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ "${stat%% *}" != Z ]]
}

# The PID in DIR/redis.pid if that process is alive and is a redis-server: a stale pidfile
# must not make us signal whatever process has reused the number.
server_pid() {
    local pid comm
    [[ -f "$DIR/redis.pid" ]] || return 1
    pid=$(<"$DIR/redis.pid")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    comm=$(cat "/proc/$pid/comm" 2>/dev/null) || return 1
    if [[ "$comm" != redis-server* ]] || ! alive "$pid"; then
        return 1
    fi
    echo "$pid"
}

# Waits until the server started as $2 answers on port $1. PING alone could be answered by
# another server already holding the port, so the answering process must be ours.
wait_ready() {
    local port=$1 pid=$2 answering
    local deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)); do
        if ! alive "$pid"; then
            echo "redis.sh: Redis in $DIR exited during startup; log tail:" >&2
            tail -n 30 "$DIR/redis.log" >&2 || true
            exit 1
        fi
        # Bounded: whatever holds the port may accept and never answer.
        answering=$(timeout 2 redis-cli -h 127.0.0.1 -p "$port" info server 2>/dev/null |
            sed -n 's/^process_id:\([0-9]*\).*/\1/p') || true
        if [[ "$answering" == "$pid" ]]; then
            return 0
        fi
        sleep 0.1
    done
    echo "redis.sh: Redis in $DIR did not answer within 30 s; log tail:" >&2
    tail -n 30 "$DIR/redis.log" >&2 || true
    exit 1
}

cmd_start() {
    local port=$1 pid
    local -a args
    if ! [[ "$port" =~ ^[0-9]{1,5}$ ]] || ((10#$port < 1 || 10#$port > 65535)); then
        die "bad port: $port"
    fi
    mkdir -p "$DIR"
    if server_pid >/dev/null; then
        exit 0
    fi
    args=(--bind 127.0.0.1 --port "$port" --dir "$DIR" --pidfile "$DIR/redis.pid"
        --logfile "$DIR/redis.log" --daemonize no --save "")
    if [[ "${REDIS_FAST:-0}" == 1 ]]; then
        args+=(--appendonly no)
    else
        args+=(--appendonly yes --appendfsync everysec)
    fi
    # Daemonized by us rather than by --daemonize yes, whose parent exits before the server has
    # bound its port: a server of our own making, in its own session, detached from our stdio,
    # whose PID we know, so that a failed start is seen at once.
    setsid redis-server "${args[@]}" </dev/null >/dev/null 2>&1 &
    pid=$!
    wait_ready "$port" "$pid"
}

cmd_stop() {
    local pid deadline
    pid=$(server_pid) || exit 0
    kill -TERM "$pid" 2>/dev/null || exit 0
    deadline=$((SECONDS + 30))
    while ((SECONDS < deadline)); do
        if ! alive "$pid"; then
            return 0
        fi
        sleep 0.1
    done
    echo "redis.sh: Redis $pid ignored SIGTERM for 30 s; killing it" >&2
    kill -KILL "$pid" 2>/dev/null || true
    while alive "$pid"; do
        sleep 0.1
    done
}

main() {
    local cmd=${1:-}
    [[ $# -ge 2 ]] || usage
    DIR=$(realpath -m -- "$2")
    case "$cmd" in
    start)
        [[ $# -eq 3 ]] || usage
        cmd_start "$3"
        ;;
    stop)
        [[ $# -eq 2 ]] || usage
        cmd_stop
        ;;
    status)
        [[ $# -eq 2 ]] || usage
        server_pid >/dev/null
        ;;
    *)
        usage
        ;;
    esac
}

main "$@"
