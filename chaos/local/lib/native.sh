# shellcheck shell=bash
# The native stack of chaos/local/run.sh and tests/system/rolling-restart.test.sh: scripts/up.sh
# (runit supervising every instance) on free loopback ports, its data in a directory of the
# caller's. Source it after scripts/lib.sh and tests/deploy/lib/ports.sh; it sets no shell options.

# chaos_stack_up DIR LOG: exports MS_DATA_DIR (DIR/data), a free port in every port variable
# of the stack (MS_PG_PORT, MS_REDIS_PORT, each instance's), PG_FAST=1, MS_BIND_ADDRESS and
# MS_ADMIN_ENABLED, and runs scripts/up.sh on what MS_BUILD_DIR holds, its output in LOG. The
# caller stops it with scripts/down.sh in the same environment.
chaos_stack_up()
{
    local dir="$1" log="$2" name var
    export MS_DATA_DIR="$dir/data" PG_FAST=1 MS_BIND_ADDRESS=127.0.0.1 MS_ADMIN_ENABLED=true
    ms_free_port MS_PG_PORT
    ms_free_port MS_REDIS_PORT
    export MS_PG_PORT MS_REDIS_PORT
    for name in $(ms_services) product-v2 gateway; do
        var="$(ms_instance_port_var "$name")"
        ms_free_port "$var"
        export "${var?}"
    done
    MS_UP_NO_BUILD=1 bash "$MS_ROOT/scripts/up.sh" >"$log" 2>&1
}
