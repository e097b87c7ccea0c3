#!/usr/bin/env bash
# `make load-start` / `make load-stop`: a gentle load that runs by itself beside `make up`, so the
# metrics move without anyone typing: load-test/run.sh (the wrk scenarios) against make up's
# gateway, supervised by make up's runit like the services (.data/sv/load/; runit starts the next
# run when one ends; log .data/log/load.log). `make down` stops it with the rest.
#
#   load-test/background.sh start|stop|status
#
# The knobs, read at start: LOAD_RATE (requests/s, default 5), LOAD_CONNECTIONS (2),
# LOAD_SCENARIO (mixed), LOAD_RUN_DURATION (the length of one run, 1h).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../scripts/lib.sh
. "$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")" && pwd -P)/../scripts/lib.sh"

NAME=load

# Waits up to $1 s for the run script's PID file to name a live process; prints the PID.
wait_pid()
{
    local deadline=$((SECONDS + $1)) pid
    while :; do
        pid="$(cat "$(ms_pid_file "$NAME")" 2>/dev/null)" || pid=""
        if [[ -n $pid ]] && ms_pid_running "$pid"; then
            echo "$pid"
            return 0
        fi
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

start()
{
    local pid
    ms_runsvdir_pid >/dev/null || ms_die "the shop is not running natively: \`make up\` first"
    if [[ "$(ms_sv_state "$NAME" 2>/dev/null)" == run ]]; then
        echo "load: already running (log $(ms_log_file "$NAME"))"
        return 0
    fi
    ms_sv_write "$NAME" env MS_DATA_DIR="$MS_DATA_DIR" MS_GATEWAY_PORT="$(ms_instance_port gateway)" \
        LOAD_RATE="${LOAD_RATE:-5}" LOAD_CONNECTIONS="${LOAD_CONNECTIONS:-2}" \
        LOAD_SCENARIO="${LOAD_SCENARIO:-mixed}" LOAD_DURATION="${LOAD_RUN_DURATION:-1h}" \
        bash "$MS_ROOT/load-test/run.sh" || ms_die "cannot write $(ms_sv_dir "$NAME")"
    if [[ "$(ms_sv_state "$NAME" 2>/dev/null)" == down ]]; then
        sv up "$(ms_sv_dir "$NAME")" >/dev/null
    fi
    # runsvdir notices a new directory within five seconds; the run script writes the PID file.
    pid="$(wait_pid 15)" || ms_die "runit did not start the load; see $(ms_log_file "$NAME")"
    echo "load: started (pid $pid, ${LOAD_RATE:-5} requests/s, scenario ${LOAD_SCENARIO:-mixed}, log $(ms_log_file "$NAME"))"
}

stop()
{
    local dir i
    dir="$(ms_sv_dir "$NAME")"
    if ms_sv_state "$NAME" >/dev/null 2>&1; then
        sv -w 10 force-stop "$dir" >/dev/null || true
        sv exit "$dir" >/dev/null || true
    fi
    # sv exit only asks: runsv may still be writing supervise/ while rm empties it
    for ((i = 0; i < 50; i++)); do
        ms_sv_state "$NAME" >/dev/null 2>&1 || break
        sleep 0.1
    done
    rm -rf "$dir"
    rm -f "$(ms_pid_file "$NAME")"
    echo "load: stopped"
}

status()
{
    if [[ "$(ms_sv_state "$NAME" 2>/dev/null)" == run ]]; then
        echo "load: running (log $(ms_log_file "$NAME"))"
    else
        echo "load: not running"
        return 1
    fi
}

case "${1:-}" in
start | stop | status) "$1" ;;
*)
    echo "usage: load-test/background.sh start|stop|status" >&2
    exit 2
    ;;
esac
