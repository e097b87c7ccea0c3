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

# ms_faultproxy_free_base: exports MS_FAULTPROXY=1 and MS_FAULTPROXY_PORT, the first of as many
# free consecutive ports as the proxies of ms_faultproxy_list need (two each), so the chaos
# stack's network experiments have their proxies and never meet another stack's.
ms_faultproxy_free_base()
{
    local base n tries=0 p busy
    n=$((2 * $(MS_FAULTPROXY_PORT=20000 ms_faultproxy_list | wc -l)))
    while ((tries++ < 50)); do
        ms_free_port base || return 1
        busy=0
        for ((p = base; p < base + n; p++)); do
            if [[ $MS_PORTS_GIVEN == *" $p "* && $p != "$base" ]] || [[ -n "$(ss -Htan "sport = :$p" 2>/dev/null)" ]]; then
                busy=1
                break
            fi
        done
        if ((!busy && base + n < 32768)); then
            for ((p = base; p < base + n; p++)); do MS_PORTS_GIVEN+="$p "; done
            export MS_FAULTPROXY=1 MS_FAULTPROXY_PORT="$base"
            return 0
        fi
    done
    echo "error: no $n free consecutive ports for the faultproxies" >&2
    return 1
}

# ms_faultproxy_json: the faultproxies of the stack (MS_FAULTPROXY=1; see ms_faultproxy_list)
# that answer on their admin port, as JSON: [{name, upstream, port, admin, caller, dep}]; []
# without them.
ms_faultproxy_json()
{
    local name up port admin caller dep
    ms_faultproxy_enabled || {
        echo '[]'
        return 0
    }
    while read -r name up port admin caller dep; do
        curl -sf --max-time 2 "http://127.0.0.1:$admin/health" >/dev/null || continue
        jq -n --arg name "$name" --argjson up "$up" --argjson port "$port" --argjson admin "$admin" \
            --arg caller "$caller" --arg dep "$dep" \
            '{name: $name, upstream: $up, port: $port, admin: $admin, caller: $caller, dep: $dep}'
    done < <(ms_faultproxy_list) | jq -s .
}
