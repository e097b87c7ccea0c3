#!/usr/bin/env bash
# `make up`: builds the suite, starts PostgreSQL and Redis under .data/, and runs every built
# service, the product canary (v2, port PRODUCT_V2_PORT, default 3011) beside product, and, when
# nginx is installed, the gateway (gateway/nginx.conf on MS_GATEWAY_PORT, default 8080) and its
# metrics exporter (gateway-metrics on MS_GATEWAY_EXPORTER_PORT, default 9146; nginx serves its
# /metrics on 127.0.0.1:MS_GATEWAY_METRICS_PORT, default 9145) under
# runit: one runsv per instance (.data/sv/<name>/) restarts it whenever it exits, one runsvdir
# (in the background, PID file .data/run/runsvdir.pid) watches them all (see the supervisor
# section of lib.sh). Waits until each answers /ready (the gateway /healthz) and prints where they
# listen. Running it again starts only what is not running (and reloads a running gateway whose
# configuration changed), and Prometheus (prepare_prometheus). `make down` stops it all.
# MS_FAULTPROXY=1 also runs a faultproxy in front of every dependency (ms_faultproxy_list in
# lib.sh; tools/faultproxy/README.md).
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
        echo "DATABASE_URL=postgresql://ms@127.0.0.1:$MS_PG_POOLER_PORT/$db"
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
    elif [[ $name == prometheus ]]; then
        url="$(ms_instance_url prometheus)/-/ready"
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

# Prepares Prometheus (Debian's package) on 127.0.0.1:MS_PROMETHEUS_PORT (default 9190) with
# monitoring/prometheus/prometheus.native.yml rendered for the ports in use (ms_prometheus_render)
# into .data/prometheus/, its data in .data/prometheus/data/, under runit like the services, so
# `make down` stops it. A running one re-reads the configuration (SIGHUP). Grafana is not run
# natively (compose and Kubernetes only). Fails, after a warning, when it cannot start.
prepare_prometheus()
{
    local bin port dir="$MS_DATA_DIR/prometheus" pid
    if ! bin="$(ms_prometheus_bin)"; then
        echo "warning: prometheus is not installed, so no metrics history; scripts/install-deps.sh installs it" >&2
        return 1
    fi
    port="$(ms_instance_port prometheus)" || exit 1
    ms_prometheus_render "$dir" || ms_die "prometheus: could not write $dir/prometheus.yml"
    if pid="$(ms_service_pid prometheus)"; then
        kill -HUP "$pid"
        echo "prometheus: already running (pid $pid), configuration re-read"
        return 0
    fi
    if ms_port_busy "$port"; then
        echo "warning: prometheus: port $port is taken by another process, so no metrics history;" \
            "set MS_PROMETHEUS_PORT to use another port" >&2
        return 1
    fi
    ms_sv_write prometheus "$bin" --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
        --web.listen-address="127.0.0.1:$port" --log.level=warn ||
        ms_die "prometheus: cannot write its service directory"
    PREPARED+=(prometheus)
}

# Prepares the gateway's metrics exporter (tools/gateway-metrics) on 127.0.0.1 at
# MS_GATEWAY_EXPORTER_PORT: nginx sends it a line per request over UDP and serves its /metrics
# (TCP, the same port) on MS_GATEWAY_METRICS_PORT. Fails, with a warning, when it is not built.
prepare_gateway_metrics()
{
    local pid port bin
    bin="$(ms_gateway_metrics_bin)"
    if [[ ! -x $bin ]]; then
        echo "warning: $bin is not built, so the gateway has no metrics" >&2
        return 1
    fi
    if pid="$(ms_service_pid gateway-metrics)"; then
        echo "gateway-metrics: already running (pid $pid)"
        return 0
    fi
    port="$(ms_instance_port gateway-metrics)"
    if ms_port_busy "$port"; then
        ms_die "gateway-metrics: port $port is taken by another process; set" \
            "MS_GATEWAY_EXPORTER_PORT to use another port"
    fi
    ms_sv_write gateway-metrics env BIND_ADDRESS=127.0.0.1 "PORT=$port" "$bin" ||
        ms_die "gateway-metrics: cannot write its service directory"
    PREPARED+=(gateway-metrics)
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
        prometheus)
            printf '%-14s %-24s %s\n' "$name" "$(ms_instance_url "$name")" \
                "/graph /alerts /targets (every service's /metrics, the rules)"
            ;;
        gateway-metrics)
            printf '%-14s %-24s %s\n' "$name" \
                "http://127.0.0.1:$(ms_port_value MS_GATEWAY_METRICS_PORT "$MS_GATEWAY_METRICS_DEFAULT_PORT")" \
                "/metrics (the gateway's, by route, code, upstream; served by nginx)"
            ;;
        *)
            printf '%-14s %-24s %s\n' "$name" "$(ms_service_url "$name")" "/health /ready /metrics"
            ;;
        esac
    done
    printf '%-14s %s\n' postgresql "postgresql://ms@127.0.0.1:$MS_PG_PORT/" \
        pgbouncer "postgresql://ms@127.0.0.1:$MS_PG_POOLER_PORT/ (what the services connect to)"
    printf '%-14s %s\n' redis "redis://127.0.0.1:$MS_REDIS_PORT/0"
    echo
    echo "logs: $MS_DATA_DIR/log/   stop everything: make down"
}

# Builds the services first (installing what is missing), except for tests (MS_UP_NO_BUILD=1).
build_step()
{
    if [[ ${MS_UP_NO_BUILD:-0} == 1 ]]; then
        # For tests: run what MS_BUILD_DIR already holds (it may be a sanitizer build).
        echo "MS_UP_NO_BUILD=1: no dependency check, no build; starting what $MS_BUILD_DIR holds"
    else
        bash "$MS_ROOT/scripts/install-deps.sh" run

        ms_section "build ($MS_BUILD_DIR)"
        ms_build "$MS_BUILD_DIR"
    fi
}

# start_stores SERVICE...: PostgreSQL with the databases of SERVICEs, and Redis.
start_stores()
{
    local dbs=() name db
    for name in "$@"; do
        db="$(ms_service_db "$name")"
        if [[ -n $db ]]; then
            dbs+=("$db")
        fi
    done
    ms_section "PostgreSQL (port $MS_PG_PORT, PgBouncer $MS_PG_POOLER_PORT) and Redis (port $MS_REDIS_PORT)"
    bash "$MS_ROOT/scripts/pg.sh" start "$MS_DATA_DIR/pg" "$MS_PG_PORT"
    if ((${#dbs[@]})); then
        bash "$MS_ROOT/scripts/pg.sh" createdb "$MS_DATA_DIR/pg" "$MS_PG_PORT" "${dbs[@]}"
    fi
    ms_pooler_start
    bash "$MS_ROOT/scripts/redis.sh" start "$MS_DATA_DIR/redis" "$MS_REDIS_PORT"
}

# prepare_all SERVICE...: the run directories of the fault proxies, SERVICEs, product's canary,
# the gateway with its exporter and Prometheus. What it prepared goes to STARTED, except the
# gateway and Prometheus, which go to LAST: they are awaited after the services they front.
prepare_all()
{
    local name
    ms_section "services, under runit ($(ms_sv_dir))"
    PREPARED=()
    prepare_faultproxies
    for name in "$@"; do
        prepare_service "$name"
    done
    STARTED=("$@") LAST=()
    if [[ " $* " == *" product "* ]]; then
        prepare_service product-v2 product "SERVICE_VERSION=v2"
        STARTED+=(product-v2)
    fi
    if ms_nginx_bin >/dev/null; then
        if prepare_gateway_metrics; then
            STARTED+=(gateway-metrics)
        fi
        prepare_gateway
        LAST+=(gateway)
    else
        echo "warning: nginx is not installed, so no gateway; scripts/install-deps.sh installs it" >&2
    fi
    if prepare_prometheus; then
        LAST+=(prometheus)
    fi
}

# Starts what prepare_all prepared, waits for each to answer, and prints the table.
start_all()
{
    local name
    # One runsvdir for all of them, started after their directories exist so that its first scan
    # finds them all (a running one notices new directories within five seconds).
    echo "runsvdir: pid $(ms_runsvdir_start)"
    start_prepared
    await_faultproxies
    for name in "${STARTED[@]}" "${LAST[@]}"; do
        await_service "$name"
    done
    print_table "${STARTED[@]}" "${LAST[@]}"
}

main()
{
    cd "$MS_ROOT"
    build_step
    local services=()
    mapfile -t services < <(ms_built_services)
    if ((${#services[@]} == 0)); then
        echo "warning: no service binary under $MS_BUILD_DIR/services; starting only the stores" >&2
    fi
    # Bad port settings stop make up before anything starts.
    ms_instance_port product-v2 >/dev/null || exit 1
    ms_instance_port gateway >/dev/null || exit 1
    ms_instance_port prometheus >/dev/null || exit 1
    mkdir -p "$MS_DATA_DIR/log" "$MS_DATA_DIR/run"

    start_stores "${services[@]}"
    prepare_all "${services[@]}"
    start_all
}

main "$@"
