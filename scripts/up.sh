#!/usr/bin/env bash
# `make up`: builds the suite, starts PostgreSQL, Redis and every built service in the background
# under .data/, waits until each answers /ready, prints where they listen. Running it again starts
# only what is not running. `make down` stops it all.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

READY_TIMEOUT=30

# Starts service $1 in the background, in its own session, logging to .data/log/<name>.log.
start_service()
{
    local name="$1" pid port db bin log
    if pid="$(ms_service_pid "$name")"; then
        echo "$name: already running (pid $pid)"
        return 0
    fi
    port="$(ms_service_port "$name")"
    if ms_port_busy "$port"; then
        ms_die "$name: port $port is taken by another process; set $(ms_service_port_var "$name")" \
            "to use another port"
    fi
    db="$(ms_service_db "$name")"
    bin="$(ms_service_bin "$name")"
    log="$(ms_log_file "$name")"

    local envs=(
        "PORT=$port" "SERVICE_NAME=$name" "LOG_LEVEL=info"
        "BIND_ADDRESS=${MS_BIND_ADDRESS:-127.0.0.1}" "ADMIN_ENABLED=${MS_ADMIN_ENABLED:-true}"
        "REDIS_URL=redis://127.0.0.1:$MS_REDIS_PORT/0"
    )
    local unset_db=()
    if [[ -n $db ]]; then
        envs+=("DATABASE_URL=postgresql://ms@127.0.0.1:$MS_PG_PORT/$db")
    else
        unset_db=(-u DATABASE_URL)
    fi
    # Every service gets every upstream URL; each reads the ones it needs.
    local other upper
    for other in $(ms_services); do
        upper="$(tr '[:lower:]' '[:upper:]' <<<"$other")"
        envs+=("${upper}_URL=$(ms_service_url "$other")")
    done

    printf '\n==== %s: starting %s on port %s ====\n' "$(date -Is)" "$name" "$port" >>"$log"
    # nohup and setsid exec in place (this shell's children are never group leaders), so $! is
    # the service's own PID.
    nohup setsid env "${unset_db[@]}" "${envs[@]}" "$bin" >>"$log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$(ms_pid_file "$name")"
    echo "$name: started (pid $pid, log $log)"
}

# Waits for service $1's /ready; on failure shows the end of its log and exits.
await_service()
{
    local name="$1" pid log
    pid="$(<"$(ms_pid_file "$name")")"
    log="$(ms_log_file "$name")"
    if ! wait_ready "$(ms_service_url "$name")" "$READY_TIMEOUT" "$pid"; then
        echo "---- last lines of $log ----" >&2
        tail -n 40 "$log" >&2 || true
        ms_die "$name did not become ready; \`make down\` stops what was started"
    fi
    echo "$name: ready"
}

print_table()
{
    local name
    echo
    printf '%-14s %-24s %s\n' SERVICE URL ENDPOINTS
    for name in "$@"; do
        printf '%-14s %-24s %s\n' "$name" "$(ms_service_url "$name")" "/health /ready /metrics"
    done
    printf '%-14s %s\n' postgresql "postgresql://ms@127.0.0.1:$MS_PG_PORT/"
    printf '%-14s %s\n' redis "redis://127.0.0.1:$MS_REDIS_PORT/0"
    echo
    echo "logs: $MS_DATA_DIR/log/   stop everything: make down"
}

main()
{
    cd "$MS_ROOT"
    bash "$MS_ROOT/scripts/install-deps.sh"

    ms_section "build ($MS_BUILD_DIR)"
    ms_build "$MS_BUILD_DIR"

    local services=() dbs=() name db
    mapfile -t services < <(ms_built_services)
    if ((${#services[@]} == 0)); then
        echo "warning: no service binary under $MS_BUILD_DIR/services; starting only the stores" >&2
    fi
    for name in "${services[@]}"; do
        db="$(ms_service_db "$name")"
        if [[ -n $db ]]; then
            dbs+=("$db")
        fi
    done
    mkdir -p "$MS_DATA_DIR/log" "$MS_DATA_DIR/run"

    ms_section "PostgreSQL (port $MS_PG_PORT) and Redis (port $MS_REDIS_PORT)"
    bash "$MS_ROOT/scripts/pg.sh" start "$MS_DATA_DIR/pg" "$MS_PG_PORT"
    if ((${#dbs[@]})); then
        bash "$MS_ROOT/scripts/pg.sh" createdb "$MS_DATA_DIR/pg" "$MS_PG_PORT" "${dbs[@]}"
    fi
    bash "$MS_ROOT/scripts/redis.sh" start "$MS_DATA_DIR/redis" "$MS_REDIS_PORT"

    ms_section "services"
    for name in "${services[@]}"; do
        start_service "$name"
    done
    for name in "${services[@]}"; do
        await_service "$name"
    done
    print_table "${services[@]}"
}

main "$@"
