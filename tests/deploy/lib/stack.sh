# shellcheck shell=bash
# A whole native stack for the checks that need one (tests/deploy/gateway.test.sh and
# tests/system/*.test.sh): scripts/up.sh running the binaries of a build directory, with every
# port a free loopback port and all its data under one temporary directory, and its teardown.
# Source it (it sources lib/ports.sh); it sets no shell options and starts nothing by itself.

# shellcheck source-path=SCRIPTDIR source=ports.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/ports.sh"
MS_STACK_ROOT="$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/../../.." && pwd -P)"

# ms_stack_env DIR BIN_DIR: exports what scripts/up.sh and scripts/down.sh read, so that they
# run BIN_DIR's binaries (no build) with the data in DIR/data, the admin endpoints on, and a free
# port for PostgreSQL, Redis, the gateway, the product canary and every service of the table in
# scripts/lib.sh (MS_PG_PORT, MS_REDIS_PORT, MS_GATEWAY_PORT, PRODUCT_V2_PORT, <SERVICE>_PORT).
ms_stack_env()
{
    local var vars
    export MS_DATA_DIR="$1/data" MS_BUILD_DIR="$2" MS_UP_NO_BUILD=1 PG_FAST=1 REDIS_FAST=1
    export MS_BIND_ADDRESS=127.0.0.1 MS_ADMIN_ENABLED=true
    # shellcheck disable=SC2016 # expanded by the inner shell
    vars="$(bash -c '. "$1/scripts/lib.sh" && for s in $(ms_services); do ms_service_port_var "$s"; done' \
        _ "$MS_STACK_ROOT")" || return 1
    for var in MS_PG_PORT MS_REDIS_PORT MS_GATEWAY_PORT PRODUCT_V2_PORT $vars; do
        ms_free_port "$var" || return 1
        export "${var?}"
    done
}

# ms_stack_teardown DIR BIN_DIR RC: when RC is not 0, prints the end of up.sh's log and of every
# service log; stops what scripts/up.sh started in DIR/data (down.sh signals only PIDs that are
# our processes); removes DIR.
ms_stack_teardown()
{
    local dir="$1" f
    [[ -n $dir && -d $dir ]] || return 0
    if [[ -d $dir/data ]]; then
        if [[ $3 != 0 ]]; then
            for f in "$dir"/up.log "$dir"/data/log/*.log; do
                [[ -f $f ]] || continue
                echo "---- last lines of ${f#"$dir"/} ----" >&2
                tail -n 15 "$f" >&2
            done
        fi
        env -u MS_UP_NO_BUILD MS_DATA_DIR="$dir/data" MS_BUILD_DIR="$2" \
            bash "$MS_STACK_ROOT/scripts/down.sh" >"$dir/down.log" 2>&1 || cat "$dir/down.log" >&2
    fi
    rm -rf "$dir"
}

# ms_stack_port_map: prints "DEFAULT=PORT" pairs, each default port of `make up` (the services of
# the table, the canary, the gateway, PostgreSQL, Redis) with the port ms_stack_env gave it.
ms_stack_port_map()
{
    # shellcheck disable=SC2016 # expanded by the inner shell
    bash -c '. "$1/scripts/lib.sh" || exit 1
        pairs=()
        while read -r name dport var _; do
            [[ -n $name ]] && pairs+=("$dport=${!var}")
        done <<<"$MS_SERVICE_TABLE"
        pairs+=("$MS_PRODUCT_V2_DEFAULT_PORT=$PRODUCT_V2_PORT" "$MS_GATEWAY_DEFAULT_PORT=$MS_GATEWAY_PORT")
        pairs+=("$MS_PG_DEFAULT_PORT=$MS_PG_PORT" "$MS_REDIS_DEFAULT_PORT=$MS_REDIS_PORT")
        echo "${pairs[*]}"' _ "$MS_STACK_ROOT"
}
