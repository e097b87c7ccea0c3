#!/usr/bin/env bash
# Restarts instances of `make up`'s stack one at a time without failing a request, the way a
# Deployment with maxSurge 1 does, on the same port (the servers listen with SO_REUSEPORT):
#   1. a surge process (the instance's own runit `run` script, `run surge`) binds the port beside
#      the running one; wait until it is ready;
#   2. `sv restart`: runit sends the old process SIGTERM; it turns unready, gives the port up (the
#      kernel sends new connections to the others), answers what it has in flight with
#      Connection: close, and exits; runit starts the replacement; wait until it is ready;
#   3. SIGTERM to the surge process, which drains the same way.
# Readiness of one process among those sharing a port: it listens (ss shows its PID), and then
# READY_STREAK consecutive /ready probes over new connections (spread over the listeners by the
# kernel's hash of each connection) all answer 200.
#
#   chaos/local/rolling-restart.sh [NAME...]   default: every instance but the gateway
# The gateway is not restarted here: nginx reloads its configuration and upgrades its binary
# in place by itself (nginx -s reload, SIGUSR2), without closing its port.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../../scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/../../scripts/lib.sh"

READY_STREAK=20
TIMEOUT=30
SURGE_PID=""

# Stops a surge process left behind by an error.
cleanup()
{
    local rc=$?
    trap - EXIT
    if [[ -n $SURGE_PID ]] && ms_pid_running "$SURGE_PID"; then
        kill -TERM "$SURGE_PID" 2>/dev/null || true
        wait "$SURGE_PID" 2>/dev/null || true
    fi
    exit "$rc"
}

# Succeeds when process $2 listens on TCP port $1.
listens()
{
    ss -Hltnp "sport = :$1" 2>/dev/null | grep -q "pid=$2,"
}

# await_ready NAME PID: waits until process PID of instance NAME listens and READY_STREAK /ready
# probes in a row answer 200.
await_ready()
{
    local name="$1" pid="$2" port url deadline=$((SECONDS + TIMEOUT)) streak=0 code
    port="$(ms_instance_port "$name")"
    url="$(ms_instance_url "$name")/ready"
    while ! listens "$port" "$pid"; do
        ms_pid_running "$pid" || ms_die "$name: process $pid exited before it listened"
        ((SECONDS < deadline)) || ms_die "$name: process $pid does not listen on port $port"
        sleep 0.02
    done
    while ((streak < READY_STREAK)); do
        code="$(curl -sS -o /dev/null -w '%{http_code}' --max-time 2 "$url" 2>/dev/null)" || code=000
        if [[ $code == 200 ]]; then
            streak=$((streak + 1))
        else
            streak=0
            sleep 0.02
        fi
        ms_pid_running "$pid" || ms_die "$name: process $pid exited before it was ready"
        ((SECONDS < deadline)) || ms_die "$name: not ready within ${TIMEOUT}s (last: $code)"
    done
}

# await_exit PID: waits until process PID (a child of this shell) has exited.
await_exit()
{
    local deadline=$((SECONDS + TIMEOUT))
    while ms_pid_running "$1"; do
        ((SECONDS < deadline)) || ms_die "process $1 still runs ${TIMEOUT}s after SIGTERM"
        sleep 0.02
    done
    wait "$1" 2>/dev/null || true
}

restart_one()
{
    local name="$1" dir old new t0=$SECONDS
    dir="$(ms_sv_dir "$name")"
    old="$(ms_service_pid "$name")" || ms_die "$name: not running"
    [[ "$(ms_sv_state "$name")" == run ]] || ms_die "$name: not supervised by runit ($dir)"

    # with the environment runit gives its services (runsvdir's), not this shell's
    local rsd envs=()
    rsd="$(ms_runsvdir_pid)" || ms_die "runsvdir does not run for $(ms_sv_dir)"
    mapfile -d '' envs <"/proc/$rsd/environ"
    env -i "${envs[@]}" "$dir/run" surge &
    SURGE_PID=$!
    await_ready "$name" "$SURGE_PID"
    echo "$name: surge process $SURGE_PID ready beside $old"

    sv restart "$dir" >/dev/null
    local deadline=$((SECONDS + TIMEOUT))
    while ! new="$(ms_service_pid "$name")" || [[ $new == "$old" ]]; do
        ((SECONDS < deadline)) || ms_die "$name: runit did not replace process $old"
        sleep 0.02
    done
    await_ready "$name" "$new"
    ! ms_pid_running "$old" || ms_die "$name: old process $old still runs"
    echo "$name: process $old drained and exited, runit's replacement $new ready"

    kill -TERM "$SURGE_PID"
    await_exit "$SURGE_PID"
    echo "$name: surge process $SURGE_PID drained and exited; restarted in $((SECONDS - t0)) s"
    SURGE_PID=""
}

main()
{
    local names=("$@") name
    if ((${#names[@]} == 0)); then
        for name in $(ms_services) product-v2; do
            if ms_service_pid "$name" >/dev/null; then
                names+=("$name")
            fi
        done
    fi
    trap cleanup EXIT
    for name in "${names[@]}"; do
        [[ $name != gateway ]] || ms_die "the gateway restarts itself in place: nginx -s reload"
        restart_one "$name"
    done
}

main "$@"
