#!/usr/bin/env bash
# `make chaos`: the local chaos experiments (chaos/README.md, "Without a cluster") against the
# native stack. By default it builds, brings a stack of its own up with scripts/up.sh (runit
# supervising every instance) on free loopback ports in a temporary directory, runs
# chaos/local/chaos.mjs against it and tears it down (scripts/down.sh, also from the EXIT trap).
#
#   chaos/local/run.sh [--short] [--only 1,2,3,4,5,6,combined] [--keep]
#   chaos/local/run.sh --use-running [...]   the stack `make up` runs (MS_DATA_DIR, *_PORT; with
#                                            MS_FAULTPROXY=1 as make up had it, its proxies)
#   chaos/local/run.sh --use-running --check only the invariants, of everything in the databases
#   chaos/local/run.sh --target compose [--short] [--only ...]
#                                            the compose stack under rootful podman: this tree's
#                                            images, a project of its own on free ports
#                                            (chaos/local/lib/compose.sh); removed at the end
#
# --short: shorter windows and a 20 s combined run (CI: tests/system/chaos.test.sh). --keep: leave
# the stack running, its settings (MS_DATA_DIR, the ports, the chaos settings) in a file to source
# for --use-running and scripts/down.sh, and print how to stop it. MS_UP_NO_BUILD=1 with MS_BUILD_DIR: no build, the
# binaries there. Exit status 1 when a verdict failed, 2 on bad usage.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../../scripts/lib.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/../../scripts/lib.sh"
# shellcheck source-path=SCRIPTDIR source=../../scripts/stack.sh
. "$MS_ROOT/scripts/stack.sh"
# shellcheck source-path=SCRIPTDIR source=lib/compose.sh
. "$MS_ROOT/chaos/local/lib/compose.sh"
# shellcheck source-path=SCRIPTDIR source=lib/native.sh
. "$MS_ROOT/chaos/local/lib/native.sh"

HERE="$MS_ROOT/chaos/local"
T=""
OWN_STACK=1
KEEP=0
TARGET=native
NODE_ARGS=()

# The settings the chaos stack runs with, besides make up's own (every service gets them; each
# reads what it knows). Shorter than the defaults where a default would only make the runner wait:
# a reservation of an order that died is released after 30 s (default 900 s), an Idempotency-Key
# claim of a request that died can be taken over after 10 s (default 30 s; a live purchase holds
# it for 7 s at most: the timeouts of its calls and statements added up). The reservation TTL
# must outlast the longest time an order may wait to commit its reservation (experiment 3 keeps
# inventory failing for 12 s, and the breaker then stays open 5 s): with 15 s the reaper gave a
# confirmed order's stock back before the order could commit it, which the invariants caught.
CHAOS_ENV=(RESERVATION_TTL_S=30 RESERVATION_REAP_INTERVAL_S=1 IDEMPOTENCY_CLAIM_TTL_S=10)

usage()
{
    sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2
    exit 2
}

cleanup()
{
    local rc=$?
    trap - EXIT
    if [[ $TARGET == compose && -n $T ]]; then
        compose_down
        rm -rf "$T"
    elif ((OWN_STACK)) && [[ -n $T ]]; then
        if ((KEEP)); then
            local vars=()
            mapfile -t vars < <(stack_vars)
            {
                printf 'export MS_DATA_DIR=%q' "$MS_DATA_DIR"
                printf ' %q' "${vars[@]}" "${CHAOS_ENV[@]}"
                echo
            } >"$T/stack.env"
            echo "chaos: the stack keeps running, its settings in $T/stack.env; stop it with:"
            echo "chaos:   (. $T/stack.env && bash scripts/down.sh && rm -r $T)"
        else
            if ((rc != 0)) && [[ -d $T/data/log ]]; then
                rm -rf "$T.logs"
                cp -r "$T/data/log" "$T.logs"
                echo "chaos: the stack's logs are kept in $T.logs" >&2
            fi
            bash "$MS_ROOT/scripts/down.sh" >"$T/down.log" 2>&1 || cat "$T/down.log" >&2
            rm -rf "$T"
        fi
    fi
    exit "$rc"
}

# The port variables of the stack, NAME=VALUE, one a line: make up's (ms_port_vars) and the
# fault proxies' when they run.
stack_vars()
{
    ms_port_vars
    if ms_faultproxy_enabled; then
        echo "MS_FAULTPROXY=1"
        echo "MS_FAULTPROXY_PORT=${MS_FAULTPROXY_PORT:-$MS_FAULTPROXY_DEFAULT_PORT}"
    fi
}

start_stack()
{
    T="$(mktemp -d /tmp/ms-chaos.XXXXXX)"
    chmod 755 "$T" # PostgreSQL runs as postgres, nginx's workers as nobody under root
    export "${CHAOS_ENV[@]}"
    if [[ ${MS_UP_NO_BUILD:-0} != 1 ]]; then
        ms_section "build ($MS_BUILD_DIR)"
        ms_build "$MS_BUILD_DIR" >"$T/build.log" 2>&1 || {
            tail -n 30 "$T/build.log" >&2
            ms_die "the build failed"
        }
    fi
    ms_section "the stack (scripts/up.sh, data in $T/data)"
    ms_faultproxy_free_base # the network experiments' proxies, in front of every dependency
    if ! chaos_stack_up "$T" "$T/up.log"; then
        tail -n 40 "$T/up.log" >&2
        ms_die "scripts/up.sh failed"
    fi
    sed -n '/^SERVICE /,/^redis /p' "$T/up.log"
}

# Prints one instance of stack.json: name, service, URL, readiness path, database, binary, PID
# file, runit directory.
instance_json()
{
    local name="$1" service="$2" ready=/ready db="" exe
    if [[ $name == gateway ]]; then
        ready=/healthz
        exe="$(ms_nginx_bin)"
    else
        db="$(ms_service_db "$service")"
        exe="$(realpath -- "$(ms_service_bin "$service")")"
    fi
    jq -n --arg name "$name" --arg service "$service" --arg url "$(ms_instance_url "$name")" \
        --arg ready "$ready" --arg db "$db" --arg exe "$exe" --arg pid "$(ms_pid_file "$name")" \
        --arg sv "$(ms_sv_dir "$name")" \
        '{name: $name, service: $service, url: $url, ready: $ready, db: (if $db == "" then null else $db end),
          exe: $exe, pidFile: $pid, svDir: $sv}'
}

# Writes stack.json for chaos.mjs: the instances that run now, the stores, the settings.
write_stack_json()
{
    local file="$1" name list=() envs
    for name in $(ms_services); do
        if ms_service_pid "$name" >/dev/null; then
            list+=("$(instance_json "$name" "$name")")
        fi
    done
    if ms_service_pid product-v2 >/dev/null; then
        list+=("$(instance_json product-v2 product)")
    fi
    ms_service_pid gateway >/dev/null || ms_die "no gateway runs (chaos goes through it; is nginx installed?)"
    list+=("$(instance_json gateway gateway)")
    ms_runsvdir_pid >/dev/null || ms_die "runsvdir does not run for $(ms_sv_dir): not a stack of make up's"
    envs="$(for var in RESERVATION_TTL_S IDEMPOTENCY_CLAIM_TTL_S DB_POOL_SIZE INVENTORY_BREAKER_OPEN_MS; do
        if [[ -n ${!var:-} ]]; then
            jq -n --arg k "$var" --arg v "${!var}" '{($k): $v}'
        fi
    done | jq -s 'add // {}')"
    printf '%s\n' "${list[@]}" | jq -s --arg root "$MS_ROOT" --arg data "$MS_DATA_DIR" \
        --arg target "$TARGET" --argjson pg "$MS_PG_PORT" --argjson pooler "$MS_PG_POOLER_PORT" --argjson redis "$MS_REDIS_PORT" \
        --arg gw "$(ms_instance_url gateway)" --argjson env "$envs" --argjson proxies "$(ms_faultproxy_json)" \
        '{root: $root, dataDir: $data, target: $target, pgPort: $pg, poolerPort: $pooler, redisPort: $redis, gateway: $gw,
          env: $env, proxies: $proxies, instances: .}' >"$file"
}

# parse_args ARG...: the options into NODE_ARGS, KEEP, OWN_STACK and TARGET; usage on a bad one.
parse_args()
{
    while (($#)); do
        case $1 in
        --short) NODE_ARGS+=(--short) ;;
        --only)
            (($# >= 2)) || usage
            NODE_ARGS+=(--only "$2")
            shift
            ;;
        --check) NODE_ARGS+=(--check) ;;
        --keep) KEEP=1 ;;
        --use-running) OWN_STACK=0 ;;
        --target)
            (($# >= 2)) || usage
            TARGET="$2"
            shift
            ;;
        -h | --help) usage ;;
        *)
            echo "error: unknown option $1" >&2
            usage
            ;;
        esac
        shift
    done
}

# The stack the experiments run against, described in $T/stack.json: compose's, one of its
# own, or the running one (--use-running).
prepare_stack()
{
    if [[ $TARGET == compose ]]; then
        T="$(mktemp -d /tmp/ms-chaos.XXXXXX)"
        compose_init "$T"
        ms_section "images (this tree's, tagged localhost/microshop-chaos/*)"
        compose_build
        ms_section "the compose stack (project $CHAOS_COMPOSE_PROJECT)"
        compose_up
        compose_stack_json "$T/stack.json"
    elif ((OWN_STACK)); then
        start_stack
        write_stack_json "$T/stack.json"
    else
        T="$(mktemp -d /tmp/ms-chaos.XXXXXX)"
        write_stack_json "$T/stack.json"
    fi
}

main()
{
    parse_args "$@"
    case $TARGET in
    native) ;;
    compose)
        ((OWN_STACK && !KEEP)) || ms_die "--target compose brings its own stack up and removes it"
        ;;
    *) usage ;;
    esac
    command -v node >/dev/null || ms_die "node (20 or newer) is needed"
    command -v jq >/dev/null || ms_die "jq is needed"
    trap cleanup EXIT
    prepare_stack
    local rc=0
    node "$HERE/chaos.mjs" --stack "$T/stack.json" "${NODE_ARGS[@]}" || rc=$?
    if ((!OWN_STACK)) && [[ $TARGET == native ]]; then
        rm -rf "$T"
    fi
    return "$rc"
}

main "$@"
