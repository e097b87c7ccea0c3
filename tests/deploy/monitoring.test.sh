#!/usr/bin/env bash
# Checks monitoring/: Prometheus configs, rules and their unit tests, the Kubernetes
# ServiceMonitors and PrometheusRule, the Grafana provisioning and dashboards, and, against the
# real running suite, that every PromQL expression uses only metrics and labels the services
# expose. Then runs the native Prometheus config on that suite: every target up, every rule
# evaluating without error, every dashboard query answered.
# Needs MS_BINARY_DIR (the build with services/<svc>/<svc>); run from anywhere.
set -euo pipefail

ROOT="$(cd -P -- "$(dirname -- "${BASH_SOURCE[0]}")/../.." && pwd -P)"
BIN_DIR="${MS_BINARY_DIR:-$ROOT/build}"
MON="$ROOT/monitoring"
DEPLOY="$ROOT/tests/deploy"
STARTED=$SECONDS
# shellcheck source-path=SCRIPTDIR source=monitoring-stack.sh
. "$DEPLOY/monitoring-stack.sh"

WORK="$(mktemp -d /tmp/ms-monitoring-test.XXXXXX)"
PROM_PID=""
cleanup()
{
    if [[ -n $PROM_PID ]]; then
        kill -TERM "$PROM_PID" 2>/dev/null || true
        wait "$PROM_PID" 2>/dev/null || true
    fi
    stack_stop "$ROOT"
    rm -rf "$WORK"
}
trap cleanup EXIT

step()
{
    printf '\n---- %s\n' "$*"
}

for tool in promtool prometheus node kubectl yamllint curl; do
    command -v "$tool" >/dev/null || {
        echo "FAIL: $tool is not installed (scripts/install-deps.sh installs it)" >&2
        exit 1
    }
done
DASHBOARDS=("$MON"/grafana/dashboards/*.json)

# The files alone: YAML, promtool on the configurations and rules (and the rules' unit tests),
# the generated files, the Kubernetes objects and Grafana provisioning.
static_checks()
{
    step "yamllint monitoring/"
    local yamls=()
    mapfile -t yamls < <(find "$MON" -name '*.yml' -o -name '*.yaml' | sort)
    yamllint -s -c "$DEPLOY/yamllint.yaml" "${yamls[@]}"
    echo "ok: ${#yamls[@]} YAML files"

    step "promtool: configs, rules, rule unit tests"
    promtool check config "$MON/prometheus/prometheus.yml"
    promtool check config "$MON/prometheus/prometheus.native.yml"
    promtool check rules "$MON/rules/alerts.yml"
    (cd "$MON/rules" && promtool test rules alerts.test.yml)

    step "generated files are up to date"
    node "$DEPLOY/monitoring-rules.mjs" --check
    node "$DEPLOY/monitoring-dashboards.mjs" --check

    step "Kubernetes (CRD schemas), Prometheus targets, Grafana provisioning"
    node "$DEPLOY/monitoring-config.mjs"
}

# The real suite, with traffic, its /metrics collected; every PromQL expression uses only what
# it exposes.
live_checks()
{
    step "the real suite: PostgreSQL, Redis, six services and the frontend from $BIN_DIR"
    stack_start "$ROOT" "$BIN_DIR"
    echo "ok: started; ports: pg $STACK_PG_PORT redis $STACK_REDIS_PORT" \
        "$(for s in "${STACK_SERVICES[@]}"; do printf '%s %s ' "$s" "${STACK_PORT[$s]}"; done)"
    stack_traffic
    stack_collect
    echo "ok: traffic sent, /metrics collected from ${#STACK_SERVICES[@]} services"

    step "every PromQL expression uses only exposed metrics and labels"
    node "$DEPLOY/monitoring-promql.mjs" "$STACK_DIR/metrics" "$MON/rules/alerts.yml" "${DASHBOARDS[@]}"
}

# The PromQL check catches a planted typo.
planted_typo()
{
    step "the check catches a typo (http_request_total in a copy of overview.json)"
    sed 's/http_requests_total{/http_request_total{/' "$MON/grafana/dashboards/overview.json" \
        >"$WORK/overview.json"
    if node "$DEPLOY/monitoring-promql.mjs" "$STACK_DIR/metrics" "$MON/rules/alerts.yml" \
        "$WORK/overview.json" >"$WORK/typo.out" 2>&1; then
        cat "$WORK/typo.out"
        echo "FAIL: a dashboard using http_request_total passed the check" >&2
        exit 1
    fi
    grep -m1 'unknown metric http_request_total' "$WORK/typo.out" | sed 's/^FAIL: /as expected: /'
    echo "ok: the planted typo is reported"
}

# Starts Prometheus (PROM_PID, PROM_PORT) with prometheus.native.yml, rendered by
# ms_prometheus_render with the stack's ports in the variables make up reads. The gateway's
# metrics (job gateway) are left out: this stack runs no gateway; its panels show no data here
# (monitoring-semantics.mjs checks that they have data where the gateway runs).
start_native_prometheus()
{
    ms_free_port PROM_PORT
    local port_env=("PRODUCT_V2_PORT=${STACK_PORT[product-v2]}")
    local s
    for s in "${STACK_SERVICES[@]}"; do
        port_env+=("$(bash -c ". '$ROOT/scripts/lib.sh' && ms_service_port_var $s")=${STACK_PORT[$s]}")
    done
    env "${port_env[@]}" bash -c ". '$ROOT/scripts/lib.sh' && ms_prometheus_render '$WORK/prometheus'"
    awk '/^  - job_name: gateway$/ { skip = 1; next } skip && /^  - job_name:/ { skip = 0 } !skip' \
        "$WORK/prometheus/prometheus.yml" >"$WORK/prometheus/native.yml"
    mv "$WORK/prometheus/native.yml" "$WORK/prometheus/prometheus.yml"
    promtool check config "$WORK/prometheus/prometheus.yml" >/dev/null
    prometheus --config.file="$WORK/prometheus/prometheus.yml" --storage.tsdb.path="$WORK/prometheus/data" \
        --web.listen-address="127.0.0.1:$PROM_PORT" --log.level=warn >"$WORK/prometheus.log" 2>&1 &
    PROM_PID=$!
}

# Native Prometheus on the running suite: every target up, every rule and dashboard query
# answered.
native_prometheus_checks()
{
    step "native Prometheus (prometheus.native.yml, rendered as make up does) on the running suite"
    start_native_prometheus
    # A second round of traffic once every target has been scraped, so the rates are not zero.
    if ! node "$DEPLOY/monitoring-live.mjs" up "http://127.0.0.1:$PROM_PORT"; then
        tail -n 20 "$WORK/prometheus.log" >&2
        exit 1
    fi
    stack_traffic >/dev/null
    if ! node "$DEPLOY/monitoring-live.mjs" check "http://127.0.0.1:$PROM_PORT" "$MON/rules/alerts.yml" \
        "${DASHBOARDS[@]}"; then
        tail -n 20 "$WORK/prometheus.log" >&2
        exit 1
    fi
}

static_checks
live_checks
planted_typo
native_prometheus_checks
step "ok: all monitoring checks passed in $((SECONDS - STARTED)) s"
