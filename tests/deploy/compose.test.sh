#!/usr/bin/env bash
# The containers and compose files: Dockerfile, docker-compose.yml, docker-compose.ci.yml,
# docker/ (the PostgreSQL init script, the CI stand-ins, the podman set-up), tools/healthcheck.c.
#
# Static: the scripts are shellcheck-clean; both compose files pass yamllint and merge
# (podman-compose --dry-run); every container has a healthcheck and `restart: unless-stopped`, every
# depends_on names a service and a condition, every service variable is one docs/configuration.md documents,
# every bind mount exists, the override only swaps images.
# Live (rootful podman, set up by docker/ci/podman-setup.sh as /work/shared/CONTAINERS.md says):
# builds every image (one build stage for all service targets) and the stand-ins; checks the
# images (uid 10001, SIGTERM, healthcheck, one binary each); starts the stack without Grafana with
# podman-compose on free loopback ports (the gateway too: `make up`'s may hold 8080); polls every
# container's healthcheck (podman runs none by itself); checks Prometheus scrapes all 8 targets
# and loaded the rules; the load service sends traffic by itself; through the gateway: the storefront's page and an asset from the frontend
# container, a purchase (user, cart, order 201, notification),
# the 90/10 split over 600 requests and x-user-type: vip, the canary moved to 100 % and back at
# run time (bin/lab canary), the 0.5 s product timeout (504) with delays injected into both
# product versions (bin/lab fault); runs labs 1-6 against it (tests/system/labs.mjs, LAB_WAY=compose);
# kills a service's main process from the host (bin/lab kill)
# and times its return (restart policy); stops one service gracefully (exit 0); then the
# instructor's bundle: saved, every image removed, loaded, compose up with no build and no pull, a
# purchase through the gateway (bundle_roundtrip). Tears it all down on exit. Prints the time of
# each phase. Cold (first run on a machine): ~7 min; warm: ~4 min (the bundle round trip is
# about 2.5 min of it: saving, removing and loading 13 images, 787 MB, and a second start).
set -euo pipefail

ROOT="$(cd -P -- "${MS_SOURCE_DIR:-$(dirname -- "${BASH_SOURCE[0]}")/../..}" && pwd -P)"
# shellcheck source-path=SCRIPTDIR/../.. source=scripts/lib.sh
. "$ROOT/scripts/lib.sh"
# shellcheck source-path=SCRIPTDIR/../.. source=scripts/stack.sh
. "$ROOT/scripts/stack.sh"

PROJECT=microshop-ci
SERVICES=(product cart order user inventory notification frontend)
# Every container CI starts: all but grafana, which has no stand-in (docker-compose.ci.yml).
STACK=(postgres redis "${SERVICES[@]}" product-v2 gateway-metrics gateway load prometheus)
STANDINS=(postgres redis nginx prometheus)
COMPOSE=(podman-compose -f "$ROOT/docker-compose.yml" -f "$ROOT/docker-compose.ci.yml"
    -p "$PROJECT")
GW=""
START=$SECONDS
PHASE_START=$SECONDS
PHASE=""
TIMES=()
CHECKS=0
T=""
STARTED=0

fail()
{
    echo "FAIL [$PHASE]: $*" >&2
    exit 1
}

ok()
{
    CHECKS=$((CHECKS + 1))
    echo "ok [$((SECONDS - START))s]: $*"
}

# phase NAME: closes the running phase (recording its time) and opens the next.
phase()
{
    if [[ -n $PHASE ]]; then
        TIMES+=("$(printf '%-12s %4ss' "$PHASE" $((SECONDS - PHASE_START)))")
    fi
    PHASE="$1"
    PHASE_START=$SECONDS
    [[ -n $PHASE ]] && ms_section "$PHASE"
    return 0
}

container()
{
    echo "${PROJECT}_${1}_1"
}

# Removes whatever this project left: containers, volumes, the network (also from a run that
# was killed), and nothing else.
remove_project()
{
    local ids
    # One podman stop for all (in parallel; compose down stops them one after another), then
    # compose down removes them with their volumes.
    ids="$(podman ps -q --filter "label=io.podman.compose.project=$PROJECT" 2>/dev/null)" || true
    if [[ -n $ids ]]; then
        # shellcheck disable=SC2086
        timeout 60 podman stop -t 5 $ids >>"$T/down.log" 2>&1 || true
    fi
    timeout 180 "${COMPOSE[@]}" down -v >>"$T/down.log" 2>&1 || true
    ids="$(podman ps -aq --filter "label=io.podman.compose.project=$PROJECT" 2>/dev/null)" || true
    if [[ -n $ids ]]; then
        # shellcheck disable=SC2086
        podman rm -f -t 5 $ids >>"$T/down.log" 2>&1 || true
    fi
    ids="$(podman volume ls -q --filter "label=io.podman.compose.project=$PROJECT" 2>/dev/null)" ||
        true
    if [[ -n $ids ]]; then
        # shellcheck disable=SC2086
        podman volume rm -f $ids >>"$T/down.log" 2>&1 || true
    fi
    if podman network exists "${PROJECT}_default" 2>/dev/null; then
        podman network rm -f "${PROJECT}_default" >>"$T/down.log" 2>&1 || true
    fi
}

cleanup()
{
    local rc=$? name
    trap - EXIT
    if ((STARTED)); then
        if [[ $rc != 0 ]]; then
            for name in "${STACK[@]}"; do
                echo "---- last log lines of $(container "$name") ----" >&2
                podman logs --tail 12 "$(container "$name")" 2>&1 | cut -c1-300 >&2 || true
            done
            echo "---- podman-compose up ----" >&2
            grep -v 'systemd connection' "$T/up.log" | tail -n 20 >&2 || true
        fi
        phase teardown
        remove_project
        if podman ps -aq --filter "label=io.podman.compose.project=$PROJECT" | grep -q .; then
            echo "FAIL: containers of $PROJECT are left after teardown" >&2
            rc=1
        fi
        phase ""
    fi
    [[ -n $T ]] && rm -rf "$T"
    if ((${#TIMES[@]})); then
        echo
        echo "phase times:"
        printf '  %s\n' "${TIMES[@]}"
    fi
    echo "total: $((SECONDS - START))s, $CHECKS checks$([[ $rc == 0 ]] || echo ", FAILED")"
    exit "$rc"
}
trap cleanup EXIT

# http METHOD URL [BODY [HEADER]]: prints "STATUS BODY"; curl failures print "000".
http()
{
    local args=(-sS -m 5 -o "$T/body" -w '%{http_code}' -X "$1")
    if [[ $# -ge 3 ]]; then
        args+=(-H 'Content-Type: application/json' --data "$3")
    fi
    if [[ $# -ge 4 ]]; then
        args+=(-H "$4")
    fi
    rm -f "$T/body" # a request that gets no answer must not show the last one's body
    local code
    code="$(curl "${args[@]}" "$2" 2>/dev/null)" || code="${code:-000}"
    echo "$code $(cat "$T/body" 2>/dev/null)"
}

# json_field JSON FIELD: the value of a top-level number or string field.
json_field()
{
    sed -nE "s/.*\"$2\":\"?([^\",}]*)\"?.*/\1/p" <<<"$1" | head -n 1
}

static_checks()
{
    phase static
    shellcheck -x "$ROOT/tests/deploy/compose.test.sh" "$ROOT/docker/ci/podman-setup.sh" "$ROOT/bin/lab" \
        "$ROOT/docker/postgres/init-databases.sh" "$ROOT/docker/ci/postgres/docker-entrypoint.sh" ||
        fail "shellcheck"
    ok "the scripts are shellcheck-clean"
    yamllint -s -c "$ROOT/tests/deploy/yamllint.yaml" "$ROOT/docker-compose.yml" \
        "$ROOT/docker-compose.ci.yml" || fail "yamllint"
    ok "docker-compose.yml and docker-compose.ci.yml pass yamllint"
    # The contracts, read with the suite's pinned yaml parser.
    node "$ROOT/tests/deploy/lib/compose-contracts.mjs" "$ROOT" "${SERVICES[@]}" ||
        fail "docker-compose contracts (above)"
    ok "compose contracts: healthchecks, restart policies, depends_on conditions, documented variables, mounts"
}

preflight()
{
    phase preflight
    ((EUID == 0)) || fail "run as root: rootful podman (see /work/shared/CONTAINERS.md)"
    local tool
    for tool in podman podman-compose curl ss node yamllint shellcheck; do
        command -v "$tool" >/dev/null || fail "$tool is missing (scripts/install-deps.sh)"
    done
    ok "root and the tools"
    timeout 600 bash "$ROOT/docker/ci/podman-setup.sh" || fail "docker/ci/podman-setup.sh"
    ok "podman set up (runc, ulimits, netavark; debian:bookworm-slim present)"
}

build_images()
{
    phase build
    local name pid pids=() failed=0
    # The stand-ins build alongside (mostly waiting on the mirror).
    for name in "${STANDINS[@]}"; do
        timeout 900 podman build -q --format docker -t "localhost/microshop-ci/$name:latest" \
            "$ROOT/docker/ci/$name" >"$T/build-$name.log" 2>&1 &
        pids+=($!)
    done
    # One build stage serves every target: the first target compiles, the others reuse it; wrk
    # is the load generator's.
    for name in "${SERVICES[@]}" gateway-metrics wrk; do
        if ! timeout 900 podman build -q --format docker --target "$name" \
            -t "localhost/microshop/$name:latest" "$ROOT" >"$T/build-svc-$name.log" 2>&1; then
            tail -n 30 "$T/build-svc-$name.log" >&2
            failed=1
        fi
    done
    for pid in "${pids[@]}"; do
        wait "$pid" || failed=1
    done
    if ((failed)); then
        for name in "${STANDINS[@]}"; do
            tail -n 15 "$T/build-$name.log" >&2
        done
        fail "an image did not build (logs above)"
    fi
    ok "built ${#SERVICES[@]} service images and ${#STANDINS[@]} stand-ins"
    podman images --format '{{.Repository}}:{{.Tag}} {{.Size}}' | grep -E '^localhost/microshop' |
        sort | sed 's/^/    /'
}

check_images()
{
    phase images
    local name img cfg bins
    for name in "${SERVICES[@]}"; do
        img="localhost/microshop/$name:latest"
        cfg="$(podman image inspect -f '{{.Config.User}}|{{.Config.StopSignal}}|{{json .Config.Healthcheck.Test}}|{{json .Config.Cmd}}|{{json .Config.ExposedPorts}}' "$img")"
        [[ $cfg == "10001:10001|SIGTERM|"'["CMD","/usr/local/bin/healthcheck"]|["/usr/local/bin/'"$name"'"]|'* ]] ||
            fail "$img: user, stop signal, healthcheck or command wrong: $cfg"
        [[ $cfg == *"\"$(ms_service_port "$name")/tcp\""* ]] || fail "$img does not expose its port: $cfg"
        bins="$(podman run --rm --no-healthcheck --entrypoint /bin/ls "$img" /usr/local/bin |
            sort | tr '\n' ' ')"
        [[ $bins == "$(printf '%s\n' healthcheck "$name" | sort | tr '\n' ' ')" ]] ||
            fail "$img holds other binaries: $bins"
    done
    ok "service images: user 10001, STOPSIGNAL SIGTERM, HEALTHCHECK, only their own binary"
}

start_stack()
{
    phase up
    # Free ports for every published port, the gateway's too, so this runs beside `make up`.
    local var
    for var in GATEWAY_PORT PRODUCT_PORT PRODUCT_V2_PORT CART_PORT ORDER_PORT USER_PORT \
        INVENTORY_PORT NOTIFICATION_PORT FRONTEND_PORT PROMETHEUS_PORT GRAFANA_PORT; do
        # below the ephemeral range, where outgoing connections would race us for the port
        ms_free_port "$var" || fail "no free port for $var"
        export "${var?}"
    done
    GW="http://127.0.0.1:$GATEWAY_PORT"
    remove_project # a previous run that was killed
    STARTED=1
    # podman-compose 1.0.3 has no `config`: its dry run shows the merged result as podman commands.
    (cd "$ROOT" && timeout 60 "${COMPOSE[@]}" --dry-run up -d --no-build "${STACK[@]}") \
        >"$T/dry-run.log" 2>&1 || fail "podman-compose cannot merge the compose files: $(tail -n 5 "$T/dry-run.log")"
    local want
    for want in "--name=$(container gateway) .* -p 127.0.0.1:$GATEWAY_PORT:8080 .*localhost/microshop-ci/nginx:latest" \
        "--name=$(container product-v2) .* -e SERVICE_VERSION=v2 .*localhost/microshop/product:latest" \
        "--name=$(container postgres) .*localhost/microshop-ci/postgres:latest postgres -c fsync=off" \
        "--name=$(container prometheus) .*localhost/microshop-ci/prometheus:latest --config.file=/etc/monitoring/prometheus/prometheus.yml"; do
        grep -qE -- "^podman run $want" "$T/dry-run.log" || fail "the merged compose files lack: $want"
    done
    ok "the merged compose files: CI images, base commands kept, the gateway on $GATEWAY_PORT"
    (cd "$ROOT" && timeout 300 "${COMPOSE[@]}" up -d --no-build "${STACK[@]}") >"$T/up.log" 2>&1 ||
        fail "podman-compose up failed"
    ok "podman-compose up -d: ${STACK[*]}"
}

# Polls `podman healthcheck run` for every container until all pass (podman schedules none).
wait_healthy()
{
    local deadline=$((SECONDS + 180)) name pending
    while :; do
        pending=()
        for name in "${STACK[@]}"; do
            podman healthcheck run "$(container "$name")" >/dev/null 2>&1 || pending+=("$name")
        done
        ((${#pending[@]} == 0)) && break
        ((SECONDS < deadline)) || fail "not healthy after 180 s: ${pending[*]}"
        sleep 1
    done
    ok "all ${#STACK[@]} containers pass their healthchecks"
    # The probe itself: 2xx passes, anything else fails.
    podman exec "$(container product)" /usr/local/bin/healthcheck /health ||
        fail "healthcheck /health failed on a live product"
    if podman exec "$(container product)" /usr/local/bin/healthcheck /no-such-path; then
        fail "healthcheck passed on a 404"
    fi
    ok "tools/healthcheck: 0 for /health, 1 for a 404"
    [[ "$(http GET "$GW/healthz")" == 200* ]] || fail "the gateway's /healthz"
    ok "the gateway answers on 127.0.0.1:$GATEWAY_PORT"
}

check_prometheus()
{
    phase prometheus
    local url="http://127.0.0.1:$PROMETHEUS_PORT" deadline=$((SECONDS + 60)) up=0 rules
    while ((SECONDS < deadline)); do
        up="$(curl -sS -m 5 "$url/api/v1/targets?state=active" | grep -o '"health":"up"' | wc -l)" ||
            up=0
        ((up >= 8)) && break
        sleep 1
    done
    ((up >= 8)) || fail "Prometheus scrapes $up of 8 targets"
    ok "Prometheus scrapes all 8 service targets (product v1 and v2, the frontend, by compose DNS names)"
    rules="$(curl -sS -m 5 "$url/api/v1/rules" | grep -o '"type":"alerting"' | wc -l)"
    ((rules > 0)) || fail "Prometheus loaded no alerting rules from monitoring/rules/"
    ok "Prometheus loaded $rules alerting rules from the mounted monitoring/rules/"
}

# The sum of product's http_requests_total (both versions).
product_requests()
{
    local port
    for port in "$PRODUCT_PORT" "$PRODUCT_V2_PORT"; do
        curl -sS -m 5 "127.0.0.1:$port/metrics"
    done | awk '/^http_requests_total\{service="product"/ { n += $2 } END { print n + 0 }'
}

check_load()
{
    phase load
    local before after deadline=$((SECONDS + 60))
    before="$(product_requests)"
    while after="$(product_requests)" && ((after <= before + 5)); do
        ((SECONDS < deadline)) || fail "the load service sent no traffic in 60 s: $(podman logs --tail 10 "$(container load)" 2>&1)"
        sleep 1
    done
    ok "the load service keeps traffic going by itself: product served $((after - before)) requests meanwhile"
}

journey()
{
    phase journey
    local r uid oid email="compose-$$-$RANDOM@example.com" deadline asset
    r="$(http GET "$GW/")"
    [[ $r == 200* && $r == *'<!doctype html>'* ]] || fail "GET / through the gateway: ${r:0:200}"
    asset="$(grep -oE '/assets/app\.js\?v=[0-9a-f]+' <<<"$r")" || fail "the page names no versioned app.js"
    r="$(curl -sS -m 5 -o /dev/null -w '%{http_code} %{content_type} %header{cache-control}' "$GW$asset")"
    [[ $r == "200 text/javascript; charset=utf-8 public, max-age=31536000, immutable" ]] ||
        fail "GET $asset through the gateway: $r"
    ok "the storefront through the gateway: the page and $asset (immutable) from the frontend container"
    r="$(http POST "$GW/users" "{\"email\":\"$email\",\"name\":\"Compose Check\"}")"
    [[ $r == 201* ]] || fail "POST /users: $r"
    uid="$(json_field "$r" id)"
    r="$(http POST "$GW/cart/$uid" '{"product_id":3,"quantity":2}')"
    [[ $r == 200* && $r == *'"quantity":2'* ]] || fail "POST /cart/$uid: $r"
    # as a client does: one Idempotency-Key, a 503 or no answer in 5 s retried with it, for
    # at most 20 s (the first purchase meets cold pools and caches on a loaded machine)
    deadline=$((SECONDS + 20))
    while :; do
        r="$(http POST "$GW/orders" "{\"user_id\":$uid}" "Idempotency-Key: compose-$$-$uid")"
        if [[ $r != 000* && $r != 503* ]] || ((SECONDS >= deadline)); then
            break
        fi
        sleep 1
    done
    [[ $r == 201* && $r == *'"status":"confirmed"'* ]] || fail "POST /orders: $r"
    oid="$(json_field "$r" id)"
    ok "through the gateway: user $uid, 2 x product 3 in the cart, order $oid (201)"
    deadline=$((SECONDS + 30))
    until [[ "$(http GET "$GW/notifications?order_id=$oid")" == *"\"order_id\":\"$oid\""* ]]; do
        ((SECONDS < deadline)) || fail "no notification for order $oid after 30 s"
        sleep 0.5
    done
    ok "the notification for order $oid appeared (order -> Redis stream -> notification)"
}

# lab ARGS...: bin/lab on this project (the compose way, the CI compose files, the ports above).
lab()
{
    MS_LAB_WAY=compose MS_COMPOSE="${COMPOSE[*]}" MS_COMPOSE_PROJECT="$PROJECT" \
        "$ROOT/bin/lab" "$@" || fail "bin/lab $*"
}

check_timeout()
{
    phase timeout
    local port out code t
    [[ "$(lab fault product delay 3000)" == "product: delay 3000 ms on 100 % of requests" ]] ||
        fail "bin/lab fault product delay 3000"
    for port in "$PRODUCT_PORT" "$PRODUCT_V2_PORT"; do
        [[ "$(curl -sS "127.0.0.1:$port/admin/faults")" == *'"delay_ms":3000,"delay_percent":100'* ]] ||
            fail "the delay is not set on the product on port $port"
    done
    for hdr in "x-user-type: regular" "x-user-type: vip"; do
        out="$(curl -sS -m 5 -o /dev/null -w '%{http_code} %{time_total}' -H "$hdr" "$GW/products/1")"
        read -r code t <<<"$out"
        [[ $code == 504 ]] || fail "GET /products/1 ($hdr) with a 3 s delay answered $code"
        awk -v t="$t" 'BEGIN { exit !(t >= 0.45 && t < 1.5) }' ||
            fail "the 504 ($hdr) came after ${t}s, not about 0.5 s"
        ok "a 3 s delay in both product versions: 504 after ${t}s ($hdr)"
    done
    lab fault product clear >/dev/null
    [[ "$(http GET "$GW/products/1")" == 200* ]] || fail "product did not recover after the faults"
    ok "faults cleared: 200 again"
}

check_split()
{
    phase split
    local n=600 i v1 v2 other
    : >"$T/split.curl"
    for ((i = 0; i < n; i++)); do
        printf 'url = "%s/products/%d"\noutput = "/dev/null"\n' "$GW" $((i % 27 + 1)) >>"$T/split.curl"
    done
    curl -sS -m 120 -K "$T/split.curl" -w '%{http_code} %header{x-service-version}\n' >"$T/split.out" ||
        fail "curl over $n requests"
    v1="$(grep -c '^200 v1$' "$T/split.out")" || true
    v2="$(grep -c '^200 v2$' "$T/split.out")" || true
    other=$((n - v1 - v2))
    ((other == 0)) || fail "$other of $n answers were not 200 from v1 or v2: $(grep -v '^200 v[12]$' "$T/split.out" | sort | uniq -c | head -n 3)"
    # Binomial(600, 0.1): mean 60, sd 7.3; [31, 89] is +-4 sd (a false alarm 1 in 15000 runs).
    ((v2 >= 31 && v2 <= 89)) || fail "v2 got $v2 of $n, not 10 % (31..89 expected)"
    ok "split over $n requests: v1 $v1, v2 $v2 ($((v2 * 100 / n)) %, 10 % expected)"
    curl -sS -m 30 -H 'x-user-type: vip' -w '%{http_code} %header{x-service-version}\n' \
        -o /dev/null "$GW/products/[1-20]" >"$T/vip.out" || fail "curl vip"
    [[ "$(grep -c '^200 v2$' "$T/vip.out")" == 20 ]] ||
        fail "x-user-type: vip did not always reach v2: $(sort "$T/vip.out" | uniq -c)"
    ok "x-user-type: vip: 20 of 20 to v2"
    [[ "$(lab canary 100)" == "canary: 100 % of product requests go to v2" ]] || fail "bin/lab canary 100"
    curl -sS -m 30 -w '%{http_code} %header{x-service-version}\n' -o /dev/null "$GW/products/[1-20]" \
        >"$T/canary.out" || fail "curl canary"
    [[ "$(grep -c '^200 v2$' "$T/canary.out")" == 20 ]] ||
        fail "canary 100 % did not send every request to v2: $(sort "$T/canary.out" | uniq -c)"
    [[ "$(lab state | grep '^canary:')" == "canary: 100 % of product requests to v2" ]] || fail "bin/lab state"
    lab canary 10 >/dev/null
    ok "bin/lab canary 100 at run time: 20 of 20 to v2 (the gateway container's canary.conf, reloaded); back to 10"
}

# The workshop's labs 1-6 (docs/labs), run block by block against this stack as labs.test.sh runs
# them natively: bin/lab on the compose way, the gateway on its free port.
check_labs()
{
    phase labs
    local labs=()
    mapfile -t labs < <(find "$ROOT/docs/labs" -maxdepth 1 -name '0[1-6]-*.md' | sort)
    ((${#labs[@]} == 6)) || fail "expected labs 1-6 in docs/labs, found ${#labs[@]}"
    if ! (cd "$ROOT" && LAB_WAY=compose LAB_PORTS="8080=$GATEWAY_PORT" MS_LAB_WAY=compose \
        MS_COMPOSE="${COMPOSE[*]}" MS_COMPOSE_PROJECT="$PROJECT" \
        timeout 900 node tests/system/labs.mjs run "${labs[@]}") >"$T/labs.log" 2>&1; then
        cat "$T/labs.log" >&2
        fail "a lab failed on compose (above)"
    fi
    ok "labs 1-6 ran as written on compose: $(grep -c '^  ok ' "$T/labs.log") blocks"
}

self_heal()
{
    phase self-heal
    local name=cart c pid before after t0 t_direct t_gw deadline
    c="$(container "$name")"
    pid="$(podman inspect -f '{{.State.Pid}}' "$c")"
    before="$(podman inspect -f '{{.RestartCount}}' "$c")"
    [[ $pid =~ ^[0-9]+$ && $pid -gt 1 ]] || fail "no PID for $c"
    t0=$(date +%s%N)
    [[ "$(lab kill "$name")" == "$name: killed (kill -9, pid $pid); the restart policy starts it again" ]] ||
        fail "bin/lab kill $name did not kill pid $pid from the host"
    deadline=$((SECONDS + 60))
    until [[ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' "http://127.0.0.1:$CART_PORT/ready")" == 200 ]]; do
        ((SECONDS < deadline)) || fail "$name did not come back within 60 s of kill -9"
        sleep 0.05
    done
    t_direct=$((($(date +%s%N) - t0) / 1000000))
    until [[ "$(curl -s -o /dev/null -m 1 -w '%{http_code}' "$GW/cart/1")" == 200 ]]; do
        ((SECONDS < deadline)) || fail "$name is back but not through the gateway"
        sleep 0.05
    done
    t_gw=$((($(date +%s%N) - t0) / 1000000))
    after="$(podman inspect -f '{{.RestartCount}}' "$c")"
    ((after == before + 1)) || fail "$c restart count $before -> $after"
    [[ "$(podman inspect -f '{{.State.Pid}}' "$c")" != "$pid" ]] || fail "$c has the same PID"
    ok "bin/lab kill: kill -9 of $name's main process (pid $pid): ready again after ${t_direct} ms, through the gateway after ${t_gw} ms (restart: unless-stopped)"
}

# The instructor's bundle (scripts/images.sh, make bundle), round trip on this machine with the
# stand-ins as "theirs": every image the stack runs saved into one archive, all of them removed,
# the archive loaded (the same image IDs come back: restored, not rebuilt), then compose started
# from it with no build and pull_policy: never on every service, and a purchase through the
# gateway. Grafana (no stand-in) is not in this bundle; make bundle adds it for a class.
bundle_roundtrip()
{
    phase bundle
    local images=(env MS_ENGINE=podman MS_COMPOSE_FILES="docker-compose.yml docker-compose.ci.yml"
        MS_COMPOSE="${COMPOSE[*]}" bash "$ROOT/scripts/images.sh") names=() before after id n lost
    mapfile -t names < <("${images[@]}" list "${STACK[@]}" | awk '{ print $NF }')
    before="$(podman image inspect -f '{{.Id}}' "${names[@]}")" || fail "an image of the stack is missing"
    remove_project # its containers hold the images
    "${images[@]}" bundle "$T/bundle.tar" "${STACK[@]}" >"$T/bundle.log" 2>&1 ||
        fail "make bundle: $(cat "$T/bundle.log")"
    ok "make $(tail -n 1 "$T/bundle.log" | cut -d: -f1-2)"
    podman rmi "${names[@]}" >"$T/rmi.log" 2>&1 || fail "cannot remove the images: $(tail -n 3 "$T/rmi.log")"
    for id in $before; do
        if podman image exists "$id"; then
            fail "image $id is still here after podman rmi (tagged elsewhere?)"
        fi
    done
    if lost="$("${images[@]}" missing "${STACK[@]}")"; then
        fail "scripts/images.sh missing names none of the removed images"
    fi
    n="$(wc -l <<<"$lost")"
    ((n == ${#names[@]})) || fail "scripts/images.sh missing names $n of the ${#names[@]} removed images"
    ok "all ${#names[@]} images removed from the machine (scripts/images.sh missing names $n)"
    "${images[@]}" load "$T/bundle.tar" "${STACK[@]}" >"$T/load.log" 2>&1 ||
        fail "scripts/images.sh load: $(cat "$T/load.log")"
    after="$(podman image inspect -f '{{.Id}}' "${names[@]}")" || fail "an image is missing after load"
    [[ $after == "$before" ]] || fail "the loaded images are not the bundled ones"
    ok "scripts/images.sh load: the same ${#names[@]} image IDs are back ($(tail -n 1 "$T/load.log" | cut -d: -f1-2))"
    "${images[@]}" no-pull >"$T/no-pull.yml"
    (cd "$ROOT" && timeout 60 "${COMPOSE[@]}" -f "$T/no-pull.yml" --dry-run up -d --no-build "${STACK[@]}") \
        >"$T/dry-run.log" 2>&1 || fail "podman-compose --dry-run with the no-pull override"
    n="$(grep -c -- '^podman run .* --pull never ' "$T/dry-run.log")" || true
    ((n == ${#STACK[@]})) || fail "$n of ${#STACK[@]} containers would run with --pull never"
    "${images[@]}" up "${STACK[@]}" >"$T/up.log" 2>&1 || fail "scripts/images.sh up"
    ok "scripts/images.sh up: ${#STACK[@]} containers from the bundle, --no-build and --pull never each"
    wait_healthy
    # As after the first start: the purchase comes once the load has run a while. Seconds after a
    # start, a POST /cart once went unanswered for 3 s (the gateway's 504): a cold-start stall not
    # explained yet, and not what this phase checks.
    check_load
    journey
}

graceful_stop()
{
    phase stop
    local c code t0 ms
    c="$(container notification)"
    t0=$(date +%s%N)
    podman stop -t 20 "$c" >/dev/null || fail "podman stop $c"
    ms=$((($(date +%s%N) - t0) / 1000000))
    code="$(podman inspect -f '{{.State.ExitCode}}' "$c")"
    [[ $code == 0 ]] || fail "$c exited $code on SIGTERM, not 0"
    ((ms < 15000)) || fail "$c took ${ms} ms to stop"
    ok "SIGTERM: notification drained and exited 0 in ${ms} ms (SHUTDOWN_DELAY_MS 1000), and stays stopped"
    sleep 1
    [[ "$(podman inspect -f '{{.State.Status}}' "$c")" != running ]] ||
        fail "$c was restarted after a manual stop"
}

main()
{
    T="$(mktemp -d /tmp/compose-test.XXXXXX)"
    static_checks
    preflight
    build_images
    check_images
    start_stack
    wait_healthy
    check_prometheus
    check_load
    journey
    # The split first: the timeouts below make nginx set the product versions aside for a while
    # (a time-out counts toward max_fails), which would skew it.
    check_split
    check_timeout
    check_labs
    self_heal
    graceful_stop
    bundle_roundtrip
}

main "$@"
