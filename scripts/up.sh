#!/usr/bin/env bash
# `make up`: builds the suite, starts PostgreSQL and Redis under .data/, and runs every built
# service, the product canary (v2, port PRODUCT_V2_PORT, default 3011) beside product, and, when
# nginx is installed, the gateway (gateway/nginx.conf on MS_GATEWAY_PORT, default 8080) under
# runit: one runsv per instance (.data/sv/<name>/) restarts it whenever it exits, one runsvdir
# (in the background, PID file .data/run/runsvdir.pid) watches them all (see the supervisor
# section of lib.sh). Waits until each answers /ready (the gateway /healthz) and prints where they
# listen. Running it again starts only what is not running (and reloads a running gateway whose
# configuration changed). `make down` stops it all. MS_FAULTPROXY=1 also runs a faultproxy in front
# of every dependency (ms_faultproxy_list in lib.sh; tools/faultproxy/README.md).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib.sh"

READY_TIMEOUT=30

# service_env NAME SERVICE [ENV...]: prints, one a line, the environment of instance NAME of
# SERVICE: its port, bind address, the stores, every upstream URL, and the extra ENV settings.
service_env()
{
    local name="$1" service="$2" db other upper
    db="$(ms_service_db "$service")"
    echo "PORT=$(ms_instance_port "$name")"
    echo "SERVICE_NAME=$service"
    echo "LOG_LEVEL=info"
    echo "BIND_ADDRESS=${MS_BIND_ADDRESS:-127.0.0.1}"
    echo "ADMIN_ENABLED=${MS_ADMIN_ENABLED:-true}"
    echo "REDIS_URL=redis://127.0.0.1:$MS_REDIS_PORT/0"
    if [[ -n $db ]]; then
        echo "DATABASE_URL=postgresql://ms@127.0.0.1:$MS_PG_PORT/$db"
    fi
    # Every service gets every upstream URL; each reads the ones it needs.
    for other in $(ms_services); do
        upper="$(tr '[:lower:]' '[:upper:]' <<<"$other")"
        echo "${upper}_URL=$(ms_service_url "$other")"
    done
    # A restarted notification process goes on as the same stream consumer, so it re-reads what
    # it had read but not acknowledged instead of leaving it to a claim NOTIFICATION_CLAIM_IDLE_MS
    # later (in a container the default, hostname-pid, is just as stable: the pid is 1).
    if [[ $service == notification ]]; then
        echo "NOTIFICATION_CONSUMER=${NOTIFICATION_CONSUMER:-$(hostname)-$name}"
    fi
    ms_faultproxy_env "$service" # MS_FAULTPROXY=1: the stores and some calls through proxies
    if (($# > 2)); then
        printf '%s\n' "${@:3}"
    fi
}

# prepare_service NAME [SERVICE [ENV...]]: unless instance NAME of SERVICE (default: NAME) runs,
# writes its runit service directory (ms_sv_write): the binary with service_env's settings,
# logging to .data/log/<NAME>.log. Sets nothing running: runsv starts it.
prepare_service()
{
    local name="$1" service="${2:-$1}" pid port envs=() unset_db=()
    if pid="$(ms_service_pid "$name")"; then
        echo "$name: already running (pid $pid)"
        return 0
    fi
    port="$(ms_instance_port "$name")"
    if ms_port_busy "$port"; then
        ms_die "$name: port $port is taken by another process; set $(ms_instance_port_var "$name")" \
            "to use another port"
    fi
    mapfile -t envs < <(service_env "$name" "$service" "${@:3}")
    if [[ -z "$(ms_service_db "$service")" ]]; then
        unset_db=(-u DATABASE_URL)
    fi
    ms_sv_write "$name" env "${unset_db[@]}" "${envs[@]}" "$(ms_service_bin "$service")" ||
        ms_die "$name: cannot write its service directory $(ms_sv_dir "$name")"
    PREPARED+=("$name")
}

# Has runsv start every prepared instance (runsvdir starts a runsv for a new directory; a
# supervised instance that is down, e.g. after `sv stop`, is brought up) and prints each PID.
start_prepared()
{
    local name pid
    for name in "${PREPARED[@]}"; do
        if [[ "$(ms_sv_state "$name")" == down ]]; then
            sv up "$(ms_sv_dir "$name")" >/dev/null
        fi
    done
    for name in "${PREPARED[@]}"; do
        if ! pid="$(ms_sv_wait_pid "$name" 15)"; then
            echo "---- last lines of $(ms_log_file "$name") ----" >&2
            tail -n 40 "$(ms_log_file "$name")" >&2 || true
            ms_die "$name: runit did not start it; \`make down\` stops what was started"
        fi
        echo "$name: started (pid $pid, log $(ms_log_file "$name"))"
    done
}

# Waits for instance $1's /ready (the gateway's /healthz); on failure shows the end of its log
# and exits.
await_service()
{
    local name="$1" pid log url
    pid="$(ms_sv_wait_pid "$name" 15)" || pid=""
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

# Prepares the gateway (nginx) with gateway/nginx.conf and the native upstreams, rendered into
# .data/gateway/conf/ (ms_gateway_render); nginx's prefix is .data/gateway/, so it needs no root.
# A running gateway whose rendered configuration changed is reloaded (SIGHUP).
prepare_gateway()
{
    local nginx prefix pid port
    nginx="$(ms_nginx_bin)"
    prefix="$(ms_gateway_prefix)"
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
    ms_sv_write gateway "$nginx" -p "$prefix/" -c "$prefix/conf/nginx.conf" -e stderr \
        -g 'daemon off;' || ms_die "gateway: cannot write its service directory"
    PREPARED+=(gateway)
}

# MS_FAULTPROXY=1: prepares one faultproxy per line of ms_faultproxy_list (instance fp-NAME, its
# admin API on its second port), like prepare_service; FAULTPROXIES gets their names.
prepare_faultproxies()
{
    local name up port admin _ pid
    FAULTPROXIES=()
    ms_faultproxy_enabled || return 0
    [[ -x "$(ms_faultproxy_bin)" ]] || ms_die "MS_FAULTPROXY=1 but $(ms_faultproxy_bin) is not built"
    while read -r name up port admin _; do
        FAULTPROXIES+=("fp-$name")
        if pid="$(ms_service_pid "fp-$name")"; then
            echo "fp-$name: already running (pid $pid)"
            continue
        fi
        ms_sv_write "fp-$name" env PROXY_NAME="$name" PROXY_LISTEN="127.0.0.1:$port" \
            PROXY_UPSTREAM="127.0.0.1:$up" PORT="$admin" BIND_ADDRESS=127.0.0.1 LOG_LEVEL=info \
            "$(ms_faultproxy_bin)" || ms_die "fp-$name: cannot write its service directory"
        PREPARED+=("fp-$name")
    done < <(ms_faultproxy_list)
}

# Waits for every proxy's admin /ready and prints where they listen.
await_faultproxies()
{
    local name up port admin _
    ms_faultproxy_enabled || return 0
    while read -r name up port admin _; do
        ms_wait_url "http://127.0.0.1:$admin/ready" "$READY_TIMEOUT" ||
            ms_die "fp-$name did not become ready; see $(ms_log_file "fp-$name")"
        echo "fp-$name: ready, 127.0.0.1:$port -> 127.0.0.1:$up, faults at http://127.0.0.1:$admin/admin/faults"
    done < <(ms_faultproxy_list)
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

    ms_section "services, under runit ($(ms_sv_dir))"
    PREPARED=()
    prepare_faultproxies
    for name in "${services[@]}"; do
        prepare_service "$name"
    done
    local started=("${services[@]}") gateway=0
    if [[ " ${services[*]} " == *" product "* ]]; then
        prepare_service product-v2 product "SERVICE_VERSION=v2"
        started+=(product-v2)
    fi
    if ms_nginx_bin >/dev/null; then
        prepare_gateway
        gateway=1
    else
        echo "warning: nginx is not installed, so no gateway; scripts/install-deps.sh installs it" >&2
    fi
    # One runsvdir for all of them, started after their directories exist so that its first scan
    # finds them all (a running one notices new directories within five seconds).
    echo "runsvdir: pid $(ms_runsvdir_start)"
    start_prepared
    await_faultproxies
    for name in "${started[@]}"; do
        await_service "$name"
    done
    if ((gateway)); then
        await_service gateway
        started+=(gateway)
    fi
    print_table "${started[@]}"
}

main "$@"
