#!/usr/bin/env bash
# A rolling restart under load loses no request. scripts/up.sh brings the stack up (runit
# supervising every instance) on free loopback ports in a temporary directory; chaos/local/
# steady.mjs holds a steady load through the gateway (every route, GETs and POSTs) and on every
# instance directly (kept-alive connections, and a new connection per request); chaos/local/
# rolling-restart.sh restarts every instance but the gateway, one at a time (a surge process on the
# same port, SO_REUSEPORT; then runit's restart of the old one, which drains; then the surge
# drains). Every instance must have a new PID, still supervised, and every request of the load
# must have been answered 2xx. Then the control: restarting a few of them the naive way (sv
# restart alone: the port is closed until the new process binds it) fails requests, which the
# same load must see. scripts/down.sh stops it all (also from the EXIT trap). About 50 s.
set -euo pipefail

ROOT="$(cd -P -- "${MS_SOURCE_DIR:-$(dirname -- "${BASH_SOURCE[0]}")/../..}" && pwd -P)"
BIN_DIR="$(realpath -m -- "${MS_BINARY_DIR:-$ROOT/build}")"
# shellcheck source-path=SCRIPTDIR source=../../scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../../scripts/stack.sh
. "$ROOT/scripts/stack.sh"
# shellcheck source-path=SCRIPTDIR source=../../chaos/local/lib/native.sh
. "$ROOT/chaos/local/lib/native.sh"
# shellcheck source-path=SCRIPTDIR source=lib/chaos.sh
. "$ROOT/tests/system/lib/chaos.sh"
T=""
LOAD_PID=""
START=$SECONDS

cleanup()
{
    local rc=$?
    trap - EXIT
    if [[ -n $LOAD_PID ]]; then
        kill -TERM "$LOAD_PID" 2>/dev/null || true
        wait "$LOAD_PID" 2>/dev/null || true
    fi
    if [[ -n $T && -d $T/data ]]; then
        if [[ $rc != 0 ]]; then
            local f
            for f in "$T"/*.log "$T"/data/log/*.log; do
                [[ -f $f ]] || continue
                echo "---- last lines of ${f#"$T"/} ----" >&2
                tail -n 8 "$f" >&2
            done
        fi
        bash "$ROOT/scripts/down.sh" >"$T/down.log" 2>&1 || cat "$T/down.log" >&2
    fi
    if [[ -n $T ]]; then
        rm -rf "$T"
    fi
    exit "$rc"
}
trap cleanup EXIT

start_stack()
{
    local name
    export MS_BUILD_DIR="$BIN_DIR" REDIS_FAST=1
    chaos_stack_up "$T" "$T/up.log" || fail "scripts/up.sh failed"
    mapfile -t INSTANCES < <(
        for name in $(ms_services) product-v2; do
            if ms_service_pid "$name" >/dev/null; then
                echo "$name"
            fi
        done
    )
    ((${#INSTANCES[@]} >= 7)) || fail "only ${#INSTANCES[@]} instances run: ${INSTANCES[*]}"
    ok "stack up: ${INSTANCES[*]} and the gateway, under runit"
}

# start_load NAME: starts chaos/local/steady.mjs (results in $T/NAME.json) and waits until it runs.
start_load()
{
    local name direct=() i
    for name in "${INSTANCES[@]}"; do
        direct+=("$name=$(ms_instance_url "$name")")
    done
    node "$ROOT/chaos/local/steady.mjs" --gateway "$(ms_instance_url gateway)" \
        --direct "$(IFS=, && echo "${direct[*]}")" --out "$T/$1.json" >"$T/$1.log" 2>&1 &
    LOAD_PID=$!
    for i in $(seq 100); do
        grep -q 'load running' "$T/$1.log" && return 0
        kill -0 "$LOAD_PID" 2>/dev/null || fail "the load did not start: $(cat "$T/$1.log")"
        sleep 0.1
    done
    fail "the load did not start in 10 s"
}

stop_load()
{
    kill -TERM "$LOAD_PID"
    wait "$LOAD_PID" || fail "the load failed: $(cat "$T/$1.log")"
    LOAD_PID=""
    [[ -s $T/$1.json ]] || fail "the load wrote no figures"
}

# Prints field $2 of the figures in $T/$1.json.
figure()
{
    jq -r "$2" "$T/$1.json"
}

# check_restarted PID...: every instance runs again under a new PID (the PIDs before, in
# INSTANCES' order), supervised, alone on its port; adds "name old->new" for each to the
# caller's array after.
check_restarted()
{
    local before=("$@") i name pid
    for i in "${!INSTANCES[@]}"; do
        name="${INSTANCES[$i]}"
        pid="$(ms_service_pid "$name")" || fail "$name does not run after the rolling restart"
        [[ $pid != "${before[$i]}" ]] || fail "$name was not restarted (pid $pid)"
        [[ "$(ms_sv_state "$name")" == run ]] || fail "$name is not supervised after the rolling restart"
        [[ "$(ss -Hltn "sport = :$(ms_instance_port "$name")" | wc -l)" == 1 ]] ||
            fail "$name: more than one process listens on its port (a surge process left?)"
        after+=("$name ${before[$i]}->$pid")
    done
}

# The rolling restart under load: no request fails, every instance has a new process.
rolling_check()
{
    local name before=() after=() n failed
    for name in "${INSTANCES[@]}"; do
        before+=("$(ms_service_pid "$name")")
    done
    start_load rolling
    sleep 2
    bash "$ROOT/chaos/local/rolling-restart.sh" >"$T/rolling.log" 2>&1 ||
        fail "rolling-restart.sh failed: $(cat "$T/rolling.log")"
    sleep 2
    stop_load rolling
    n="$(figure rolling .requests)"
    failed="$(figure rolling .failed)"
    ((failed == 0)) || fail "$failed of $n requests failed during the rolling restart: $(figure rolling .failures)"
    ((n > 1000)) || fail "only $n requests: the load did not run"
    check_restarted "${before[@]}"
    ok "rolling restart of ${#INSTANCES[@]} instances ($(grep -c 'restarted in' "$T/rolling.log") done) under load:" \
        "$n requests, 0 failed, p99 $(figure rolling '.p99 | floor') ms; new PIDs: ${after[*]}"
}

# The control: the naive restart closes the port until the new process has bound it.
naive_control()
{
    local name failed
    start_load naive
    sleep 1
    for name in cart user inventory; do
        sv restart "$(ms_sv_dir "$name")" >/dev/null
        ms_sv_wait_pid "$name" 10 >/dev/null || fail "$name did not come back"
        wait_ready "$(ms_instance_url "$name")" 10 || fail "$name is not ready again"
        sleep 0.5
    done
    stop_load naive
    failed="$(figure naive .failed)"
    ((failed > 0)) || fail "restarts without a surge process failed no request: the load would not see failures"
    ok "control: 3 restarts without a surge process failed $failed of $(figure naive .requests) requests" \
        "($(figure naive '[.failures[] | "\(.stream) \(.status) \(.tag // "")"] | unique | join(", ")'))"
}

main()
{
    [[ -x $BIN_DIR/services/product/product ]] || fail "$BIN_DIR/services/product/product is not built"
    T="$(mktemp -d /tmp/ms-rolling.XXXXXX)"
    chmod 755 "$T" # PostgreSQL runs as postgres, nginx's workers as nobody under root
    shellcheck -x "${BASH_SOURCE[0]}" "$ROOT/chaos/local/rolling-restart.sh" || fail "shellcheck"
    start_stack
    rolling_check
    naive_control
    echo "rolling-restart: all checks passed in $((SECONDS - START)) s"
}

main "$@"
