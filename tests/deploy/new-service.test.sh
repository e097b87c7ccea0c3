#!/usr/bin/env bash
# make new-service on a throwaway copy of the tree (never the tree itself): scaffolds "demo",
# runs make generate there and checks the service joined every generated file (the shell table,
# its C defaults, the gateway upstreams, both Prometheus configurations, its Kubernetes base, its
# Dockerfile stage, its compose service; kustomize renders its Deployment),
# that its own code is under 150 lines and lint-clean (clang-format, cppcheck, clang-tidy), that
# the API checks accept its docs/api/demo.yaml; its edge and mesh objects (the nginx location,
# HTTPRoute, VirtualService, DestinationRule, AuthorizationPolicies) exist and pass the mesh
# checks on the copy; then builds only demo, the frontend (its upstream), its generated test and
# the gateway's metrics exporter, with the sanitizer options of $MS_BINARY_DIR, runs the test, and
# asks GET /demo and /demo/upstream through a real nginx configured as make up does it, whose
# metrics must count them as route "demo". Planted: a name taken, an unknown upstream, a demo
# whose upstream route answers 200 with the upstream gone, which its generated test must fail;
# demo's location, HTTPRoute or identity in frontend's policies taken out, which the mesh checks
# must catch; an exporter without demo's route, which the count must miss. About a minute.
set -euo pipefail

ROOT="$(cd -P -- "${MS_SOURCE_DIR:-$(dirname -- "${BASH_SOURCE[0]}")/../..}" && pwd -P)"
BIN_DIR="$(realpath -m -- "${MS_BINARY_DIR:-$ROOT/build}")"
T="$(mktemp -d /tmp/ms-new-service.XXXXXX)"
PIDS=()
EXPORTER=() # the exporter's PID, its port, the gateway's metrics port, the gateway's port

# Stops what edge_live started, by PID, and removes the copy.
cleanup()
{
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
        wait "$pid" 2>/dev/null || true
    done
    rm -rf -- "$T"
}
trap cleanup EXIT
TREE="$T/tree"
BUILD="$T/build"
START=$SECONDS

fail()
{
    echo "FAIL: $*" >&2
    exit 1
}

ok()
{
    echo "ok [$((SECONDS - START))s]: $*"
}

# shellcheck source=tests/deploy/lib/tree-copy.sh
. "$ROOT/tests/deploy/lib/tree-copy.sh"
# shellcheck source=tests/deploy/lib/nginx-compose.sh
. "$ROOT/tests/deploy/lib/nginx-compose.sh"

# make new-service NAME=demo writes its files, under 150 lines of C.
scaffold()
{
    local f lines
    node tools/generate/new-service.mjs demo >/dev/null || fail "make new-service NAME=demo failed"
    for f in services/demo/{service.json,main.c,routes.c,demo.h,CMakeLists.txt} \
        tests/integration/test_demo.c docs/api/demo.yaml; do
        [[ -f $f ]] || fail "make new-service wrote no $f"
    done
    lines="$(cat services/demo/*.c services/demo/*.h | wc -l)"
    ((lines < 150)) || fail "the scaffold's own code is $lines lines, not under 150"
    ok "scaffolded services/demo ($lines lines of C), its test and docs/api/demo.yaml"
}

# Planted: a name taken and an unknown upstream are refused.
planted_scaffold()
{
    local out
    if out="$(node tools/generate/new-service.mjs demo 2>&1)"; then
        fail "planted: a second make new-service NAME=demo succeeded"
    fi
    grep -q "exists already" <<<"$out" || fail "planted name taken: $out"
    if out="$(node tools/generate/new-service.mjs demo2 nosuch 2>&1)"; then
        fail "planted: an unknown UPSTREAM was accepted"
    fi
    grep -q "is no service" <<<"$out" || fail "planted unknown upstream: $out"
    ok "planted: a name taken and an unknown upstream are refused"
}

# make generate puts demo everywhere; PORT is its port.
check_generated()
{
    node tools/generate/generate.mjs >/dev/null || fail "make generate failed after the scaffold"
    node tools/generate/generate.mjs --check >/dev/null || fail "make generate is not stable"
    PORT="$(node -e 'console.log(require("./services/demo/service.json").port)')"
    grep -Eq "^demo +$PORT +DEMO_PORT +-$" scripts/services.gen.sh || fail "demo is not in scripts/services.gen.sh"
    grep -q "#define SERVICE_PORT $PORT" services/demo/service.gen.h || fail "no port in services/demo/service.gen.h"
    grep -q "server 127.0.0.1:$PORT " gateway/upstreams.native.conf || fail "demo is no native upstream"
    grep -q "server demo:$PORT " gateway/upstreams.compose.conf || fail "demo is no compose upstream"
    grep -q "targets: \['127.0.0.1:$PORT'\]" monitoring/prometheus/prometheus.native.yml || fail "native Prometheus does not scrape demo"
    grep -q "targets: \['demo:$PORT'\]" monitoring/prometheus/prometheus.yml || fail "compose Prometheus does not scrape demo"
    grep -q "containerPort: $PORT" k8s/base/demo.yaml || fail "k8s/base/demo.yaml has no container port $PORT"
    [[ "$(grep -c '^        values: \[.*, demo\]$' monitoring/k8s/monitors.yaml)" == 2 ]] ||
        fail "the monitors of monitoring/k8s do not select demo"
}

check_generated_deploy()
{
    grep -Pzq "\n  demo:\n(.*\n)*    ports: \[\"127.0.0.1:\\$\{DEMO_PORT:-$PORT\}:$PORT\"\]" docker-compose.yml ||
        fail "docker-compose.yml has no service demo on $PORT"
    grep -Pzq "x-services-healthy: &services-healthy\n(.*\n)*  demo: \{condition: service_healthy\}" docker-compose.yml ||
        fail "the compose gateway does not wait for demo"
    kubectl kustomize k8s/base >"$T/k8s.yaml" || fail "kubectl kustomize k8s/base fails with demo"
    grep -Pzq "kind: Deployment\nmetadata:\n(  .*\n)*  name: demo\n" "$T/k8s.yaml" || fail "k8s/base renders no Deployment demo"
    grep -Pzq "FROM runtime AS demo\n(.*\n){3}EXPOSE $PORT\n" Dockerfile || fail "the Dockerfile has no stage demo exposing $PORT"
    # shellcheck source=/dev/null # the copy's lib.sh
    (. scripts/lib.sh && [[ "$(ms_service_port demo)" == "$PORT" ]]) || fail "scripts/lib.sh does not know demo"
    ok "make generate: demo (port $PORT) in the shell table, its header, the upstreams, Prometheus (and its monitors on Kubernetes), k8s/base, the Dockerfile, compose"
}

# The edge and the mesh: demo's location in the generated nginx file, its HTTPRoute, its default
# VirtualService and DestinationRule, its AuthorizationPolicies (sidecar and ambient); the mesh
# checks (mesh.mjs, semantics.mjs) pass on the copy, and mesh.mjs fails (tests/deploy/mesh-edge.mjs)
# with demo's location or HTTPRoute taken out, or demo taken out of the policy of frontend, which
# it calls.
check_generated_edge()
{
    local f
    grep -qF 'location ~ ^/demo(/|$) {' gateway/edge-routes.conf || fail "gateway/edge-routes.conf has no location for /demo"
    grep -qF '"~^/demo(/|$)"' gateway/edge-names.conf || fail "gateway/edge-names.conf does not name /demo's service"
    for f in istio/gateway-api/httproutes.yaml istio/mesh/virtual-services.yaml istio/mesh/destination-rules.yaml \
        istio/sidecar/authorization-policy.yaml istio/ambient/authorization-policy.yaml; do
        grep -Pzq "\nmetadata:\n  name: demo\n" "$f" || fail "$f has no object named demo"
    done
    grep -q '"/demo", "/demo/\*"' istio/mesh/authorization-edge.yaml || fail "the edge policy does not admit /demo"
    node tests/deploy/mesh-edge.mjs --root . demo >"$T/mesh.log" 2>&1 || { cat "$T/mesh.log" >&2; fail "the mesh checks with demo"; }
    # What the objects do: one retry layer, demo's deadline for frontend past the mesh's timeout.
    node tests/deploy/semantics.mjs --root . >"$T/semantics.log" 2>&1 || { cat "$T/semantics.log" >&2; fail "semantics.mjs with demo"; }
    ok "edge and mesh: demo's location, HTTPRoute, VirtualService, DestinationRule, policies; mesh.mjs and semantics.mjs pass, $(grep -c '^ok   planted' "$T/mesh.log") planted violations caught"
}

# start NAME PORT [VAR=VALUE...]: runs the built service NAME (or the gateway's metrics
# exporter) on PORT in the background.
start()
{
    local name="$1" port="$2" bin="$BUILD/services/$1/$1"
    shift 2
    [[ $name != gateway-metrics ]] || bin="$BUILD/tools/gateway-metrics/gateway-metrics"
    env PORT="$port" "$@" "$bin" >"$T/$name.log" 2>&1 &
    PIDS+=("$!")
    wait_ready "http://127.0.0.1:$port" 10 "$!" || { cat "$T/$name.log" >&2; fail "$name did not get ready"; }
}

# demo's edge route through a real nginx, configured as make up does it (ms_gateway_render): the
# frontend, demo and the metrics exporter on free ports, nginx in front; GET /demo and
# /demo/upstream answer through it, and the gateway's metrics count them as route "demo". First,
# nginx -t accepts compose's configuration of the gateway with demo.
edge_live()
{
    local fe port gw metrics exporter nginx how
    # shellcheck source=/dev/null # the copy's, which knows demo
    . scripts/lib.sh && . scripts/stack.sh
    nginx="$(ms_nginx_bin)" || fail "nginx is required (scripts/install-deps.sh)"
    how="$(nginx_compose_test "$nginx" gateway "$T/compose")" || fail "nginx -t rejects compose's gateway with demo"
    ok "nginx -t: compose's gateway (upstreams.compose.conf, edge-*.conf) with demo ($how)"
    ms_free_port fe && ms_free_port port && ms_free_port gw && ms_free_port metrics && ms_free_port exporter
    start frontend "$fe"
    start demo "$port" "FRONTEND_URL=http://127.0.0.1:$fe"
    start gateway-metrics "$exporter" BIND_ADDRESS=127.0.0.1
    EXPORTER=("${PIDS[-1]}" "$exporter" "$metrics" "$gw")
    DEMO_PORT=$port FRONTEND_PORT=$fe MS_GATEWAY_PORT=$gw MS_GATEWAY_METRICS_PORT=$metrics \
        MS_GATEWAY_EXPORTER_PORT=$exporter ms_gateway_render "$T/gw/conf" || fail "ms_gateway_render failed with demo"
    "$nginx" -p "$T/gw/" -c "$T/gw/conf/nginx.conf" -e stderr -g 'daemon off;' >"$T/nginx.log" 2>&1 &
    PIDS+=("$!")
    ms_wait_url "http://127.0.0.1:$gw/healthz" 10 "$!" || { cat "$T/nginx.log" >&2; fail "nginx did not start"; }
    edge_get "$gw" /demo '"service":"demo"'
    edge_get "$gw" /demo/upstream '"upstream":"frontend"'
    edge_counted "$metrics" || fail "the gateway's metrics do not count 2 answers of demo as route=\"demo\""
    ok "through nginx (make up's configuration): GET /demo and /demo/upstream answer 200 from demo, counted as route=\"demo\""
}

# edge_counted PORT: the gateway's /metrics on PORT counts the two answers of demo as its route
# (the exporter gets the lines over UDP: a few tries).
edge_counted()
{
    local _
    for _ in {1..10}; do
        curl -sS --max-time 5 "http://127.0.0.1:$1/metrics" >"$T/edge.prom" || fail "the gateway's /metrics"
        grep -q '^gateway_requests_total{route="demo",code="200",upstream="demo"} 2$' "$T/edge.prom" && return 0
        sleep 0.2
    done
    grep 'route="demo"\|rejected' "$T/edge.prom" >&2
    return 1
}

# Planted: an exporter built without demo's route (routes.gen.h as before make generate) counts
# none of demo's answers, and the check above says so.
planted_edge_metrics()
{
    kill "${EXPORTER[0]}" 2>/dev/null || true
    wait "${EXPORTER[0]}" 2>/dev/null || true
    sed -i '/^    "demo",$/d' tools/gateway-metrics/routes.gen.h
    cmake --build "$BUILD" -j2 --target gateway-metrics >"$T/build.log" 2>&1 || fail "the planted exporter's build failed"
    start gateway-metrics "${EXPORTER[1]}" BIND_ADDRESS=127.0.0.1
    edge_get "${EXPORTER[3]}" /demo '"service":"demo"'
    edge_get "${EXPORTER[3]}" /demo '"service":"demo"'
    if edge_counted "${EXPORTER[2]}" 2>/dev/null; then
        fail "planted: an exporter without demo's route still counted it"
    fi
    ok "planted: an exporter built without demo's route counts none of its answers, and it is caught"
}

# edge_get PORT PATH TEXT: PATH through the gateway on PORT answers 200 with TEXT in its body.
edge_get()
{
    local code
    code="$(curl -sS -o "$T/body" -w '%{http_code}' --max-time 5 "http://127.0.0.1:$1$2")" || fail "GET $2 through nginx"
    if [[ $code != 200 ]] || ! grep -qF "$3" "$T/body"; then
        fail "GET $2 through nginx: $code $(head -c 200 "$T/body")"
    fi
}

# Configures the copy with the sanitizers of the build under test (so the ASan pass builds the
# scaffold with them too) and builds only demo, its upstream and its test.
build_demo()
{
    local opt sanitizers=()
    for opt in MS_ASAN MS_UBSAN MS_TSAN; do
        if grep -q "^$opt:BOOL=ON" "$BIN_DIR/CMakeCache.txt" 2>/dev/null; then
            sanitizers+=("-D$opt=ON")
        fi
    done
    ((${#sanitizers[@]} == 0)) || sanitizers+=(-DCMAKE_BUILD_TYPE=Debug)
    cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_EXPORT_COMPILE_COMMANDS=ON \
        "${sanitizers[@]}" >/dev/null || fail "cmake configure of the copy failed"
    cmake --build "$BUILD" -j2 --target demo frontend integration_test_demo gateway-metrics >"$T/build.log" 2>&1 ||
        { tail -n 30 "$T/build.log" >&2; fail "the build of demo failed"; }
    ok "built demo, frontend, integration_test_demo and gateway-metrics ${sanitizers[*]}"
}

lint_demo()
{
    local f
    clang-format --dry-run --Werror services/demo/*.[ch] tests/integration/test_demo.c || fail "clang-format"
    cppcheck --enable=warning,performance,portability --error-exitcode=1 --inline-suppr -q \
        --suppress=missingIncludeSystem -I common/include -I tests/support services/demo/*.c || fail "cppcheck"
    for f in services/demo/*.c; do
        clang-tidy -p "$BUILD" --quiet --warnings-as-errors='*' --extra-arg=-Wno-unknown-warning-option \
            "$f" 2> >(grep -vE '^[0-9]+ warnings? generated\.$' >&2) || fail "clang-tidy $f"
    done
    ok "the scaffold is lint-clean"
}

# Planted: with the upstream gone, the route answers 200 instead of 503.
planted_demo()
{
    sed -i 's/if (rc < 0 || status != 200) {/if (rc < 0 \&\& status == 1) {/' services/demo/routes.c
    grep -q 'status == 1' services/demo/routes.c || fail "planted: routes.c no longer has the line to break"
    cmake --build "$BUILD" -j2 --target demo >"$T/build.log" 2>&1 || fail "the planted build failed"
    if "$BUILD/tests/integration_test_demo" >"$T/test.log" 2>&1; then
        fail "planted: the test passed with a route that hides the upstream's failure"
    fi
    grep -q "test_upstream_up_then_down_is_a_fast_503" "$T/test.log" ||
        { cat "$T/test.log" >&2; fail "planted: the test failed, but not where expected"; }
    ok "planted: an upstream route that hides the failure makes demo's test fail"
}

for tool in node cmake clang-format cppcheck clang-tidy kubectl; do
    command -v "$tool" >/dev/null || fail "$tool is required (scripts/install-deps.sh)"
done

copy_tree "$ROOT" "$TREE"
cd "$TREE"
scaffold
planted_scaffold
check_generated
check_generated_deploy
check_generated_edge
node tests/deploy/openapi.mjs >/dev/null || fail "the API checks fail with docs/api/demo.yaml"
ok "the API checks accept docs/api/demo.yaml"

build_demo
lint_demo
"$BUILD/tests/integration_test_demo" >"$T/test.log" 2>&1 || { cat "$T/test.log" >&2; fail "demo's test failed"; }
ok "demo's generated test passes: $(grep -m1 'Checks:' "$T/test.log")"
edge_live

planted_demo
planted_edge_metrics
