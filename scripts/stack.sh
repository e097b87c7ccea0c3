# shellcheck shell=bash
# A whole native stack in a scratch directory, every port a free loopback port: what the system
# and deploy checks, `make chaos` and `make bench` run scripts/up.sh with. Source it after
# scripts/lib.sh; it sets no shell options and starts nothing by itself.
#
#   ms_free_port VAR           a free port in VAR
#   ms_stack_env DIR BIN_DIR   exports what up.sh/down.sh read: BIN_DIR's binaries, no build, the
#                              data in DIR/data, admin endpoints on, fast throwaway stores, and a
#                              free port for PostgreSQL, Redis and every instance (the services
#                              of the table, product-v2, the gateway and its metrics); override
#                              any after it
#   ms_stack_teardown DIR RC   on RC != 0 prints the end of every log; stops the stack; rm DIR
#   ms_stack_port_map          "DEFAULT=PORT" pairs: each default port of make up and its stand-in

MS_PORTS_GIVEN=" "

# ms_free_port VAR: sets VAR to a TCP port on 127.0.0.1 that no socket uses now and that this
# shell has not handed out before. It assigns rather than prints, because a $(...) subshell
# would forget what it handed out. Ports come from below the kernel's ephemeral range
# (32768..), where the outgoing connections of tests running alongside take their ports and
# would race us for the bind (the C tests take theirs from 10000..19999).
ms_free_port()
{
    local _ms_var="$1" _ms_port _ms_tries=0
    while ((_ms_tries++ < 500)); do
        _ms_port=$((20000 + RANDOM % 12000))
        [[ $MS_PORTS_GIVEN == *" $_ms_port "* ]] && continue
        # TCP and UDP: the gateway's metrics exporter takes both of its port
        if [[ -z "$(ss -Htuan "sport = :$_ms_port" 2>/dev/null)" ]]; then
            MS_PORTS_GIVEN+="$_ms_port "
            printf -v "$_ms_var" '%s' "$_ms_port"
            return 0
        fi
    done
    echo "error: no free port found" >&2
    return 1
}

ms_stack_env()
{
    local name var
    # PostgreSQL runs as postgres and nginx's workers as nobody under root: they must reach DIR.
    chmod 755 "$1" || return 1
    export MS_DATA_DIR="$1/data" MS_BUILD_DIR="$2" MS_UP_NO_BUILD=1 PG_FAST=1 REDIS_FAST=1
    export MS_BIND_ADDRESS=127.0.0.1 MS_ADMIN_ENABLED=true
    for var in MS_PG_PORT MS_PG_POOLER_PORT MS_REDIS_PORT; do
        ms_free_port "$var" || return 1
        export "${var?}"
    done
    for name in $(ms_services) product-v2 gateway gateway-metrics prometheus; do
        var="$(ms_instance_port_var "$name")" || return 1
        ms_free_port "$var" || return 1
        export "${var?}"
    done
    ms_free_port MS_GATEWAY_METRICS_PORT || return 1
    export MS_GATEWAY_METRICS_PORT
}

ms_stack_teardown()
{
    local dir="$1" f
    [[ -n $dir && -d $dir ]] || return 0
    if [[ -d $dir/data ]]; then
        if [[ $2 != 0 ]]; then
            for f in "$dir"/up.log "$dir"/data/log/*.log; do
                [[ -f $f ]] || continue
                echo "---- last lines of ${f#"$dir"/} ----" >&2
                tail -n 15 "$f" >&2
            done
        fi
        MS_DATA_DIR="$dir/data" bash "$MS_ROOT/scripts/down.sh" >"$dir/down.log" 2>&1 ||
            cat "$dir/down.log" >&2
    fi
    rm -rf "$dir"
}

ms_stack_port_map()
{
    local name dport var _ pairs=()
    while read -r name dport var _; do
        [[ -n $name ]] && pairs+=("$dport=${!var}")
    done <<<"$MS_SERVICE_TABLE"
    pairs+=("$MS_PRODUCT_V2_DEFAULT_PORT=$PRODUCT_V2_PORT" "$MS_GATEWAY_DEFAULT_PORT=$MS_GATEWAY_PORT")
    pairs+=("$MS_GATEWAY_METRICS_DEFAULT_PORT=$MS_GATEWAY_METRICS_PORT")
    pairs+=("$MS_GATEWAY_EXPORTER_DEFAULT_PORT=$MS_GATEWAY_EXPORTER_PORT")
    pairs+=("$MS_PROMETHEUS_DEFAULT_PORT=$MS_PROMETHEUS_PORT")
    pairs+=("$MS_PG_DEFAULT_PORT=$MS_PG_PORT" "$MS_PG_POOLER_DEFAULT_PORT=$MS_PG_POOLER_PORT")
    pairs+=("$MS_REDIS_DEFAULT_PORT=$MS_REDIS_PORT")
    echo "${pairs[*]}"
}
