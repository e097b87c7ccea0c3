#!/usr/bin/env bash
# `make down`: stops what `make up` started: first the supervisor, runit (our runsvdir, then
# every instance under .data/sv/ through `sv`: SIGTERM, SIGKILL after 10 s, and its runsv), then
# any service still named by a PID file under .data/run/ (one started without the supervisor),
# the product canary (product-v2) and the gateway (nginx) included, then Redis, PgBouncer and
# PostgreSQL through their scripts. A PID whose process is not ours (our service binary; for the gateway an
# nginx master with our prefix; runsvdir watching our .data/sv) is never signalled. Running it
# again does nothing.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

STOP_TIMEOUT=10

# Stops runit: runsvdir first, so that it restarts no runsv; then every supervised instance (sv
# force-stop: SIGTERM, SIGKILL after STOP_TIMEOUT) and its runsv (sv exit), and removes the
# service directories (up.sh writes them again).
stop_supervisor()
{
    local dirs=() names=() running=" " deadline name
    stop_runsvdir
    list_supervised
    ((${#dirs[@]})) || return 0
    # sv sends every command first, then waits for all of them at once.
    sv -w "$STOP_TIMEOUT" force-stop "${dirs[@]}" >/dev/null || true
    sv exit "${dirs[@]}" >/dev/null || true
    deadline=$((SECONDS + STOP_TIMEOUT))
    for name in "${names[@]}"; do
        report_stopped "$name" "$running" "$deadline"
    done
}

# Stops our runsvdir (if it runs), so that it restarts no runsv while the instances stop.
stop_runsvdir()
{
    local pid deadline
    if pid="$(ms_runsvdir_pid)"; then
        kill -TERM "$pid" 2>/dev/null || true
        deadline=$((SECONDS + STOP_TIMEOUT))
        while ms_pid_running "$pid" && ((SECONDS < deadline)); do
            sleep 0.05
        done
        echo "runsvdir: stopped"
    fi
    rm -f "$(ms_pid_file runsvdir)"
}

# Fills stop_supervisor's dirs and names with the instances runit still supervises, and its
# running with those that have a process; removes the directories of the others.
list_supervised()
{
    local dir name pid
    shopt -s nullglob
    for dir in "$(ms_sv_dir)"/*/; do
        name="$(basename "$dir")"
        if ms_sv_state "$name" >/dev/null; then
            if pid="$(ms_service_pid "$name")"; then
                echo "$name: stopping (pid $pid)"
                running+="$name "
            fi
            dirs+=("${dir%/}")
            names+=("$name")
        else
            rm -rf "$dir"
        fi
    done
    shopt -u nullglob
}

# report_stopped NAME RUNNING DEADLINE: waits (until SECONDS reaches DEADLINE) for NAME's runsv
# to exit, says how NAME ended (RUNNING: " name name ... " had a process) and removes its PID file
# and, once runit has let go of it, its service directory.
report_stopped()
{
    local name="$1" pid
    while ms_sv_state "$name" >/dev/null && ((SECONDS < $3)); do
        sleep 0.05
    done
    if pid="$(ms_service_pid "$name")"; then
        echo "$name: still running (pid $pid) after sv force-stop" >&2
    else
        if [[ $2 == *" $name "* ]]; then
            echo "$name: stopped"
        else
            echo "$name: not running"
        fi
        rm -f "$(ms_pid_file "$name")"
    fi
    if ! ms_sv_state "$name" >/dev/null; then
        rm -rf "$(ms_sv_dir "$name")"
    fi
}

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

# Stops one store through its script ($1: redis, pooler or pg; $2: its directory under
# .data), if it was ever set up here.
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
    stop_supervisor
    stop_services
    stop_store redis redis || rc=1
    stop_store pooler pooler || rc=1
    stop_store pg pg || rc=1
    return "$rc"
}

main "$@"
