#!/usr/bin/env bash
# scripts/lab/check.sh (make lab-check) without a cluster: the plan mode, and every function that
# parses what the script reads from a cluster, fed recorded output (curl's figures, Envoy
# statistics, pod-kill-sla.sh, a proxy's access log, the Prometheus, Jaeger and Kiali APIs, the
# dashboards of monitoring/grafana/dashboards). Each parser gets a case that must pass and one
# that must fail, so a parser that accepts anything is caught.
# shellcheck disable=SC2016 # Grafana and PromQL dollars in single quotes are literal on purpose
set -euo pipefail

ROOT="${MS_SOURCE_DIR:-$(cd -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd)}"
cd "$ROOT"
FAILURES=0
PASSES=0
ok() { PASSES=$((PASSES + 1)); echo "ok   $*"; }
not_ok() { FAILURES=$((FAILURES + 1)); echo "FAIL $*" >&2; }
# expect NAME WANT GOT
expect() { if [[ $3 == "$2" ]]; then ok "$1 = $2"; else not_ok "$1: expected '$2', got '$3'"; fi; }
# holds NAME COMMAND...: COMMAND must succeed; fails NAME COMMAND...: must fail.
holds() { local n="$1"; shift; if "$@"; then ok "$n"; else not_ok "$n: expected success"; fi; }
fails() { local n="$1"; shift; if "$@"; then not_ok "$n: expected failure"; else ok "$n"; fi; }

for tool in jq shellcheck; do command -v "$tool" >/dev/null || { echo "error: $tool is required" >&2; exit 1; }; done

t_shellcheck()
{
    echo "== shellcheck"
    if shellcheck -x scripts/lab/check.sh tests/deploy/lab-check.test.sh; then ok "shellcheck"; else not_ok "shellcheck"; fi
}

t_plan()
{
    local plan n must status
    echo "== --plan (no cluster)"
    plan="$(KUBECONFIG=/nonexistent bash scripts/lab/check.sh --plan)"
    n="$(grep -c . <<<"$plan")"
    if ((n >= 12)); then ok "--plan prints $n promises"; else not_ok "--plan prints $n promises, expected at least 12"; fi
    if [[ -z $(cut -d: -f1 <<<"$plan" | sort | uniq -d) ]]; then ok "promise ids are unique"; else not_ok "duplicate promise ids"; fi
    if grep -vqE '^[a-z0-9-]+: .{20,}$' <<<"$plan"; then not_ok "a --plan line is not 'id: promise'"; else ok "every line is 'id: promise'"; fi
    for must in edge-504-share edge-504-timing canary-split vip-v2 mtls-outsider authz-403 outlier-ejection \
        self-healing-sla self-healing-edge dashboards-data alerts-loaded; do
        grep -q "^$must: " <<<"$plan" || not_ok "--plan lacks the issue's promise $must"
    done
    ok "--plan has every promise issue 10 lists"
    status=0
    bash scripts/lab/check.sh --only no-such-promise >/dev/null 2>&1 || status=$?
    expect "an unknown --only id is a usage error (exit)" 2 "$status"
}

t_curl_figures()
{
    local FIG
    echo "== curl figures at the edge"
    FIG=$'504 0.502113\n200 0.004321\n504 0.501001\n200 0.003100\n504 0.530000\n200 0.012000\n000 5.001000\n504 0.699000'
    expect "504 share" "4 8 50.0" "$(lc_code_share 504 <<<"$FIG")"
    expect "200 share" "3 8 37.5" "$(lc_code_share 200 <<<"$FIG")"
    expect "504 median (nearest rank)" "0.502" "$(lc_time_percentile 504 50 <<<"$FIG")"
    expect "504 p95" "0.699" "$(lc_time_percentile 504 95 <<<"$FIG")"
    expect "no 503 at all" "none" "$(lc_time_percentile 503 50 <<<"$FIG")"
    holds "0.502 is within 0.45..0.70" lc_between 0.45 0.502 0.70
    fails "2.001 (the old bug: 200 after the 2 s delay) is not" lc_between 0.45 2.001 0.70
    fails "none is not" lc_between 0 none 30
}

t_canary_vip()
{
    local BODIES
    echo "== canary and VIP"
    BODIES=$'{"id":1,"name":"Lamp","price_cents":100}\n{"id":1,"name":"Lamp","price_cents":100,"badge":"SALE"}\n\n{"id":1,"name":"Lamp","price_cents":100}\n{"id":1,"name":"Lamp","price_cents":100}'
    expect "v2 share (empty lines ignored)" "1 4 25.0" "$(lc_v2_share <<<"$BODIES")"
}

t_outsider_authz()
{
    echo "== outsider and AuthorizationPolicy"
    holds "connection reset, no status: refused" lc_refused "000 exit=56"
    holds "empty reply (ambient ztunnel): refused" lc_refused "000 exit=52"
    fails "a 200 is not refused" lc_refused "200 exit=0"
    fails "a 503 from a proxy is an HTTP answer" lc_refused "503 exit=0"
    holds "product 200 and order 403" lc_authz_ok $'product 200\norder 403'
    fails "order 200 (policy missing)" lc_authz_ok $'product 200\norder 200'
    fails "product 403 too (policy too tight)" lc_authz_ok $'product 403\norder 403'
}

t_envoy_stats()
{
    local STATS
    echo "== Envoy statistics"
    STATS='cluster.outbound|3005||inventory.ecommerce.svc.cluster.local.outlier_detection.ejections_enforced_total: 2
    cluster.outbound|3005||inventory.ecommerce.svc.cluster.local.outlier_detection.ejections_active: 1
    cluster.inbound-vip|3005|http|inventory.ecommerce.svc.cluster.local.outlier_detection.ejections_enforced_total: 3
    cluster.outbound|3001||product.ecommerce.svc.cluster.local.outlier_detection.ejections_enforced_total: 7'
    expect "ejections of inventory (gateway + waypoint clusters)" 5 \
        "$(lc_stat_sum inventory.ecommerce.svc.cluster.local outlier_detection.ejections_enforced_total <<<"$STATS")"
    expect "no such cluster" 0 "$(lc_stat_sum cart.ecommerce.svc.cluster.local outlier_detection.ejections_enforced_total <<<"$STATS")"
}

t_sla_access_log()
{
    local LOG
    echo "== pod-kill-sla.sh and the access log"
    expect "recovery seconds" 12.345 "$(lc_sla_seconds <<<$'pod-kill-sla: killing pod product-a\npod-kill-sla: PASS: product fully ready again (2/2) in 12.345s (SLA 30s)')"
    expect "over the SLA" 41.000 "$(lc_sla_seconds <<<'pod-kill-sla: FAIL: product recovered in 41.000s, over the SLA of 30s')"
    expect "never ready" none "$(lc_sla_seconds <<<'pod-kill-sla: FAIL: product not fully ready after 120s (1/2 Ready)')"
    LOG='[2026-12-06T10:00:00.000Z] "GET /products?ids=1 HTTP/1.1" 503 FI fault_filter_abort - "-" 0 18 0 - "-" "-" "a" "product:3001" "-" inbound|3001|| - 10.0.0.1:3001 10.0.0.2:4444 - default
    [2026-12-06T10:00:00.100Z] "GET /products?ids=1 HTTP/1.1" 503 FI fault_filter_abort - "-" 0 18 0 - "-" "-" "b" "product:3001" "-" inbound|3001|| - 10.0.0.1:3001 10.0.0.2:4445 - default
    [2026-12-06T10:00:00.200Z] "GET /metrics HTTP/1.1" 503 FI fault_filter_abort - "-" 0 18 0 - "-" "-" "d" "10.0.0.1:3001" "-" inbound|3001|| - 10.0.0.1:3001 10.0.0.9:4446 - default
    [2026-12-06T10:00:01.000Z] "GET /products/1 HTTP/1.1" 504 UT response_timeout - "-" 0 24 500 - "-" "-" "c" "product:3001" "-" - - - - default'
    expect "aborts of catalog reads counted (FI, not the scrape)" 2 "$(lc_fault_aborts <<<"$LOG")"
    expect "no aborts" 0 "$(lc_fault_aborts <<<'nothing here')"
}

t_dashboards()
{
    local DASH total f panels got left
    echo "== dashboards (monitoring/grafana/dashboards, at run time)"
    DASH='{"panels":[{"title":"Row","panels":[{"title":"Nested","targets":[{"expr":"sum(up{job=~\"$job\"})"}]}]},
     {"title":"Rate","targets":[{"expr":"rate(x_total[$__rate_interval])"},{"refId":"B"}]},{"title":"Text"}]}'
    expect "queries of a dashboard, nested rows included" $'Nested\tsum(up{job=~"$job"})\nRate\trate(x_total[$__rate_interval])' "$(lc_dashboard_queries <<<"$DASH")"
    expect "variables expanded" 'sum(rate(x{job=~".*",service=~".*"}[5m])) / 5m' \
        "$(lc_expand_vars 'sum(rate(x{job=~"$job",service="${service}"}[$__rate_interval])) / ${__range}')"
    total=0
    for f in monitoring/grafana/dashboards/*.json; do
        panels="$(jq '[.. | objects | select(has("targets")) | select(any(.targets[]?; .expr))] | length' "$f")"
        got="$(lc_dashboard_queries <"$f" | cut -f1 | sort -u | grep -c .)"
        [[ $got -ge 1 ]] || not_ok "$f: no query found"
        total=$((total + panels))
        if left="$(lc_dashboard_queries <"$f" | cut -f2 | while read -r e; do lc_expand_vars "$e"; done | grep -F '$')"; then
            not_ok "$f: a variable left after expansion: $left"
        fi
    done
    ((total > 0)) && ok "every dashboard's panel queries found and expanded ($total panels)"
    holds "a query with series has data" lc_prom_has_data <<<'{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}}'
    fails "an empty result has none" lc_prom_has_data <<<'{"status":"success","data":{"resultType":"vector","result":[]}}'
    fails "an error has none" lc_prom_has_data <<<'{"status":"error","errorType":"bad_data","error":"parse error"}'
}

t_alerts_traces_graph()
{
    local RULES TRACES GRAPH
    echo "== alerts, traces, graph"
    RULES='{"status":"success","data":{"groups":[{"name":"microshop.availability","rules":[]},{"name":"kubernetes-apps","rules":[]}]}}'
    expect "missing groups" "microshop.latency" "$(lc_missing_groups microshop.availability microshop.latency <<<"$RULES")"
    expect "nothing missing" "" "$(lc_missing_groups microshop.availability <<<"$RULES")"
    TRACES='{"data":[{"traceID":"a","spans":[{"duration":501234},{"duration":1200}]},{"traceID":"b","spans":[{"duration":3000}]}]}'
    expect "slow traces (>= 0.4 s)" 1 "$(lc_slow_traces 400000 <<<"$TRACES")"
    expect "none slower than 1 s" 0 "$(lc_slow_traces 1000000 <<<"$TRACES")"
    GRAPH='{"elements":{"nodes":[{"data":{"id":"n1","app":"microshop-gateway-istio"}},{"data":{"id":"n2","app":"product","version":"v1"}},{"data":{"id":"n3","app":"product","version":"v2"}},{"data":{"id":"n4","app":"cart"}}],
     "edges":[{"data":{"source":"n1","target":"n2"}},{"data":{"source":"n1","target":"n3"}},{"data":{"source":"n4","target":"n2"}},{"data":{"source":"n1","target":"n4"}}]}}'
    expect "edges into product" 3 "$(lc_kiali_edges_to product <<<"$GRAPH")"
    expect "edges into order" 0 "$(lc_kiali_edges_to order <<<"$GRAPH")"
}

t_reporting()
{
    local out
    echo "== reporting"
    LC_FAILED=0
    out="$(lc_verdict canary-split "98 of 1000 from v2 = 9.8 %" lc_between 7 9.8 13)"
    expect "a PASS line" "PASS canary-split: of 1,000 GET /products/1 at the edge, 10 +/- 3 % come from product v2 (98 of 1000 from v2 = 9.8 %)" "$out"
    lc_verdict vip-v2 "97 of 100 from v2" test 97 -eq 100 >/dev/null
    expect "a FAIL sets the exit status" 1 "$LC_FAILED"
}

# The whole script against a stub cluster and a loopback edge: a stub kubectl (a sidecar-mode
# namespace) and a loopback edge that answers like the shop: v2 ("badge":"SALE") for 10 requests
# in every 100 and always for x-user-type: vip. check.sh must print PASS lines with the figures;
# against an edge with no v2 at all, FAIL and exit 1.
STUB_DIR="$(mktemp -d)"
SERVER_PID=
cleanup() { [[ -n $SERVER_PID ]] && kill "$SERVER_PID" 2>/dev/null; rm -rf -- "$STUB_DIR"; }
trap cleanup EXIT

# start_edge SHARE VIP: a loopback edge that answers as product v2 for SHARE requests in every
# 100, and always for x-user-type: vip when VIP is 1; sets EDGE and SERVER_PID.
start_edge()
{
    rm -f "$STUB_DIR/port"
    node -e '
const http = require("node:http"), fs = require("node:fs");
const [portFile, share, vip] = process.argv.slice(1);
let n = 0;
const s = http.createServer((req, res) => {
  const v2 = (vip === "1" && req.headers["x-user-type"] === "vip") || (n++ % 100) < Number(share);
  res.writeHead(200, { "content-type": "application/json" });
  res.end(JSON.stringify(v2 ? { id: 1, badge: "SALE" } : { id: 1 }));
});
s.listen(0, "127.0.0.1", () => fs.writeFileSync(portFile, String(s.address().port)));
setTimeout(() => process.exit(0), 120000).unref();
' "$STUB_DIR/port" "$1" "$2" &
    SERVER_PID=$!
    for _ in $(seq 50); do [[ -s $STUB_DIR/port ]] && break; sleep 0.1; done
    EDGE="http://127.0.0.1:$(cat "$STUB_DIR/port")"
}

stop_edge()
{
    kill "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=
}

t_whole_script_passes()
{
    local status=0 out
    echo "== the whole script against a stub cluster and a loopback edge"
    printf '#!/bin/sh\ncase "$*" in\n"config current-context") echo kind-microshop ;;\n*"get namespace"*) echo "" ;;\n*) exit 1 ;;\nesac\n' >"$STUB_DIR/kubectl"
    chmod +x "$STUB_DIR/kubectl"
    start_edge 10 1
    out="$(PATH="$STUB_DIR:$PATH" bash scripts/lab/check.sh --only canary-split,vip-v2 --edge "$EDGE" 2>&1)" || status=$?
    if [[ $status == 0 ]] && grep -q '^PASS canary-split: .*(100 of 1000 from v2 = 10.0 %)$' <<<"$out" &&
        grep -q '^PASS vip-v2: .*(100 of 100 from v2)$' <<<"$out"; then
        ok "check.sh: canary and VIP PASS against a shop that splits 90/10"
    else
        not_ok "check.sh against a 90/10 edge: exit $status: $out"
    fi
    stop_edge
}

t_whole_script_fails()
{
    local status=0 out
    start_edge 0 0
    out="$(PATH="$STUB_DIR:$PATH" bash scripts/lab/check.sh --only vip-v2 --edge "$EDGE" 2>&1)" || status=$?
    if [[ $status == 1 ]] && grep -q '^FAIL vip-v2: .*(0 of 100 from v2)$' <<<"$out"; then
        ok "check.sh: FAIL and exit 1 when VIP users do not reach v2"
    else
        not_ok "check.sh against an edge without the VIP rule: exit $status: $out"
    fi
    stop_edge
}

t_shellcheck
t_plan

# shellcheck source=scripts/lab/check.sh
. scripts/lab/check.sh
set +e

t_curl_figures
t_canary_vip
t_outsider_authz
t_envoy_stats
t_sla_access_log
t_dashboards
t_alerts_traces_graph
t_reporting
t_whole_script_passes
t_whole_script_fails

echo "lab-check: $PASSES passed, $FAILURES failed"
((FAILURES == 0))
