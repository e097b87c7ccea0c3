# shellcheck shell=bash
# The native stack of `make up` on free loopback ports in a scratch directory, for the system
# tests. Source it after scripts/lib.sh and tests/deploy/lib/ports.sh; it sets no shell options.
#
#   ms_stack_env DIR BIN_DIR   exports MS_DATA_DIR=DIR/data, MS_BUILD_DIR=BIN_DIR, MS_UP_NO_BUILD=1
#                              and a free port for every instance (the services of lib.sh's
#                              table, the canary, the gateway, PostgreSQL and Redis)
#   ms_stack_up LOG            scripts/up.sh with that environment; fails with the log's end
#   ms_stack_down              scripts/down.sh with that environment (safe to call twice)
#   ms_stack_port_map          prints "DEFAULT=PORT" pairs: each default port of make up and
#                              the port this stack uses instead

ms_stack_env()
{
    local dir="$1" bin="$2" name var
    export MS_DATA_DIR="$dir/data" MS_BUILD_DIR="$bin" MS_UP_NO_BUILD=1 PG_FAST=1 REDIS_FAST=1
    export MS_BIND_ADDRESS=127.0.0.1 MS_ADMIN_ENABLED=true
    ms_free_port MS_PG_PORT || return 1
    ms_free_port MS_REDIS_PORT || return 1
    ms_free_port MS_GATEWAY_PORT || return 1
    ms_free_port PRODUCT_V2_PORT || return 1
    export MS_PG_PORT MS_REDIS_PORT MS_GATEWAY_PORT PRODUCT_V2_PORT
    while read -r name; do
        var="$(ms_service_port_var "$name")" || return 1
        ms_free_port "$var" || return 1
        export "${var?}"
    done < <(ms_services)
}

ms_stack_up()
{
    if ! bash "$MS_ROOT/scripts/up.sh" >"$1" 2>&1; then
        echo "error: scripts/up.sh failed; the end of its output:" >&2
        tail -n 30 "$1" >&2
        return 1
    fi
}

ms_stack_down()
{
    [[ -n ${MS_DATA_DIR:-} && -d $MS_DATA_DIR ]] || return 0
    bash "$MS_ROOT/scripts/down.sh" >"$MS_DATA_DIR/down.log" 2>&1 || {
        cat "$MS_DATA_DIR/down.log" >&2
        return 1
    }
}

ms_stack_port_map()
{
    local name dport var _ pairs=()
    while read -r name dport var _; do
        [[ -n $name ]] && pairs+=("$dport=${!var}")
    done <<<"$MS_SERVICE_TABLE"
    pairs+=("$MS_PRODUCT_V2_DEFAULT_PORT=$PRODUCT_V2_PORT" "$MS_GATEWAY_DEFAULT_PORT=$MS_GATEWAY_PORT")
    pairs+=("55432=$MS_PG_PORT" "56379=$MS_REDIS_PORT")
    echo "${pairs[*]}"
}
