#!/usr/bin/env bash
# `make up`: builds the suite, starts PostgreSQL, Redis and every built service in the background
# under .data/, the product canary (v2, port PRODUCT_V2_PORT, default 3011) beside product, and,
# when nginx is installed, the gateway (gateway/nginx.conf on MS_GATEWAY_PORT, default 8080);
# waits until each answers /ready (the gateway /healthz), prints where they listen. Running it
# again starts only what is not running (and reloads a running gateway whose configuration
# changed). `make down` stops it all.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

READY_TIMEOUT=30

# start_service NAME [SERVICE [ENV...]]: starts instance NAME of SERVICE (default: NAME) in the
# background, in its own session, logging to .data/log/<NAME>.log, with the extra ENV settings.
start_service()
{
    local name="$1" service="${2:-$1}" pid port db bin log
    if pid="$(ms_service_pid "$name")"; then
        echo "$name: already running (pid $pid)"
        return 0
    fi
    port="$(ms_instance_port "$name")"
    if ms_port_busy "$port"; then
        ms_die "$name: port $port is taken by another process; set $(ms_instance_port_var "$name")" \
            "to use another port"
    fi
    db="$(ms_service_db "$service")"
    bin="$(ms_service_bin "$service")"
    log="$(ms_log_file "$name")"

    local envs=(
        "PORT=$port" "SERVICE_NAME=$service" "LOG_LEVEL=info"
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
    envs+=("${@:3}")

    printf '\n==== %s: starting %s on port %s ====\n' "$(date -Is)" "$name" "$port" >>"$log"
    # nohup and setsid exec in place (this shell's children are never group leaders), so $! is
    # the service's own PID.
    nohup setsid env "${unset_db[@]}" "${envs[@]}" "$bin" >>"$log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$(ms_pid_file "$name")"
    echo "$name: started (pid $pid, log $log)"
}

# Waits for instance $1's /ready (the gateway's /healthz); on failure shows the end of its log
# and exits.
await_service()
{
    local name="$1" pid log url
    pid="$(<"$(ms_pid_file "$name")")"
    log="$(ms_log_file "$name")"
    url="$(ms_instance_url "$name")/ready"
    if [[ $name == gateway ]]; then
        url="$(ms_instance_url gateway)/healthz"
    fi
    if ! ms_wait_url "$url" "$READY_TIMEOUT" "$pid"; then
        echo "---- last lines of $log ----" >&2
        tail -n 40 "$log" >&2 || true
        ms_die "$name did not become ready; \`make down\` stops what was started"
    fi
    echo "$name: ready"
}

# Starts the gateway (nginx) with gateway/nginx.conf and the native upstreams, rendered into
# .data/gateway/conf/ (ms_gateway_render); nginx's prefix is .data/gateway/, so it needs no root.
# A running gateway whose rendered configuration changed is reloaded (SIGHUP).
start_gateway()
{
    local nginx prefix pid port log
    nginx="$(ms_nginx_bin)"
    prefix="$(ms_gateway_prefix)"
    log="$(ms_log_file gateway)"
    rm -rf "$prefix/conf.next"
    ms_gateway_render "$prefix/conf.next" || ms_die "gateway: could not write its configuration"
    if ! "$nginx" -t -q -p "$prefix/" -c "$prefix/conf.next/nginx.conf" -e stderr; then
        ms_die "gateway: nginx rejects the configuration in $prefix/conf.next/"
    fi
    if pid="$(ms_service_pid gateway)"; then
        if diff -rq "$prefix/conf.next" "$prefix/conf" >/dev/null 2>&1; then
            rm -rf "$prefix/conf.next"
            echo "gateway: already running (pid $pid)"
        else
            rm -rf "$prefix/conf"
            mv "$prefix/conf.next" "$prefix/conf"
            ms_gateway_reload "$pid"
            echo "gateway: already running (pid $pid), configuration reloaded"
        fi
        return 0
    fi
    port="$(ms_instance_port gateway)"
    if ms_port_busy "$port"; then
        ms_die "gateway: port $port is taken by another process; set MS_GATEWAY_PORT to use" \
            "another port"
    fi
    rm -rf "$prefix/conf"
    mv "$prefix/conf.next" "$prefix/conf"
    printf '\n==== %s: starting gateway on port %s ====\n' "$(date -Is)" "$port" >>"$log"
    nohup setsid "$nginx" -p "$prefix/" -c "$prefix/conf/nginx.conf" -e stderr \
        -g 'daemon off;' >>"$log" 2>&1 </dev/null &
    pid=$!
    echo "$pid" >"$(ms_pid_file gateway)"
    echo "gateway: started (pid $pid, log $log)"
}

print_table()
{
    local name
    echo
    printf '%-14s %-24s %s\n' SERVICE URL ENDPOINTS
    for name in "$@"; do
        case $name in
        gateway)
            printf '%-14s %-24s %s\n' "$name" "$(ms_instance_url "$name")" \
                "/ (the shop) /products /cart /orders /users /inventory /notifications /healthz"
            ;;
        product-v2)
            printf '%-14s %-24s %s\n' "$name" "$(ms_instance_url "$name")" \
                "/health /ready /metrics (the canary: SERVICE_VERSION=v2)"
            ;;
        *)
            printf '%-14s %-24s %s\n' "$name" "$(ms_service_url "$name")" "/health /ready /metrics"
            ;;
        esac
    done
    printf '%-14s %s\n' postgresql "postgresql://ms@127.0.0.1:$MS_PG_PORT/"
    printf '%-14s %s\n' redis "redis://127.0.0.1:$MS_REDIS_PORT/0"
    echo
    echo "logs: $MS_DATA_DIR/log/   stop everything: make down"
}

main()
{
    cd "$MS_ROOT"
    if [[ ${MS_UP_NO_BUILD:-0} == 1 ]]; then
        # For tests: run what MS_BUILD_DIR already holds (it may be a sanitizer build).
        echo "MS_UP_NO_BUILD=1: no dependency check, no build; starting what $MS_BUILD_DIR holds"
    else
        bash "$MS_ROOT/scripts/install-deps.sh"

        ms_section "build ($MS_BUILD_DIR)"
        ms_build "$MS_BUILD_DIR"
    fi

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
    # Bad port settings stop make up before anything starts.
    ms_instance_port product-v2 >/dev/null || exit 1
    ms_instance_port gateway >/dev/null || exit 1
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
    local started=("${services[@]}")
    if [[ " ${services[*]} " == *" product "* ]]; then
        start_service product-v2 product "SERVICE_VERSION=v2"
        started+=(product-v2)
    fi
    for name in "${started[@]}"; do
        await_service "$name"
    done

    ms_section "gateway (port $(ms_instance_port gateway))"
    if ms_nginx_bin >/dev/null; then
        start_gateway
        await_service gateway
        started+=(gateway)
    else
        echo "warning: nginx is not installed, so no gateway; scripts/install-deps.sh installs it" >&2
    fi
    print_table "${started[@]}"
}

main "$@"
