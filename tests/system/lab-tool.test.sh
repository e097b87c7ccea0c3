#!/usr/bin/env bash
# bin/lab, the labs' one command for every way the shop runs:
#   1. without a stack: usage and argument errors; the detection (nothing running; a fake docker
#      reporting compose containers; a fake kubectl finding the product Deployment; MS_LAB_WAY);
#      the compose canary through a fake compose (what it sends into the gateway container); the
#      Kubernetes canary and fault through a fake kubectl serving the repository's HTTPRoute and
#      VirtualService (the weights and the fault it writes back), and kill, stop/start and load
#      through one that logs the commands;
#   2. against a native stack of this test (scripts/up.sh on free ports): fault (checked on both
#      product versions' admin endpoints and as a 504 through the gateway), the same through the
#      compose code path (its port variables pointed at this stack), canary 100 and 0, kill and
#      wait (a new PID), stop and start, make load-start/load-stop (traffic with nobody typing,
#      then none), state (a fault and an open breaker shown), and reset
#      (faults gone, canary 10 %, breakers closed, a shopper created before it gone);
#   3. net and sql: their argument errors; net on compose and Kubernetes says the proxies are
#      native only; sql through the fake compose and kubectl (the psql they run); on the native
#      stack (MS_FAULTPROXY=1): net lists every proxy, lose/lose-next/clear change the proxy's
#      faults (its admin API), a psql through order-pg fails while it loses every answer and works
#      once cleared, sql reads a database, state shows a proxy's fault and reset clears it.
set -euo pipefail

# shellcheck source=tests/system/lib/stack-test.sh
. "$(dirname -- "${BASH_SOURCE[0]}")/lib/stack-test.sh"
# shellcheck source=chaos/local/lib/native.sh
. "$ROOT/chaos/local/lib/native.sh"
# shellcheck source=tests/system/lib/expect.sh
. "$ROOT/tests/system/lib/expect.sh"
cd "$ROOT"

ms_test_scratch lab-tool

LAB="$ROOT/bin/lab"

# A PATH of the tools bin/lab may call, with no docker, podman or kubectl unless added to $T/bin.
mkdir -p "$T/bin"
for tool in bash sed awk grep tr cat head mkdir sleep curl jq readlink ps realpath dirname \
    basename sort comm pgrep kill cp mv rm nohup setsid touch ss sv runsvdir chmod env date; do
    ln -sf "$(command -v "$tool")" "$T/bin/$tool"
done
BARE="$T/bin"

ms_section "arguments"
shellcheck -x "$LAB" || fail "bin/lab is not shellcheck-clean"
expect 2 'bin/lab way' "$LAB"
expect 2 'bin/lab fault SERVICE' "$LAB" explode
expect 2 'bin/lab canary PERCENT' "$LAB" canary
expect 1 "unknown service 'payment'" "$LAB" fault payment delay 100
expect 1 "'101' is not a percentage" "$LAB" canary 101
expect 1 "'x' is not a percentage" "$LAB" canary x
expect 1 "delay: '0' is not a number of ms" "$LAB" fault product delay 0
expect 1 "abort: '200' is not an HTTP error status" "$LAB" fault inventory abort 200
expect 1 "'150' is not a percentage" "$LAB" fault inventory abort 503 150
expect 1 'usage: bin/lab fault SERVICE clear' "$LAB" fault cart clear now
expect 1 "unknown service 'redis'" "$LAB" kill redis
expect 1 "'101' is not a percentage" "$LAB" net order-pg lose 101
expect 1 "lose-next: 'x' is not a number of answers" "$LAB" net order-pg lose-next x
expect 1 'usage: bin/lab net \[PROXY' "$LAB" net order-pg drop 5
expect 1 "'Order_PG' is not a proxy's name" "$LAB" net Order_PG
expect 2 'bin/lab sql DATABASE SQL' "$LAB" sql order
expect 1 "unknown database 'payments' \(one of: product order" "$LAB" sql payments 'SELECT 1'
echo "ok: usage, unknown services, bad percentages, delays, statuses, net actions and databases are refused"

ms_section "detection"
export MS_DATA_DIR="$T/none"
expect 1 'the shop is not running here' env PATH="$BARE" "$LAB" way
expect 1 "MS_LAB_WAY='mars' is none of" env MS_LAB_WAY=mars "$LAB" way
cat >"$T/bin/docker" <<'EOF'
#!/bin/bash
# a docker with the compose project microshop running
case "$*" in
"compose version" | info) exit 0 ;;
*"label=com.docker.compose.project=microshop"*) echo 0123456789ab ;;
esac
EOF
chmod +x "$T/bin/docker"
expect 0 '^compose$' env PATH="$BARE" "$LAB" way
rm "$T/bin/docker"
cat >"$T/bin/kubectl" <<'EOF'
#!/bin/bash
[[ "$*" == "-n ecommerce get deployment product -o name" ]] && echo deployment.apps/product
EOF
chmod +x "$T/bin/kubectl"
expect 0 '^kubernetes$' env PATH="$BARE" "$LAB" way
expect 1 'the shop is not running here' env PATH="$BARE" MS_NAMESPACE=other "$LAB" way
expect 0 '^native$' env PATH="$BARE" MS_LAB_WAY=native "$LAB" way
echo "ok: nothing, compose (docker), kubernetes (kubectl, namespace MS_NAMESPACE), MS_LAB_WAY"
expect 1 'no faultproxy runs here: start the shop with .MS_FAULTPROXY=1 make up.' env MS_LAB_WAY=native "$LAB" net
expect 1 'run natively only, .*the compose stack has none' env MS_LAB_WAY=compose "$LAB" net order-pg lose 5
expect 1 'run natively only, .*the kubernetes stack has none: Istio' env MS_LAB_WAY=kubernetes "$LAB" net
echo "ok: net without proxies, on compose and on Kubernetes says the proxies are native only"

ms_section "compose canary, through a fake compose"
cat >"$T/compose" <<EOF
#!/bin/bash
echo "\$*" >>"$T/compose.args"
[[ "\$*" == "exec -T gateway "* ]] && cat >"$T/compose.stdin"
exit 0
EOF
chmod +x "$T/compose"
expect 0 '^canary: 50 % of product requests go to v2$' env MS_LAB_WAY=compose MS_COMPOSE="$T/compose" "$LAB" canary 50
grep -q -- "^exec -T gateway sh -c .*nginx -t -q && nginx -s reload" "$T/compose.args" ||
    fail "compose canary ran: $(cat "$T/compose.args")"
if ! grep -qE '^ *50% product_v2;$' "$T/compose.stdin" || ! grep -qE '^ *\* +product_v1;$' "$T/compose.stdin"; then
    fail "compose canary sent: $(cat "$T/compose.stdin")"
fi
echo "ok: the compose canary writes a 50 % canary.conf into the gateway container and reloads nginx"
MS_LAB_WAY=compose MS_COMPOSE="$T/compose" "$LAB" sql order 'SELECT 1' >/dev/null || fail "compose sql failed"
grep -qxF -- 'exec -T postgres psql -qAtX -v ON_ERROR_STOP=1 -U microshop -d order -c SELECT 1' \
    "$T/compose.args" || fail "compose sql ran: $(cat "$T/compose.args")"
echo "ok: compose sql runs psql in the postgres container as microshop"

ms_section "Kubernetes canary and fault, through a fake kubectl"
# canary and fault: a fake kubectl serves the repository's product HTTPRoute and
# VirtualService, and keeps what bin/lab replaces them with.
k8s_canary_fault()
{
    node --input-type=module - "$ROOT" "$T" <<'EOF' || fail "could not turn the manifests into JSON"
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
const [root, t] = process.argv.slice(2);
const YAML = createRequire(`${root}/tests/deploy/package.json`)('yaml');
const find = (file, kind) => YAML.parseAllDocuments(readFileSync(`${root}/${file}`, 'utf8'))
  .map((d) => d.toJS()).find((d) => d?.kind === kind && d.metadata?.name === 'product');
writeFileSync(`${t}/httproute.json`, JSON.stringify(find('istio/gateway-api/httproutes.yaml', 'HTTPRoute')));
writeFileSync(`${t}/virtualservice.json`, JSON.stringify(find('istio/mesh/virtual-services.yaml', 'VirtualService')));
EOF
    cat >"$T/bin/kubectl" <<EOF
#!/bin/bash
# serves the repository's product HTTPRoute and VirtualService; replace stores what it is given
case "\$*" in
"-n ecommerce get httproute product -o json") cat "$T/httproute.json" ;;
"-n ecommerce get virtualservice product -o json") cat "$T/virtualservice.json" ;;
"-n ecommerce replace -f -") cat >"$T/replaced.json" && k=\$(jq -r '.kind | ascii_downcase' "$T/replaced.json") &&
    cp "$T/replaced.json" "$T/\$k.json" ;;
*) echo "unexpected: kubectl \$*" >&2; exit 1 ;;
esac
EOF
    chmod +x "$T/bin/kubectl"
    expect 0 '^canary: 30 % of product requests go to v2$' env PATH="$BARE" MS_LAB_WAY=kubernetes "$LAB" canary 30
    [[ "$(jq -c '[.spec.rules[] | select((.backendRefs | length) == 2) | .backendRefs[] | {name, weight}]' "$T/httproute.json")" == \
        '[{"name":"product-v1","weight":70},{"name":"product-v2","weight":30}]' ]] ||
        fail "HTTPRoute after canary 30: $(jq -c .spec.rules "$T/httproute.json")"
    [[ "$(jq -c '[.spec.http[] | select((.route | length) == 2) | .route[] | {s: .destination.subset, weight}]' "$T/virtualservice.json")" == \
        '[{"s":"v1","weight":70},{"s":"v2","weight":30}]' ]] ||
        fail "VirtualService after canary 30: $(jq -c .spec.http "$T/virtualservice.json")"
    expect 0 '^product: delay 2000 ms on 100 % of requests$' env PATH="$BARE" MS_LAB_WAY=kubernetes "$LAB" fault product delay 2000
    [[ "$(jq -c '[.spec.http[].fault]' "$T/virtualservice.json")" == \
        "$(jq -c '[.spec.http[] | {delay: {fixedDelay: "2000ms", percentage: {value: 100}}}]' "$T/virtualservice.json")" ]] ||
        fail "VirtualService after the fault: $(jq -c .spec.http "$T/virtualservice.json")"
    expect 0 '^product: no faults$' env PATH="$BARE" MS_LAB_WAY=kubernetes "$LAB" fault product clear
    [[ "$(jq '[.spec.http[] | select(.fault)] | length' "$T/virtualservice.json")" == 0 ]] ||
        fail "the fault was not cleared: $(jq -c .spec.http "$T/virtualservice.json")"
    echo "ok: on Kubernetes the canary sets the HTTPRoute's and VirtualService's weights, the fault every route's fault"
}

# k8s_lab ARG...: bin/lab on the Kubernetes way, with only the fake kubectl of $T/bin on PATH.
k8s_lab()
{
    env PATH="$BARE" MS_LAB_WAY=kubernetes "$LAB" "$@"
}
logged()
{
    grep -qxF -- "$1" "$T/kubectl.log" || fail "kubectl was not asked: $1 ($(cat "$T/kubectl.log"))"
}

# kill, stop, start and load through a kubectl that logs what it is asked
k8s_operations()
{
    cat >"$T/bin/kubectl" <<EOF
#!/bin/bash
echo "\$*" >>"$T/kubectl.log"
case "\$*" in
"-n ecommerce get pods -l app=cart -o name") echo pod/cart-7d9f-abcde ;;
"-n ecommerce get statefulset/redis -o jsonpath={.spec.replicas}") echo 1 ;;
"-n ecommerce get statefulset/redis -o jsonpath={.metadata.annotations.microshop\\.dev/lab-replicas}") echo 1 ;;
*"create configmap"*) echo "kind: ConfigMap" ;;
*" apply -f -") cat >"$T/applied.yaml" ;;
esac
exit 0
EOF
    chmod +x "$T/bin/kubectl"
    expect 0 '^cart: killed \(cart-7d9f-abcde deleted at once\); its Deployment starts another$' k8s_lab kill cart
    logged '-n ecommerce delete pod/cart-7d9f-abcde --grace-period=0 --force'
    expect 0 '^redis: stopped$' k8s_lab stop redis
    logged '-n ecommerce annotate --overwrite statefulset/redis microshop.dev/lab-replicas=1'
    logged '-n ecommerce scale statefulset/redis --replicas=0'
    expect 0 '^redis: started$' k8s_lab start redis
    logged '-n ecommerce scale statefulset/redis --replicas=1'
    k8s_lab sql inventory 'SELECT 2' >/dev/null || fail "kubernetes sql failed"
    logged '-n ecommerce exec statefulset/postgres -- psql -qAtX -v ON_ERROR_STOP=1 -U ms -d inventory -c SELECT 2'
    expect 0 '^load: started \(5 requests/s' k8s_lab load start
    logged "-n ecommerce create configmap load-generator-scripts --from-file=$ROOT/load-test/wrk/microshop.lua --from-file=$ROOT/load-test/wrk/scenarios.lua --dry-run=client -o yaml"
    logged "-n ecommerce apply -f $ROOT/load-test/k8s/generator.yaml"
    echo "ok: on Kubernetes kill deletes a pod, stop/start scale to 0 and back, sql runs psql in the postgres pod, load applies the generator and its scripts"
}

k8s_canary_fault
k8s_operations
rm "$T/bin/kubectl"
unset MS_DATA_DIR

ms_section "the native stack (scripts/up.sh on free ports, a faultproxy before every dependency)"
ms_stack_env "$T" "$BIN_DIR"
ms_faultproxy_free_base || fail "no free ports for the faultproxies"
bash scripts/up.sh >"$T/up.log" 2>&1 || fail "scripts/up.sh failed"
GW="http://127.0.0.1:$MS_GATEWAY_PORT"
expect 0 '^native$' "$LAB" way
echo "ok: bin/lab finds the native stack"

ms_section "fault"
expect 0 '^product: delay 1500 ms on 100 % of requests$' "$LAB" fault product delay 1500
for port in "$PRODUCT_PORT" "$PRODUCT_V2_PORT"; do
    [[ "$(curl -sS "127.0.0.1:$port/admin/faults" | jq -c '[.delay_ms, .delay_percent]')" == '[1500,100]' ]] ||
        fail "the delay is not set on port $port"
done
[[ "$(curl -s -o /dev/null -w '%{http_code}' "$GW/products/1")" == 504 ]] || fail "no 504 through the gateway"
expect 0 '^product: no faults$' "$LAB" fault product clear
[[ "$(curl -sS "127.0.0.1:$PRODUCT_V2_PORT/admin/faults" | jq .delay_percent)" == 0 ]] || fail "not cleared on v2"
echo "ok: a delay on both product versions, a 504 at the gateway, cleared"
# the compose way reaches the instances on the ports compose publishes: point them at this stack
expect 0 '^inventory: abort with 503 on 30 % of requests$' \
    env MS_LAB_WAY=compose INVENTORY_PORT="$INVENTORY_PORT" "$LAB" fault inventory abort 503 30
[[ "$(curl -sS "127.0.0.1:$INVENTORY_PORT/admin/faults" | jq -c '[.abort_status, .abort_percent]')" == '[503,30]' ]] ||
    fail "the compose way did not set the fault on INVENTORY_PORT"
echo "ok: the compose way sets faults on the published ports (INVENTORY_PORT)"

ms_section "net and sql"
# order-pg's ports: where clients connect and its admin API (ms_faultproxy_list)
read -r _ _ PG_PX PG_ADMIN _ < <(ms_faultproxy_list | grep '^order-pg ')
faults()
{
    curl -sS "127.0.0.1:$PG_ADMIN/admin/faults" | jq -c "$1"
}
through_proxy()
{
    psql -qAtX -h 127.0.0.1 -p "$PG_PX" -U ms -d order -c 'SELECT 41 + 1' 2>&1
}
expect 0 '^order-pg: no faults \(0 answers lost so far\)$' "$LAB" net
(($(wc -l <"$T/out") == $(ms_faultproxy_list | wc -l))) || fail "net lists: $(cat "$T/out")"
expect 1 "unknown proxy 'payment-pg' \(one of: cart-redis .*order-pg" "$LAB" net payment-pg clear
expect 0 '^order-pg: lose 100 % of answers$' "$LAB" net order-pg lose 100
[[ "$(faults .lose_answer_percent)" == 100 ]] || fail "lose 100 set: $(faults .)"
[[ "$(through_proxy)" != 42 ]] || fail "a query through order-pg got its answer while it loses every one"
expect 0 '^order-pg: no faults$' "$LAB" net order-pg clear
[[ "$(faults '[.[]] | map(select(. != 0 and . != false)) | length')" == 0 ]] || fail "not cleared: $(faults .)"
[[ "$(through_proxy)" == 42 ]] || fail "no answer through order-pg once cleared: $(through_proxy)"
expect 0 '^order-pg: no faults \([1-9][0-9]* answers lost so far\)$' "$LAB" net order-pg
expect 0 '^order-pg: lose the next [0-9]+ answers$' "$LAB" net order-pg lose-next 1000
(($(faults .lose_next) > 900)) || fail "lose-next 1000 set: $(faults .)"
"$LAB" net order-pg clear >/dev/null
expect 0 '^27$' "$LAB" sql product 'SELECT count(*) FROM products'
echo "ok: net lists, sets and clears a proxy's faults (a query through it lost, then answered); sql reads a database"

ms_section "canary"
versions()
{
    local _
    for _ in $(seq 40); do
        curl -s -o /dev/null -D - "$GW/products/1" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-service-version" { print $2 }'
    done | sort | uniq -c | awk '{ printf "%s=%s ", $2, $1 }'
}
expect 0 '^canary: 100 % of product requests go to v2$' "$LAB" canary 100
[[ "$(versions)" == "v2=40 " ]] || fail "canary 100: $(versions)"
expect 0 '^canary: 0 % of product requests go to v2$' "$LAB" canary 0
[[ "$(versions)" == "v1=40 " ]] || fail "canary 0: $(versions)"
echo "ok: canary 100 and 0, 40 requests each"

ms_section "kill, wait, stop, start"
old="$(ms_service_pid cart)"
expect 0 "^cart: killed \(kill -9, pid $old\); runit starts it again$" "$LAB" kill cart
expect 0 '^cart: ready after [0-9]+ ms$' "$LAB" wait cart
new="$(ms_service_pid cart)"
[[ -n $new && $new != "$old" ]] || fail "cart has no new process ($old -> $new)"
expect 0 '^notification: stopped$' "$LAB" stop notification
[[ "$(ms_sv_state notification)" == down ]] || fail "notification is not down"
expect 0 '^notification: started$' "$LAB" start notification
expect 0 '^notification: ready after' "$LAB" wait notification
echo "ok: cart killed and back with a new PID ($old -> $new); notification stopped and started"

ms_section "make load-start, bin/lab load stop"
# product's requests, summed over both versions
served()
{
    local port
    for port in "$PRODUCT_PORT" "$PRODUCT_V2_PORT"; do
        curl -sS "127.0.0.1:$port/metrics"
    done | awk '/^http_requests_total\{service="product"/ { n += $2 } END { print n + 0 }'
}
LOAD_RATE=20 LOAD_SCENARIO=browse expect 0 '^load: started \(pid [0-9]+, 20 requests/s, scenario browse' make -s load-start
before="$(served)"
deadline=$((SECONDS + 30))
until (($(served) > before + 20)); do
    ((SECONDS < deadline)) || fail "the background load sent nothing in 30 s: $(tail -n 5 "$MS_DATA_DIR/log/load.log")"
    sleep 0.5
done
lpid="$(cat "$MS_DATA_DIR/run/load.pid")"
expect 0 '^load: stopped$' "$LAB" load stop
sleep 0.5
ms_pid_running "$lpid" && fail "the load (pid $lpid) still runs after load-stop"
pgrep -f "wrk .*127.0.0.1:$MS_GATEWAY_PORT" >/dev/null && fail "wrk still runs after load-stop"
echo "ok: make load-start sends traffic by itself (product served $(($(served) - before)) more), load-stop ends it"

ms_section "state, then reset"
curl -sS -X POST "$GW/users" -d '{"email":"lab-tool@example.com","name":"Lab Tool"}' -o /dev/null
uid="$(curl -sS "$GW/users?email=lab-tool@example.com" | jq .id)"
[[ $uid =~ ^[0-9]+$ ]] || fail "no shopper: $uid"
"$LAB" fault inventory abort 503 100 >/dev/null
"$LAB" net inventory-pg lose 3 >/dev/null
for _ in $(seq 8); do
    curl -s -o /dev/null -X POST "$GW/orders" -d "{\"user_id\":$uid,\"items\":[{\"product_id\":5,\"quantity\":1}]}"
done
expect 0 '^  order -> inventory: open$' "$LAB" state
grep -q '^canary: 0 % of product requests to v2$' "$T/out" || fail "state: $(cat "$T/out")"
grep -q '^  inventory: abort with 503 on 100 % of requests$' "$T/out" || fail "state: $(cat "$T/out")"
grep -q '^  inventory-pg (proxy): lose 3 % of answers$' "$T/out" || fail "state: $(cat "$T/out")"
grep -q '^  order-pg (proxy): no faults$' "$T/out" || fail "state: $(cat "$T/out")"
echo "ok: state shows the canary, the faults (a proxy's too) and the open breaker"
expect 0 '^reset: faults cleared, canary 10 %, breakers closed, data seeded again$' "$LAB" reset
expect 0 '^  all closed$' "$LAB" state
grep -q '^canary: 10 % of product requests to v2$' "$T/out" || fail "state after reset: $(cat "$T/out")"
if grep -E '^  [a-z0-9-]+( \(proxy\))?: ' "$T/out" | grep -v ': no faults$' | grep -q .; then
    fail "faults left after reset: $(cat "$T/out")"
fi
[[ "$(curl -sS "$GW/users?email=lab-tool@example.com" -o /dev/null -w '%{http_code}')" == 404 ]] ||
    fail "the shopper created before the reset is still there"
[[ "$(curl -sS "$GW/products?limit=100" | jq '.items | length')" == 27 ]] || fail "the catalog is not seeded again"
echo "ok: reset: no faults, canary 10 %, breakers closed, the shopper gone, the catalog of 27 back"
echo "all bin/lab checks passed"
