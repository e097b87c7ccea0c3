#!/usr/bin/env bash
# Checks, on a cluster made by scripts/lab/kind-up.sh (either mesh mode), every promise lab 7
# (docs/labs/07-kubernetes-istio.md) makes, and prints one line per promise:
#   PASS <id>: <promise> (<figure>)     or     FAIL <id>: ... (<figure>)
# (SKIP only where a promise does not apply to the mesh mode, with the reason). It applies the
# lab's faults itself, one at a time, and removes each before the next; it sends bounded bursts
# of requests to the edge (EDGE_URL) and starts two short-lived curl pods. About 5 minutes.
#
#   scripts/lab/check.sh [--plan] [--only ID[,ID...]] [--edge URL] [--attendee-dir DIR]
#   scripts/lab/check.sh --attendees LIST [--class-dir DIR] [--plan] [--only ...]
#   make lab-check                      (LAB_CHECK_ARGS=... passes options)
#   make lab-check ATTENDEES=1-30       (a class on one cluster: the grid)
#
#   --plan   print the promises, one a line, and exit (no cluster needed); with --attendees,
#            the empty grid (attendees, their namespaces and edges, the promises)
#   --only   check only these promises (ids as --plan prints them)
#   --edge   the shop's edge (default http://localhost:8080, what k8s/kind-cluster.yaml maps)
#   --attendee-dir DIR  one attendee of a class (scripts/class/class.mjs render): its namespace
#            and edge from DIR/attendee.env, its faults and experiments from DIR, the class's
#            monitoring from DIR/../shared
#   --attendees LIST    every attendee of LIST (1-30,35), one after another, each as with
#            --attendee-dir CLASS_DIR/attendee-N; then a grid, promise x attendee, of
#            ok/FAIL/skip (exit 1 if a cell is FAIL). CLASS_DIR (--class-dir, default ./class,
#            what make class-render writes) is rendered first if it does not exist.
#
# Needs kubectl (context: the lab's cluster), curl and jq. Exit status: 0 every promise checked
# passed, 1 one failed, 2 usage or a missing tool.
# The parsing of what it reads (curl's figures, Envoy's statistics, the Prometheus, Jaeger and
# Kiali APIs, the dashboards) is in lc_* functions that tests/deploy/lab-check.test.sh feeds
# recorded output; the script runs main only when executed, not when sourced.
set -euo pipefail

LC_ROOT="$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)"
NAMESPACE=ecommerce
# Where the manifests the checks apply are (an attendee's rendered tree in a class), and the
# monitoring they read (the class's shared/).
LC_MANIFESTS="$LC_ROOT"
LC_SHARED="$LC_ROOT"
EDGE_URL="${EDGE_URL:-http://localhost:8080}"
CURL_IMAGE="${CURL_IMAGE:-curlimages/curl:8.11.1}"
PROMETHEUS_SVC="${PROMETHEUS_SVC:-monitoring/kube-prometheus-stack-prometheus:9090}"
JAEGER_SVC="${JAEGER_SVC:-istio-system/tracing:80}"
KIALI_SVC="${KIALI_SVC:-istio-system/kiali:20001}"
SLA_S=30

# The promises: id, then what lab 7 says. The order is the order they are checked in.
LC_PROMISES=(
    "edge-504-share|with istio/faults/edge-product-delay.yaml, 30-70 % of 200 GET /products/1 at the edge answer 504"
    "edge-504-timing|those 504s come after 0.5 s: median and p95 between 0.45 and 0.70 s"
    "edge-recovery|once the fault is deleted, 50 of 50 answers are 200"
    "canary-split|of 1,000 GET /products/1 at the edge, 10 +/- 3 % come from product v2"
    "vip-v2|100 of 100 GET /products/1 with x-user-type: vip come from product v2"
    "mtls-outsider|a plaintext call from a pod outside the mesh to order:3003 gets no HTTP answer"
    "authz-403|with cart's identity, product answers 200 and order refuses with 403"
    "outlier-ejection|under load, one failing inventory pod is ejected by outlier detection (ejections_enforced_total rises)"
    "self-healing-sla|a killed product pod is replaced and the Deployment is fully ready within 30 s"
    "self-healing-edge|no request at the edge fails while that pod is killed and replaced"
    "retry-amplification|with every product answer aborted server-side, one cart read costs 2 product requests (the mesh's attempts + 1), not 6"
    "traces-slow-request|Jaeger holds a trace of a request that took at least 0.4 s at the edge"
    "kiali-graph|Kiali's graph of the shop's namespace has the edge's calls to product"
    "dashboards-data|every panel query of monitoring/grafana/dashboards returns data in the cluster's Prometheus"
    "alerts-loaded|every rule group of the shop's PrometheusRules is loaded by Prometheus"
)

LC_FAILED=0
LC_PIDS=()
LC_TMP=""

# ---------------------------------------------------------------- parsing (unit-tested)

# Prints the promises, "id: text" one a line.
lc_plan()
{
    local p
    for p in "${LC_PROMISES[@]}"; do
        printf '%s: %s\n' "${p%%|*}" "${p#*|}"
    done
}

# The text of promise ID.
lc_promise_text()
{
    local p
    for p in "${LC_PROMISES[@]}"; do
        [[ ${p%%|*} == "$1" ]] && { printf '%s\n' "${p#*|}"; return 0; }
    done
    return 1
}

# stdin: curl -w '%{http_code} %{time_total}\n' lines. Prints "<count of CODE> <total> <percent>".
lc_code_share()
{
    awk -v code="$1" 'NF >= 1 { n++; if ($1 == code) k++ }
        END { printf "%d %d %.1f\n", k, n, n ? 100 * k / n : 0 }'
}

# stdin: the same lines. Prints the P-th percentile (nearest rank) of the times of answers with
# status CODE, in seconds, or "none".
lc_time_percentile()
{
    local code="$1" p="$2"
    awk -v code="$code" '$1 == code { print $2 }' | sort -g |
        awk -v p="$p" '{ t[NR] = $1 } END {
            if (!NR) { print "none"; exit }
            r = int((p / 100) * NR + 0.999999); if (r < 1) r = 1; if (r > NR) r = NR
            printf "%.3f\n", t[r] }'
}

# stdin: one product body a line. Prints "<v2 answers> <answers> <percent>" (v2 marks its
# products with "badge":"SALE", services/product/store.c).
lc_v2_share()
{
    awk 'NF { n++; if (index($0, "\"badge\":\"SALE\"")) k++ }
        END { printf "%d %d %.1f\n", k, n, n ? 100 * k / n : 0 }'
}

# $1: what the outsider pod printed ("<http_code> exit=<curl exit status>"). True when no HTTP
# answer came: status 000 and a connection-level failure (reset 56, empty reply 52, refused 7,
# timeout 28, TLS 35).
lc_refused()
{
    local code exit_status
    read -r code exit_status <<<"$1"
    exit_status="${exit_status#exit=}"
    [[ $code == 000 && $exit_status =~ ^(7|28|35|52|56)$ ]]
}

# $1: what the as-cart pod printed ("product <code>" and "order <code>" lines). True when product
# answered 200 and order 403.
lc_authz_ok()
{
    grep -qx 'product 200' <<<"$1" && grep -qx 'order 403' <<<"$1"
}

# stdin: Envoy's /stats text. Prints the sum of every counter whose name contains $1 and ends
# with $2 (e.g. "inventory.ecommerce.svc.cluster.local" "outlier_detection.ejections_enforced_total").
lc_stat_sum()
{
    awk -F': ' -v host="$1" -v stat="$2" 'index($1, host) && substr($1, length($1) - length(stat) + 1) == stat { s += $2 }
        END { print s + 0 }'
}

# stdin: pod-kill-sla.sh's output. Prints the seconds to recovery, or "none".
lc_sla_seconds()
{
    sed -n 's/.*PASS: .* fully ready again ([0-9]*\/[0-9]*) in \([0-9.]*\)s.*/\1/p; s/.*FAIL: .* recovered in \([0-9.]*\)s,.*/\1/p' |
        awk 'NR == 1 { print; found = 1 } END { if (!found) print "none" }'
}

# stdin: a product proxy's access log. Prints the number of catalog requests (GET /products...)
# answered 503 by an injected fault (response flag FI); scrapes and probes do not count.
lc_fault_aborts()
{
    grep '"GET /products' | grep -c '" 503 FI ' || true
}

# stdin: a Grafana dashboard (JSON). Prints "<panel title>\t<expr>" for every query of every
# panel, rows' nested panels included.
lc_dashboard_queries()
{
    jq -r '.. | objects | select(has("targets")) | .title as $t | .targets[]? | select(.expr) | "\($t)\t\(.expr | gsub("\n"; " "))"'
}

# $1: a PromQL expression from a dashboard. Prints it with Grafana's variables replaced by what
# an instant query can use: intervals by 5m, any other variable by a regex matching everything.
lc_expand_vars()
{
    # shellcheck disable=SC2016 # the dollars are Grafana's, matched literally
    sed -E -e 's/\$(__rate_interval|__interval|__range)|\$\{(__rate_interval|__interval|__range)\}/5m/g' \
        -e 's/([a-z_]+)=~?"\$\{?[a-zA-Z_]+(:[a-z]+)?\}?"/\1=~".*"/g' \
        -e 's/\$\{?[a-zA-Z_]+(:[a-z]+)?\}?/.*/g' <<<"$1"
}

# stdin: a Prometheus /api/v1/query answer. True when it succeeded with at least one series.
lc_prom_has_data()
{
    jq -e '.status == "success" and ((.data.result | length) > 0)' >/dev/null
}

# stdin: a Prometheus /api/v1/rules answer; $@: the group names expected. Prints those missing.
lc_missing_groups()
{
    local loaded g
    loaded="$(jq -r '.data.groups[].name')"
    for g in "$@"; do
        grep -qxF -- "$g" <<<"$loaded" || printf '%s\n' "$g"
    done
    return 0
}

# stdin: a Jaeger /api/traces answer; $1: a duration in microseconds. Prints the number of traces
# with a span at least that long.
lc_slow_traces()
{
    jq --argjson min "$1" '[.data[]? | select(any(.spans[]?; .duration >= $min))] | length'
}

# stdin: a Kiali graph answer; $1: an app. Prints the number of edges into that app's nodes.
lc_kiali_edges_to()
{
    jq --arg app "$1" '[.elements.nodes[]?.data | select(.app == $app) | .id] as $ids
        | [.elements.edges[]?.data | select(.target as $t | $ids | index($t))] | length'
}

# ------------------------------------------------------------------------- reporting

lc_report()
{
    local verdict="$1" id="$2" figure="$3"
    [[ $verdict == FAIL ]] && LC_FAILED=1
    printf '%s %s: %s (%s)\n' "$verdict" "$id" "$(lc_promise_text "$id")" "$figure"
}

# lc_verdict ID FIGURE CONDITION...: PASS when the command CONDITION... succeeds.
lc_verdict()
{
    local id="$1" figure="$2"
    shift 2
    if "$@"; then lc_report PASS "$id" "$figure"; else lc_report FAIL "$id" "$figure"; fi
}

# True when $1 <= $2 <= $3 (decimals).
lc_between()
{
    awk -v lo="$1" -v x="$2" -v hi="$3" 'BEGIN { exit !(x != "none" && lo <= x + 0 && x + 0 <= hi) }'
}

# ---------------------------------------------------------------- the cluster side

lc_kubectl()
{
    kubectl -n "$NAMESPACE" "$@"
}

lc_mesh_mode()
{
    local mode
    mode="$(kubectl get namespace "$NAMESPACE" -o jsonpath='{.metadata.labels.istio\.io/dataplane-mode}')"
    [[ $mode == ambient ]] && echo ambient || echo sidecar
}

# N requests to PATH at the edge: "<code> <seconds>" lines. Extra curl options after PATH.
lc_edge_figures()
{
    local n="$1" path="$2" i
    shift 2
    for ((i = 0; i < n; i++)); do
        curl -s -o /dev/null -m 5 -w '%{http_code} %{time_total}\n' "$@" "$EDGE_URL$path" || true
    done
}

# N bodies of GET PATH, one a line.
lc_edge_bodies()
{
    local n="$1" path="$2" i
    shift 2
    for ((i = 0; i < n; i++)); do
        curl -s -m 5 "$@" "$EDGE_URL$path" || true
        echo
    done
}

# Requests to PATH at the edge for SECONDS, about 30 a second: "<code> <seconds>" lines.
lc_edge_load()
{
    local end=$((SECONDS + $1)) path="$2"
    while ((SECONDS < end)); do
        curl -s -o /dev/null -m 5 -w '%{http_code} %{time_total}\n' "$EDGE_URL$path" || true
        sleep 0.03
    done
}

lc_apply()
{
    kubectl apply -f "$LC_MANIFESTS/$1" >/dev/null
    sleep "${LC_SETTLE_S:-8}" # the control plane pushes the change to the proxies
}

lc_delete()
{
    kubectl delete -f "$LC_MANIFESTS/$1" --ignore-not-found >/dev/null
    sleep "${LC_SETTLE_S:-8}"
}

# A port-forward to NS/SVC:PORT on a free local port; prints the local port.
lc_forward()
{
    local ns="${1%%/*}" rest="${1#*/}" port log
    log="$LC_TMP/forward.$RANDOM"
    kubectl -n "$ns" port-forward "svc/${rest%%:*}" ":${rest##*:}" >"$log" 2>&1 &
    LC_PIDS+=($!)
    for _ in $(seq 50); do
        port="$(sed -n 's/^Forwarding from 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$log" | head -n1)"
        [[ -n $port ]] && { echo "$port"; return 0; }
        sleep 0.2
    done
    return 1
}

# A one-shot curl pod: NS, SERVICE ACCOUNT (or ""), shell command. Prints its output.
lc_curl_pod()
{
    local ns="$1" sa="$2" cmd="$3" overrides=()
    [[ -n $sa ]] && overrides=(--overrides "{\"spec\":{\"serviceAccountName\":\"$sa\"}}")
    kubectl -n "$ns" run "lab-check-$RANDOM" --rm -i --restart=Never --quiet --image="$CURL_IMAGE" \
        "${overrides[@]}" --command -- sh -c "$cmd" 2>/dev/null || true
}

lc_check_edge_fault()
{
    local fig share median p95 ok total
    lc_apply istio/faults/edge-product-delay.yaml
    fig="$(lc_edge_figures 200 /products/1)"
    read -r _ _ share <<<"$(lc_code_share 504 <<<"$fig")"
    lc_verdict edge-504-share "$(lc_code_share 504 <<<"$fig" | awk '{print $1 " of " $2 " = " $3 " %"}')" lc_between 30 "$share" 70
    median="$(lc_time_percentile 504 50 <<<"$fig")"
    p95="$(lc_time_percentile 504 95 <<<"$fig")"
    if lc_between 0.45 "$median" 0.70 && lc_between 0.45 "$p95" 0.70; then
        lc_report PASS edge-504-timing "median ${median} s, p95 ${p95} s"
    else
        lc_report FAIL edge-504-timing "median ${median} s, p95 ${p95} s"
    fi
    lc_delete istio/faults/edge-product-delay.yaml
    fig="$(lc_edge_figures 50 /products/1)"
    read -r ok total _ <<<"$(lc_code_share 200 <<<"$fig")"
    lc_verdict edge-recovery "$ok of $total answered 200" test "$ok" -eq 50
}

lc_check_canary()
{
    local v2 n pct
    read -r v2 n pct <<<"$(lc_edge_bodies 1000 /products/1 | lc_v2_share)"
    lc_verdict canary-split "$v2 of $n from v2 = $pct %" lc_between 7 "$pct" 13
    read -r v2 n pct <<<"$(lc_edge_bodies 100 /products/1 -H 'x-user-type: vip' | lc_v2_share)"
    lc_verdict vip-v2 "$v2 of $n from v2" test "$v2" -eq 100 -a "$n" -eq 100
}

lc_check_security()
{
    local out
    out="$(lc_curl_pod default "" 'curl -sS -m 5 -o /dev/null -w "%{http_code}" http://order.'"$NAMESPACE"':3003/orders?user_id=1 2>/dev/null; echo " exit=$?"' | tail -n1)"
    lc_verdict mtls-outsider "curl printed: ${out:-nothing}" lc_refused "$out"
    out="$(lc_curl_pod "$NAMESPACE" cart 'curl -s -o /dev/null -w "product %{http_code}\n" http://product:3001/products/1; curl -s -o /dev/null -w "order %{http_code}\n" "http://order:3003/orders?user_id=1"')"
    lc_verdict authz-403 "$(tr '\n' ' ' <<<"$out")" lc_authz_ok "$out"
}

# Envoy statistics of the proxies that balance the edge's calls to inventory: the gateway's,
# and in ambient mode the waypoint's (the gateway hands the call to it).
lc_edge_stats()
{
    lc_kubectl exec deploy/microshop-gateway-istio -- pilot-agent request GET stats 2>/dev/null || true
    if [[ $(lc_mesh_mode) == ambient ]]; then
        lc_kubectl exec deploy/waypoint -- pilot-agent request GET stats 2>/dev/null || true
    fi
}

lc_check_outlier()
{
    local before after load_pid host="inventory.$NAMESPACE.svc.cluster.local" stat=outlier_detection.ejections_enforced_total
    before="$(lc_edge_stats | lc_stat_sum "$host" "$stat")"
    lc_edge_load 30 /inventory/1 >"$LC_TMP/load" &
    load_pid=$!
    LC_PIDS+=("$load_pid")
    sleep 2
    lc_apply chaos/chaos-mesh/pod-failure.yaml
    sleep 15
    after="$(lc_edge_stats | lc_stat_sum "$host" "$stat")"
    lc_delete chaos/chaos-mesh/pod-failure.yaml
    wait "$load_pid" 2>/dev/null || true
    lc_verdict outlier-ejection "ejections_enforced_total $before -> $after" test "$after" -gt "$before"
    lc_kubectl rollout status deployment/inventory --timeout=120s >/dev/null 2>&1 || true
}

lc_check_self_healing()
{
    local load_pid out secs ok total
    lc_edge_load 45 /products/1 >"$LC_TMP/heal" &
    load_pid=$!
    LC_PIDS+=("$load_pid")
    sleep 1
    out="$(bash "$LC_ROOT/chaos/scripts/pod-kill-sla.sh" --namespace "$NAMESPACE" --sla "$SLA_S" product 2>&1 || true)"
    wait "$load_pid" 2>/dev/null || true
    secs="$(lc_sla_seconds <<<"$out")"
    lc_verdict self-healing-sla "ready again after ${secs} s" lc_between 0 "$secs" "$SLA_S"
    read -r ok total _ <<<"$(lc_code_share 200 <"$LC_TMP/heal")"
    lc_verdict self-healing-edge "$ok of $total answered 200" test "$ok" -eq "$total" -a "$total" -gt 0
}

lc_check_amplification()
{
    # Two reads: cart's breaker (PRODUCT_BREAKER_FAILURES, 5) stays closed, so each read is sent.
    local since aborts n=2 user=990001
    if [[ $(lc_mesh_mode) == ambient ]]; then
        printf 'SKIP retry-amplification: sidecar mode only (in ambient mode the fault runs in the waypoint, before its retries)\n'
        return 0
    fi
    curl -s -o /dev/null -m 5 -X POST -H 'content-type: application/json' -d '{"product_id":1,"quantity":1}' "$EDGE_URL/cart/$user"
    lc_apply istio/faults/product-server-abort.yaml
    since="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    sleep 1
    lc_edge_figures "$n" "/cart/$user" >/dev/null
    sleep 2
    aborts="$(lc_kubectl logs -l app=product -c istio-proxy --since-time="$since" --tail=-1 --max-log-requests=10 2>/dev/null | lc_fault_aborts)"
    lc_delete istio/faults/product-server-abort.yaml
    lc_verdict retry-amplification "$n cart reads -> $aborts product requests aborted" test "$aborts" -eq $((2 * n))
}

lc_check_traces()
{
    local port services svc slow
    lc_kubectl patch telemetry default --type=json \
        -p='[{"op":"replace","path":"/spec/tracing/0/randomSamplingPercentage","value":100}]' >/dev/null
    lc_apply istio/faults/edge-product-delay.yaml
    lc_edge_figures 10 /products/1 >/dev/null
    lc_delete istio/faults/edge-product-delay.yaml
    kubectl apply -f "$LC_MANIFESTS/istio/mesh/telemetry.yaml" >/dev/null
    port="$(lc_forward "$JAEGER_SVC")" || { lc_report FAIL traces-slow-request "no port-forward to $JAEGER_SVC"; return 0; }
    services="$(curl -s -m 10 "http://127.0.0.1:$port/api/services" | jq -r '.data[]?' 2>/dev/null || true)"
    svc="$(grep -m1 '^microshop-gateway' <<<"$services" || true)"
    slow=0
    if [[ -n $svc ]]; then
        slow="$(curl -s -m 10 -G "http://127.0.0.1:$port/api/traces" --data-urlencode "service=$svc" \
            --data-urlencode minDuration=400ms --data-urlencode limit=20 --data-urlencode lookback=1h | lc_slow_traces 400000)"
    fi
    lc_verdict traces-slow-request "service ${svc:-none}, $slow slow traces" test "$slow" -gt 0
}

lc_check_kiali()
{
    local port edges
    port="$(lc_forward "$KIALI_SVC")" || { lc_report FAIL kiali-graph "no port-forward to $KIALI_SVC"; return 0; }
    edges="$(curl -s -m 20 "http://127.0.0.1:$port/kiali/api/namespaces/graph?namespaces=$NAMESPACE&graphType=app&duration=600s" |
        lc_kiali_edges_to product 2>/dev/null || echo 0)"
    lc_verdict kiali-graph "$edges edges into product" test "${edges:-0}" -gt 0
}

# Every panel query of the dashboards, from monitoring/grafana/dashboards at run time.
lc_check_dashboards()
{
    local port f title expr total=0 empty=0 missing=()
    port="$(lc_forward "$PROMETHEUS_SVC")" || { lc_report FAIL dashboards-data "no port-forward to $PROMETHEUS_SVC"; return 0; }
    for f in "$LC_SHARED"/monitoring/grafana/dashboards/*.json; do
        while IFS=$'\t' read -r title expr; do
            total=$((total + 1))
            if ! curl -s -m 10 -G "http://127.0.0.1:$port/api/v1/query" --data-urlencode "query=$(lc_expand_vars "$expr")" | lc_prom_has_data; then
                empty=$((empty + 1))
                missing+=("$(basename "$f" .json)/$title")
            fi
        done < <(lc_dashboard_queries <"$f")
    done
    lc_verdict dashboards-data "$((total - empty)) of $total queries with data${missing:+; none: $(IFS=,; echo "${missing[*]}")}" \
        test "$empty" -eq 0 -a "$total" -gt 0
}

lc_check_alerts()
{
    local port groups missing
    port="$(lc_forward "$PROMETHEUS_SVC")" || { lc_report FAIL alerts-loaded "no port-forward to $PROMETHEUS_SVC"; return 0; }
    mapfile -t groups < <(kubectl kustomize "$LC_SHARED/monitoring/k8s" | kubectl create --dry-run=client -o json -f - 2>/dev/null |
        jq -r '(if .kind == "List" then .items[] else . end) | select(.kind == "PrometheusRule") | .spec.groups[].name')
    missing="$(curl -s -m 10 "http://127.0.0.1:$port/api/v1/rules" | lc_missing_groups "${groups[@]}")"
    lc_verdict alerts-loaded "${#groups[@]} groups${missing:+, not loaded: $(tr '\n' ' ' <<<"$missing")}" \
        test -z "$missing" -a "${#groups[@]}" -gt 0
}

lc_cleanup()
{
    local pid
    for pid in "${LC_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    [[ -n $LC_TMP ]] && rm -rf -- "$LC_TMP"
    return 0
}

# ---------------------------------------------------------------- a class (one cluster)

# Reads an attendee's facts (DIR/attendee.env, written by scripts/class/class.mjs): namespace,
# edge (unless --edge gave one), manifests, the class's shared monitoring.
lc_use_attendee_dir()
{
    local dir="$1" key value edge=""
    [[ -f $dir/attendee.env ]] || { echo "check: $dir/attendee.env is missing (scripts/class/class.mjs render)" >&2; return 2; }
    while IFS='=' read -r key value; do
        case "$key" in
        NAMESPACE) NAMESPACE="$value" ;;
        EDGE_URL) edge="$value" ;;
        esac
    done <"$dir/attendee.env"
    [[ $LC_EDGE_GIVEN == 1 ]] || EDGE_URL="$edge"
    LC_MANIFESTS="$(cd -P -- "$dir" && pwd -P)"
    LC_SHARED="$(cd -P -- "$dir/../shared" && pwd -P)"
}

# stdin: what one attendee's run printed. Prints the grid's cell for promise ID: ok, FAIL, skip,
# or "." when the run printed no verdict for it (not asked for, or the run stopped before it).
lc_grid_cell()
{
    awk -v id="$1" '$2 == id ":" { v = $1 } END {
        if (v == "PASS") print "ok"; else if (v == "FAIL") print "FAIL"; else if (v == "SKIP") print "skip"; else print "." }'
}

# lc_grid DIR N...: the grid of the runs whose output is DIR/N.out (a missing file: the plan):
# one row per promise, one column per attendee, then a row of passes per attendee. Returns 1
# when a cell is FAIL.
lc_grid()
{
    local dir="$1" id n cell row failed=0 passes
    shift
    printf '%-20s' "promise \\ attendee"
    for n in "$@"; do printf ' %5s' "$n"; done
    printf '\n'
    for id in $(lc_plan | cut -d: -f1); do
        row="$(printf '%-20s' "$id")"
        for n in "$@"; do
            cell=.
            [[ -f $dir/$n.out ]] && cell="$(lc_grid_cell "$id" <"$dir/$n.out")"
            [[ $cell == FAIL ]] && failed=1
            row+="$(printf ' %5s' "$cell")"
        done
        printf '%s\n' "$row"
    done
    printf '%-20s' "passed"
    for n in "$@"; do
        passes=0
        [[ -f $dir/$n.out ]] && passes="$(grep -c '^PASS ' "$dir/$n.out" || true)"
        printf ' %5s' "${passes:-0}"
    done
    printf '\n'
    return "$failed"
}

# The class: every attendee of LIST in turn (this script with --attendee-dir), then the grid.
lc_class()
{
    local list="$1" class_dir="$2" plan="$3" n attendees status=0
    shift 3
    mapfile -t attendees < <(node "$LC_ROOT/scripts/class/class.mjs" list "$list") || return 2
    ((${#attendees[@]})) || return 2
    if [[ ! -d $class_dir ]]; then
        echo "# rendering the class into $class_dir" >&2
        node "$LC_ROOT/scripts/class/class.mjs" render --attendees "$list" --out "$class_dir" >&2 || return 2
    fi
    LC_TMP="$(mktemp -d)"
    trap lc_cleanup EXIT
    echo "# lab 7 promises for ${#attendees[@]} attendees (class $class_dir)"
    for n in "${attendees[@]}"; do
        [[ -d $class_dir/attendee-$n ]] || { echo "check: no $class_dir/attendee-$n (render the class with these attendees)" >&2; return 2; }
        echo "# attendee $n: $(tr '\n' ' ' <"$class_dir/attendee-$n/attendee.env")"
        ((plan)) && continue
        bash "${BASH_SOURCE[0]}" --attendee-dir "$class_dir/attendee-$n" "$@" >"$LC_TMP/$n.out" 2>&1 || true
        sed "s/^/  [$n] /" "$LC_TMP/$n.out"
    done
    lc_grid "$LC_TMP" "${attendees[@]}" || status=1
    return "$status"
}

lc_main()
{
    local only="" class_list="" class_dir="${CLASS_DIR:-$PWD/class}" plan=0 pass=()
    LC_EDGE_GIVEN=0
    while (($#)); do
        case "$1" in
        --plan) plan=1 ;;
        --only) only="${2:?--only needs ids}"; pass+=(--only "$2"); shift ;;
        --only=*) only="${1#*=}"; pass+=("$1") ;;
        --edge) EDGE_URL="${2:?--edge needs a URL}"; LC_EDGE_GIVEN=1; shift ;;
        --edge=*) EDGE_URL="${1#*=}"; LC_EDGE_GIVEN=1 ;;
        --attendee-dir) lc_use_attendee_dir "${2:?--attendee-dir needs a directory}" || return 2; shift ;;
        --attendees) class_list="${2:?--attendees needs a list}"; shift ;;
        --class-dir) class_dir="${2:?--class-dir needs a directory}"; shift ;;
        -h | --help) sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; return 0 ;;
        *) echo "check: unknown option $1 (see --help)" >&2; return 2 ;;
        esac
        shift
    done
    if [[ -n $class_list ]]; then
        lc_class "$class_list" "$class_dir" "$plan" "${pass[@]}"
        return
    fi
    ((plan)) && { lc_plan; return 0; }
    lc_preflight "$only" || return 2
    LC_TMP="$(mktemp -d)"
    trap lc_cleanup EXIT
    echo "# lab 7 promises on $(kubectl config current-context), namespace $NAMESPACE, $(lc_mesh_mode) mode, edge $EDGE_URL"
    lc_run_promises "$only"
}

# The tools the checks call are here, and every id of --only (comma-separated) is a promise.
lc_preflight()
{
    local tool id
    for tool in kubectl curl jq; do
        command -v "$tool" >/dev/null || { echo "check: $tool is needed" >&2; return 2; }
    done
    for id in ${1//,/ }; do
        lc_promise_text "$id" >/dev/null || { echo "check: no promise $id (see --plan)" >&2; return 2; }
    done
}

# Runs the groups of checks that hold a promise of $1 (comma-separated ids; empty: all); returns
# how many failed.
lc_run_promises()
{
    local only="$1"
    run() { [[ -z $only || ,$only, == *",$1,"* ]]; }
    run edge-504-share || run edge-504-timing || run edge-recovery && lc_check_edge_fault
    run canary-split || run vip-v2 && lc_check_canary
    run mtls-outsider || run authz-403 && lc_check_security
    run outlier-ejection && lc_check_outlier
    run self-healing-sla || run self-healing-edge && lc_check_self_healing
    run retry-amplification && lc_check_amplification
    run traces-slow-request && lc_check_traces
    run kiali-graph && lc_check_kiali
    run dashboards-data && lc_check_dashboards
    run alerts-loaded && lc_check_alerts
    return "$LC_FAILED"
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
    lc_main "$@"
fi
