# shellcheck shell=bash
# The native stack of chaos/local/run.sh and tests/system/rolling-restart.test.sh: scripts/up.sh
# (runit supervising every instance) on free loopback ports, its data in a directory of the
# caller's. Source it after scripts/lib.sh and scripts/stack.sh; it sets no shell options.

# chaos_stack_up DIR LOG: exports MS_DATA_DIR (DIR/data), a free port in every port variable
# of the stack (MS_PG_PORT, MS_REDIS_PORT, each instance's), PG_FAST=1, MS_BIND_ADDRESS and
# MS_ADMIN_ENABLED, and runs scripts/up.sh on what MS_BUILD_DIR holds, its output in LOG. The
# caller stops it with scripts/down.sh in the same environment.
chaos_stack_up()
{
    ms_stack_env "$1" "$MS_BUILD_DIR" || return 1
    export REDIS_FAST=0 # the chaos runs stop and start Redis: its data must survive
    bash "$MS_ROOT/scripts/up.sh" >"$2" 2>&1
}
