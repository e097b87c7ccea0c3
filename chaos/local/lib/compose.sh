# shellcheck shell=bash
# The compose stack for chaos/local/run.sh --target compose: docker-compose.yml with
# docker-compose.ci.yml (the stand-ins for the registry's images), under rootful podman-compose
# (/work/shared/CONTAINERS.md), as a project of its own on free loopback ports. The service
# images are built from this tree with a tag of their own (localhost/microshop-chaos/<name>), so
# the images other checks build and use (localhost/microshop/<name>:latest) are never replaced.
# Source it after scripts/lib.sh and scripts/stack.sh; it sets no shell options.

CHAOS_COMPOSE_SERVICES=(product cart order user inventory notification)
CHAOS_COMPOSE_STANDINS=(postgres redis nginx)
CHAOS_COMPOSE_PROJECT=""
CHAOS_COMPOSE=()

# compose_init DIR: the project name and the podman-compose command line (with an override file
# written to DIR: this tree's images, the chaos settings, the ports chosen here).
compose_init()
{
    local dir="$1" name var setting
    CHAOS_COMPOSE_PROJECT="chaos-$$"
    for var in GATEWAY_PORT PRODUCT_PORT PRODUCT_V2_PORT CART_PORT ORDER_PORT USER_PORT \
        INVENTORY_PORT NOTIFICATION_PORT PROMETHEUS_PORT GRAFANA_PORT; do
        ms_free_port "$var"
        export "${var?}"
    done
    {
        echo "# Written by chaos/local/run.sh --target compose."
        echo "services:"
        for name in "${CHAOS_COMPOSE_SERVICES[@]}" product-v2; do
            echo "  $name:"
            echo "    image: localhost/microshop-chaos/${name%-v2}:latest"
            echo "    environment:"
            for setting in "${CHAOS_ENV[@]}"; do
                echo "      ${setting%%=*}: \"${setting#*=}\""
            done
        done
    } >"$dir/chaos.override.yml"
    CHAOS_COMPOSE=(podman-compose -f "$MS_ROOT/docker-compose.yml" -f "$MS_ROOT/docker-compose.ci.yml"
        -f "$dir/chaos.override.yml" -p "$CHAOS_COMPOSE_PROJECT")
}

compose_container()
{
    echo "${CHAOS_COMPOSE_PROJECT}_${1}_1"
}

# Builds this tree's service images (one build stage serves every target) and the stand-ins
# that are missing.
compose_build()
{
    local name
    ((EUID == 0)) || ms_die "--target compose needs root: rootful podman (see /work/shared/CONTAINERS.md)"
    for name in podman podman-compose; do
        command -v "$name" >/dev/null || ms_die "$name is missing (scripts/install-deps.sh)"
    done
    timeout 600 bash "$MS_ROOT/docker/ci/podman-setup.sh" || ms_die "docker/ci/podman-setup.sh failed"
    for name in "${CHAOS_COMPOSE_STANDINS[@]}"; do
        if ! podman image exists "localhost/microshop-ci/$name:latest"; then
            timeout 900 podman build -q --format docker -t "localhost/microshop-ci/$name:latest" \
                "$MS_ROOT/docker/ci/$name" >/dev/null || ms_die "the $name stand-in did not build"
        fi
    done
    for name in "${CHAOS_COMPOSE_SERVICES[@]}"; do
        timeout 900 podman build -q --format docker --target "$name" \
            -t "localhost/microshop-chaos/$name:latest" "$MS_ROOT" >/dev/null ||
            ms_die "the $name image did not build"
    done
}

# Starts the stack and waits until every instance answers its readiness path.
compose_up()
{
    local name url deadline=$((SECONDS + 180))
    (cd "$MS_ROOT" && timeout 300 "${CHAOS_COMPOSE[@]}" up -d --no-build postgres redis \
        "${CHAOS_COMPOSE_SERVICES[@]}" product-v2 gateway) >"$T/compose-up.log" 2>&1 ||
        ms_die "podman-compose up failed: $(tail -n 20 "$T/compose-up.log")"
    for name in "${CHAOS_COMPOSE_SERVICES[@]}" product-v2 gateway; do
        url="$(compose_url "$name")$( [[ $name == gateway ]] && echo /healthz || echo /ready)"
        until [[ "$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$url")" == 200 ]]; do
            ((SECONDS < deadline)) || ms_die "$name is not ready after 180 s ($url)"
            sleep 0.5
        done
    done
}

# Stops and removes the project's containers, volumes and network, and nothing else.
compose_down()
{
    local ids
    [[ -n $CHAOS_COMPOSE_PROJECT ]] || return 0
    ids="$(podman ps -q --filter "label=io.podman.compose.project=$CHAOS_COMPOSE_PROJECT" 2>/dev/null)" || true
    if [[ -n $ids ]]; then
        # shellcheck disable=SC2086 # one id a word
        timeout 60 podman stop -t 5 $ids >/dev/null 2>&1 || true
    fi
    (cd "$MS_ROOT" && timeout 180 "${CHAOS_COMPOSE[@]}" down -v) >/dev/null 2>&1 || true
    # podman-compose 1.0.3 leaves the project's network behind
    podman network rm "${CHAOS_COMPOSE_PROJECT}_default" >/dev/null 2>&1 || true
}

compose_url()
{
    local var
    case $1 in
    gateway) var=GATEWAY_PORT ;;
    product-v2) var=PRODUCT_V2_PORT ;;
    *) var="$(ms_service_port_var "$1")" ;;
    esac
    echo "http://127.0.0.1:${!var}"
}

# Writes stack.json for chaos.mjs (target compose).
compose_stack_json()
{
    local file="$1" name service db list=() envs setting
    for name in "${CHAOS_COMPOSE_SERVICES[@]}" product-v2 gateway; do
        service="${name%-v2}"
        db=""
        if [[ $name != gateway ]]; then
            db="$(ms_service_db "$service")"
        fi
        list+=("$(jq -n --arg name "$name" --arg service "$service" --arg url "$(compose_url "$name")" \
            --arg ready "$([[ $name == gateway ]] && echo /healthz || echo /ready)" --arg db "$db" \
            --arg c "$(compose_container "$name")" \
            '{name: $name, service: $service, url: $url, ready: $ready,
              db: (if $db == "" then null else $db end), container: $c}')")
    done
    envs="$(for setting in "${CHAOS_ENV[@]}"; do
        jq -n --arg k "${setting%%=*}" --arg v "${setting#*=}" '{($k): $v}'
    done | jq -s 'add // {}')"
    printf '%s\n' "${list[@]}" | jq -s --arg root "$MS_ROOT" --arg gw "$(compose_url gateway)" \
        --arg pg "$(compose_container postgres)" --arg redis "$(compose_container redis)" \
        --argjson env "$envs" \
        '{root: $root, target: "compose", gateway: $gw, env: $env, instances: .,
          pgContainer: $pg, pgUser: "microshop", pgPassword: "microshop", redisContainer: $redis}' >"$file"
}
