#!/usr/bin/env bash
# `make down`: stops what `make up` started: every service named by a PID file under .data/run/,
# the product canary (product-v2) and the gateway (nginx) included (SIGTERM, then SIGKILL after
# 10 s), then Redis and PostgreSQL through their scripts. A PID whose process is not our service
# binary (for the gateway: an nginx master with our prefix) is never signalled. Running it again
# does nothing.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

STOP_TIMEOUT=10

stop_services()
{
    local file name pid names=() pids=() i deadline
    shopt -s nullglob
    for file in "$MS_DATA_DIR"/run/*.pid; do
        name="$(basename "$file" .pid)"
        pid="$(<"$file")"
        if ms_pid_is_service "$pid" "$name"; then
            echo "$name: stopping (pid $pid)"
            kill -TERM "$pid" 2>/dev/null || true
            names+=("$name")
            pids+=("$pid")
        else
            echo "$name: not running"
            rm -f "$file"
        fi
    done
    shopt -u nullglob

    deadline=$((SECONDS + STOP_TIMEOUT))
    for i in "${!pids[@]}"; do
        while ms_pid_is_service "${pids[$i]}" "${names[$i]}" && ((SECONDS < deadline)); do
            sleep 0.1
        done
        if ms_pid_is_service "${pids[$i]}" "${names[$i]}"; then
            echo "${names[$i]}: still running after ${STOP_TIMEOUT}s, sending SIGKILL" >&2
            kill -KILL "${pids[$i]}" 2>/dev/null || true
            if [[ ${names[$i]} == gateway ]]; then
                # nginx's workers outlive a killed master: they are in its process group (setsid).
                kill -KILL -- "-${pids[$i]}" 2>/dev/null || true
            fi
        else
            echo "${names[$i]}: stopped"
        fi
        rm -f "$(ms_pid_file "${names[$i]}")"
    done
}

# Stops one store through its script ($1: redis or pg), if it was ever set up here.
stop_store()
{
    local script="$MS_ROOT/scripts/$1.sh" dir="$MS_DATA_DIR/$2"
    if [[ ! -d $dir ]]; then
        return 0
    fi
    if [[ ! -f $script ]]; then
        echo "warning: $script is missing; $dir may still have a server running" >&2
        return 1
    fi
    bash "$script" stop "$dir"
}

main()
{
    local rc=0
    stop_services
    stop_store redis redis || rc=1
    stop_store pg pg || rc=1
    return "$rc"
}

main "$@"
