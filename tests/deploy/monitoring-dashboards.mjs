#!/usr/bin/env node
// Generates the Grafana dashboards in monitoring/grafana/dashboards/*.json from the definitions
// below (one place for layout, data source and units, so the four dashboards stay consistent).
//   node tests/deploy/monitoring-dashboards.mjs --write   rewrite the JSON files
//   node tests/deploy/monitoring-dashboards.mjs --check   exit 1 if a JSON file differs from what
//                                                         --write would write (or is missing/extra)
// --write also writes monitoring/k8s/dashboards.yaml: the same JSON texts as ConfigMaps labelled
// grafana_dashboard: "1", which the Grafana of kube-prometheus-stack loads (its dashboard sidecar,
// searchNamespace ALL); monitoring/k8s/kustomization.yaml applies them with the rest.
// Edit here, then --write; a dashboard changed in Grafana's UI is brought back by porting the change.
// Every expression may use only metrics the services expose (docs/api.md, "Metrics"), `up` and
// the recording rules of monitoring/rules/alerts.yml: monitoring-promql.mjs checks that against
// the real services' /metrics.
import { readdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { stringify } from "yaml";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const DIR = "monitoring/grafana/dashboards";
const DS = { type: "prometheus", uid: "${datasource}" };
const NOPROBE = 'route!~"/health|/ready|/metrics"';
const RI = "$__rate_interval";
// The shop's own scrape targets: every target gets shop="microshop" (prometheus*.yml, the
// monitors of monitoring/k8s), so `up` and the process_* series of the rest of a cluster
// (kube-scheduler, etcd, ...) stay out.
const SHOP = 'shop="microshop"';
// The namespace the shop runs in on Kubernetes (k8s/base), for kube-state-metrics' series.
const NS = 'namespace="ecommerce"';
// Panels with data only on Kubernetes say so (tests/deploy/monitoring-semantics.mjs checks it).
const K8S_ONLY = "Kubernetes only";

/* ---------------------------------------------------------------- panel helpers */

// A query: expr, legend, and options (instant/table for tables).
function q(expr, legend = "", extra = {}) {
  return { expr, legendFormat: legend, ...extra };
}

function withTargets(targets) {
  return targets.map((t, i) => ({
    datasource: DS,
    refId: String.fromCharCode(65 + i),
    editorMode: "code",
    range: !t.instant,
    instant: !!t.instant,
    ...(t.format ? { format: t.format } : {}),
    expr: t.expr,
    legendFormat: t.legendFormat || "__auto",
  }));
}

function timeseries(title, description, targets, o = {}) {
  return {
    type: "timeseries",
    title,
    description,
    w: o.w ?? 12,
    h: o.h ?? 8,
    datasource: DS,
    targets: withTargets(targets),
    fieldConfig: {
      defaults: {
        unit: o.unit ?? "short",
        min: o.min ?? 0,
        ...(o.max !== undefined ? { max: o.max } : {}),
        custom: {
          drawStyle: "line",
          lineWidth: 1,
          fillOpacity: o.stack ? 30 : 10,
          showPoints: "never",
          spanNulls: false,
          stacking: { mode: o.stack ? "normal" : "none", group: "A" },
        },
        ...(o.thresholds ? { thresholds: o.thresholds } : {}),
      },
      overrides: [],
    },
    options: {
      legend: { displayMode: "table", placement: "bottom", calcs: ["lastNotNull", "max"] },
      tooltip: { mode: "multi", sort: "desc" },
    },
  };
}

function stat(title, description, expr, o = {}) {
  return {
    type: "stat",
    title,
    description,
    w: o.w ?? 4,
    h: o.h ?? 4,
    datasource: DS,
    targets: withTargets([q(expr, o.legend ?? "")]),
    fieldConfig: {
      defaults: {
        unit: o.unit ?? "short",
        decimals: o.decimals,
        thresholds: o.thresholds ?? { mode: "absolute", steps: [{ color: "green", value: null }] },
        ...(o.mappings ? { mappings: o.mappings } : {}),
      },
      overrides: [],
    },
    options: {
      reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false },
      colorMode: "background",
      graphMode: o.graph === false ? "none" : "area",
      textMode: "auto",
      justifyMode: "auto",
      orientation: "auto",
    },
  };
}

function steps(...pairs) {
  const out = [{ color: pairs[0], value: null }];
  for (let i = 1; i < pairs.length; i += 2) out.push({ color: pairs[i + 1], value: pairs[i] });
  return { mode: "absolute", steps: out };
}

const BREAKER_MAPPINGS = [
  {
    type: "value",
    options: {
      0: { text: "closed", color: "green", index: 0 },
      1: { text: "open", color: "red", index: 1 },
      2: { text: "half-open", color: "orange", index: 2 },
    },
  },
];
const UP_MAPPINGS = [
  {
    type: "value",
    options: { 0: { text: "down", color: "red", index: 0 }, 1: { text: "up", color: "green", index: 1 } },
  },
];

function stateTimeline(title, description, targets, mappings, o = {}) {
  return {
    type: "state-timeline",
    title,
    description,
    w: o.w ?? 12,
    h: o.h ?? 8,
    datasource: DS,
    targets: withTargets(targets),
    fieldConfig: {
      defaults: {
        mappings,
        thresholds: steps("green"),
        color: { mode: "thresholds" },
        custom: { fillOpacity: 80, lineWidth: 0 },
      },
      overrides: [],
    },
    options: {
      showValue: "auto",
      mergeValues: true,
      alignValue: "left",
      rowHeight: 0.9,
      legend: { displayMode: "list", placement: "bottom", showLegend: true },
      tooltip: { mode: "single", sort: "none" },
    },
  };
}

// A table of instant queries joined on their labels (one column per query).
function table(title, description, targets, o = {}) {
  return {
    type: "table",
    title,
    description,
    w: o.w ?? 24,
    h: o.h ?? 8,
    datasource: DS,
    targets: withTargets(targets.map((t) => ({ ...t, instant: true, format: "table" }))),
    transformations: [
      { id: "merge", options: {} },
      { id: "organize", options: { excludeByName: { Time: true }, renameByName: o.rename ?? {} } },
    ],
    fieldConfig: {
      defaults: { unit: o.unit ?? "short", custom: { align: "auto" } },
      overrides: o.overrides ?? [],
    },
    options: { showHeader: true, sortBy: o.sortBy ?? [] },
  };
}

function row(title) {
  return { type: "row", title, w: 24, h: 1, collapsed: false, panels: [] };
}

// Lays panels out left to right, wrapping at 24 columns; a row starts a new line.
function layout(panels) {
  let x = 0;
  let y = 0;
  let lineH = 0;
  return panels.map((p, i) => {
    const { w, h, ...rest } = p;
    if (p.type === "row" || x + w > 24) {
      y += lineH;
      x = 0;
      lineH = 0;
    }
    const out = { id: i + 1, gridPos: { h, w, x, y }, ...rest };
    x += w;
    lineH = Math.max(lineH, h);
    if (p.type === "row") {
      y += h;
      x = 0;
      lineH = 0;
    }
    return out;
  });
}

const DATASOURCE_VAR = {
  name: "datasource",
  label: "Data source",
  type: "datasource",
  query: "prometheus",
  current: {},
  hide: 0,
  refresh: 1,
  regex: "",
  includeAll: false,
  multi: false,
  options: [],
};

function queryVar(name, label, metric, labelName) {
  const query = `label_values(${metric}, ${labelName})`;
  return {
    name,
    label,
    type: "query",
    datasource: DS,
    definition: query,
    query: { query, refId: "PrometheusVariableQueryEditor-VariableQuery" },
    refresh: 2,
    includeAll: true,
    multi: true,
    allValue: ".*",
    current: { selected: true, text: ["All"], value: ["$__all"] },
    hide: 0,
    sort: 1,
    regex: "",
    options: [],
  };
}

function dashboard(uid, title, description, vars, panels, tags = []) {
  return {
    uid,
    title,
    description,
    tags: ["microshop", ...tags],
    editable: true,
    graphTooltip: 1,
    refresh: "10s",
    schemaVersion: 39,
    version: 1,
    time: { from: "now-30m", to: "now" },
    timepicker: { refresh_intervals: ["5s", "10s", "30s", "1m", "5m"] },
    timezone: "browser",
    fiscalYearStartMonth: 0,
    liveNow: false,
    annotations: { list: [] },
    links: [
      { type: "dashboards", tags: ["microshop"], title: "Microshop", asDropdown: true, includeVars: false, keepTime: true },
    ],
    templating: { list: [DATASOURCE_VAR, ...vars] },
    panels: layout(panels),
  };
}

/* ---------------------------------------------------------------- the dashboards */

const S = 'service=~"$service"';
const J = 'job=~"$job"';
const SJ = `${SHOP},${J}`;

function overview() {
  const req = `http_requests_total{${S},${NOPROBE}}`;
  const bucket = `http_request_duration_seconds_bucket{${S},${NOPROBE}}`;
  const pct = (p, by) => `histogram_quantile(${p}, sum by (${by}) (rate(${bucket}[${RI}])))`;
  return dashboard(
    "microshop-overview",
    "Microshop / Overview",
    "Traffic, errors and latency of every service (the golden signals), probes left out.",
    [queryVar("service", "Service", "http_requests_total", "service")],
    [
      row("Now"),
      stat("Requests / s", "Customer requests per second (probes left out).", `sum(rate(${req}[${RI}]))`, { unit: "reqps" }),
      stat("5xx ratio", "Share of requests answered with a 5xx status.",
        `sum(rate(http_requests_total{${S},${NOPROBE},code=~"5.."}[${RI}])) / sum(rate(${req}[${RI}]))`,
        { unit: "percentunit", decimals: 2, thresholds: steps("green", 0.01, "orange", 0.05, "red") }),
      stat("p99 latency", "99th percentile of request duration, all selected services.", pct(0.99, "le"),
        { unit: "s", thresholds: steps("green", 0.25, "orange", 0.5, "red") }),
      stat("In flight", "Requests being served right now.", `sum(http_requests_in_flight{${S}})`),
      stat("Targets up", "The shop's scrape targets answering /metrics, of all of them.", `sum(up{${SHOP}}) / count(up{${SHOP}})`,
        { unit: "percentunit", graph: false, thresholds: steps("red", 0.99, "green") }),
      stat("Breakers not closed", "Circuit breakers open or half-open, over all callers and upstreams.",
        `count(circuit_breaker_state > 0) or vector(0)`,
        { graph: false, thresholds: steps("green", 1, "red") }),
      row("Traffic"),
      timeseries("Requests / s by service", "", [q(`sum by (service) (rate(${req}[${RI}]))`, "{{service}}")], { unit: "reqps", stack: true }),
      timeseries("Requests / s by route and status", "Each method, route and status code.",
        [q(`sum by (service, method, route, code) (rate(${req}[${RI}]))`, "{{service}} {{method}} {{route}} {{code}}")],
        { unit: "reqps" }),
      timeseries("Product: requests / s by version (canary)",
        "The product canary split: v1 and v2 pods of the product service (90/10 at the edge, vip users always v2).",
        [q(`sum by (version) (rate(http_requests_total{service="product",${NOPROBE}}[${RI}]))`, "{{version}}")],
        { unit: "reqps", stack: true }),
      timeseries("Edge: product requests / s by version (canary)",
        "What the edge sent to each product version: the gateway's own counter locally (upstream product or product-v2), " +
          "Istio's istio_requests_total of the edge gateway on Kubernetes (destination_version).",
        [
          q(`sum by (upstream) (rate(gateway_requests_total{route="products"}[${RI}]))`, "local {{upstream}}"),
          q(`sum by (destination_version) (rate(istio_requests_total{job="edge",destination_app="product"}[${RI}]))`, "{{destination_version}}"),
        ],
        { unit: "reqps", stack: true }),
      timeseries("In-flight requests by service", "", [q(`sum by (service) (http_requests_in_flight{${S}})`, "{{service}}")]),
      row("Errors"),
      timeseries("5xx ratio by service", "Share of each service's requests answered with a 5xx status; the alert fires above 5%.",
        [q(`sum by (service) (rate(http_requests_total{${S},${NOPROBE},code=~"5.."}[${RI}])) / sum by (service) (rate(${req}[${RI}]))`, "{{service}}")],
        { unit: "percentunit", max: 1, thresholds: steps("green", 0.05, "red") }),
      timeseries("Errors / s by route and status", "4xx and 5xx answers by route.",
        [q(`sum by (service, route, code) (rate(http_requests_total{${S},${NOPROBE},code=~"[45].."}[${RI}]))`, "{{service}} {{route}} {{code}}")],
        { unit: "reqps" }),
      row("Latency"),
      timeseries("Latency by service: p50, p95, p99", "",
        [q(pct(0.5, "service, le"), "{{service}} p50"), q(pct(0.95, "service, le"), "{{service}} p95"), q(pct(0.99, "service, le"), "{{service}} p99")],
        { unit: "s" }),
      timeseries("p99 latency by route", "The alert fires when a route's p99 stays above 500 ms for 5 minutes.",
        [q(pct(0.99, "service, route, le"), "{{service}} {{route}}")], { unit: "s", thresholds: steps("green", 0.5, "red") }),
      table("Routes over the last 5 minutes", "From the recording rules (cheap over any time range): rate, error ratio and latency quantiles per route.", [
        q(`sum by (service, route) (service_route_code:http_requests:rate5m{${S}})`),
        q(`service_route:http_request_duration_seconds:p50_5m{${S}}`),
        q(`service_route:http_request_duration_seconds:p95_5m{${S}}`),
        q(`service_route:http_request_duration_seconds:p99_5m{${S}}`),
      ], {
        rename: { "Value #A": "req/s", "Value #B": "p50", "Value #C": "p95", "Value #D": "p99" },
        sortBy: [{ displayName: "p99", desc: true }],
        overrides: ["p50", "p95", "p99"].map((n) => ({ matcher: { id: "byName", options: n }, properties: [{ id: "unit", value: "s" }] })),
        unit: "reqps",
      }),
    ],
    ["golden-signals"],
  );
}

// The edge as the gateway answers it: a 504 made at the edge (its timeout) never reaches the
// services' own counters. Locally the gateway's metrics (gateway_requests_total, route = the
// location, upstream = the service, none when nginx answered itself); on Kubernetes Istio's
// istio_requests_total of the edge gateway (job edge, monitoring/k8s/monitors.yaml), by the
// Service it sent to. Each panel has one query per environment; the other returns nothing.
function edgePanels() {
  const gw = (sel) => `gateway_requests_total{${sel}}`;
  const ist = (sel) => `istio_requests_total{job="edge"${sel ? "," + sel : ""}}`;
  return [
    timeseries("504 rate of the gateway", "Answers 504 (the edge's timeout) per second, by route: the gateway's metrics locally, the Istio gateway's on Kubernetes.",
      [
        q(`sum by (route) (rate(${gw('code="504"')}[${RI}]))`, "{{route}}"),
        q(`sum by (destination_service_name) (rate(${ist('response_code="504"')}[${RI}]))`, "{{destination_service_name}}"),
      ],
      { unit: "reqps", w: 8 }),
    timeseries("Edge 504/503 share by route", "Share of the edge's answers that are 504 (timeout) or 503 (unavailable, overflow), by route and status.",
      [
        q(`sum by (route, code) (rate(${gw('code=~"503|504"')}[${RI}])) / on (route) group_left () sum by (route) (rate(${gw("")}[${RI}]))`, "{{route}} {{code}}"),
        q(`sum by (destination_service_name, response_code) (rate(${ist('response_code=~"503|504"')}[${RI}])) / on (destination_service_name) group_left () sum by (destination_service_name) (rate(${ist("")}[${RI}]))`,
          "{{destination_service_name}} {{response_code}}"),
      ],
      { unit: "percentunit", max: 1, w: 8, thresholds: steps("green", 0.05, "red") }),
    timeseries("Edge p99 latency by route", "How long the edge took to answer, 99th percentile.",
      [
        q(`histogram_quantile(0.99, sum by (route, le) (rate(gateway_request_duration_seconds_bucket[${RI}])))`, "{{route}}"),
        q(`histogram_quantile(0.99, sum by (destination_service_name, le) (rate(istio_request_duration_milliseconds_bucket{job="edge"}[${RI}]))) / 1000`,
          "{{destination_service_name}}"),
      ],
      { unit: "s", w: 8 }),
  ];
}

function resilience() {
  const up = `upstream_requests_total{${J}}`;
  return dashboard(
    "microshop-resilience",
    "Microshop / Resilience",
    "Circuit breakers, calls between services by outcome, retries, injected faults and graceful degradation. `job` is the calling service.",
    [queryVar("job", "Caller", "upstream_requests_total", "job")],
    [
      row("The edge (gateway)"),
      ...edgePanels(),
      row("Circuit breakers"),
      stateTimeline("Circuit breaker state", "Per caller → upstream: closed (green), open (red: calls rejected at once), half-open (orange: one trial call).",
        [q(`max by (job, upstream) (circuit_breaker_state{${J}})`, "{{job}} → {{upstream}}")], BREAKER_MAPPINGS, { w: 16 }),
      timeseries("Breaker transitions", "State changes, by the state entered.",
        [q(`sum by (job, upstream, to) (increase(circuit_breaker_transitions_total{${J}}[${RI}]))`, "{{job}} → {{upstream}}: {{to}}")],
        { w: 8 }),
      row("Calls to other services"),
      timeseries("Upstream attempts / s by outcome", "success, error, timeout, rejected (by an open breaker).",
        [q(`sum by (job, upstream, outcome) (rate(${up}[${RI}]))`, "{{job}} → {{upstream}} {{outcome}}")],
        { unit: "reqps", stack: true }),
      timeseries("Rejected and timed-out attempts / s", "Rejected: the breaker is open. Timeout: the per-try or total timeout cut the call.",
        [
          q(`sum by (job, upstream) (rate(upstream_requests_total{${J},outcome="rejected"}[${RI}]))`, "{{job}} → {{upstream}} rejected"),
          q(`sum by (job, upstream) (rate(upstream_requests_total{${J},outcome="timeout"}[${RI}]))`, "{{job}} → {{upstream}} timeout"),
        ],
        { unit: "reqps" }),
      timeseries("Retries / s", "Retries of idempotent calls (GETs) after a connection error, a timeout or a 502/503/504.",
        [q(`sum by (job, upstream) (rate(upstream_retries_total{${J}}[${RI}]))`, "{{job}} → {{upstream}}")],
        { unit: "reqps" }),
      timeseries("Upstream attempt latency p50 / p99", "",
        [
          q(`histogram_quantile(0.5, sum by (job, upstream, le) (rate(upstream_request_duration_seconds_bucket{${J}}[${RI}])))`, "{{job}} → {{upstream}} p50"),
          q(`histogram_quantile(0.99, sum by (job, upstream, le) (rate(upstream_request_duration_seconds_bucket{${J}}[${RI}])))`, "{{job}} → {{upstream}} p99"),
        ],
        { unit: "s" }),
      timeseries("Upstream success ratio (5m)", "From the recording rule: share of attempts that succeeded.",
        [q(`sum by (job, upstream) (job_upstream_outcome:upstream_requests:rate5m{${J},outcome="success"}) / sum by (job, upstream) (job_upstream_outcome:upstream_requests:rate5m{${J}})`, "{{job}} → {{upstream}}")],
        { unit: "percentunit", max: 1 }),
      row("Faults and degradation"),
      timeseries("Faults injected / s", "Delays and aborts injected through FAULT_* or /admin/faults.",
        [q(`sum by (service, type) (rate(faults_injected_total[${RI}]))`, "{{service}} {{type}}")], { unit: "reqps", w: 8 }),
      timeseries("Cart answers degraded / s", "Carts served without names and prices because the product service was slow, down or its breaker open.",
        [q(`sum(rate(cart_operations_total{result="degraded"}[${RI}]))`, "degraded carts")], { unit: "reqps", w: 8 }),
      timeseries("Orders refused: dependency unavailable / s", "POST /orders answered 503 because a dependency was down or slow.",
        [q(`sum(rate(orders_total{result="unavailable"}[${RI}]))`, "unavailable")], { unit: "reqps", w: 8 }),
      timeseries("Database and Redis pool trouble / s", "Pool checkouts that timed out or found the store unavailable, failed statements and commands.",
        [
          q(`sum by (pool, result) (rate(db_pool_acquire_total{result!="ok"}[${RI}]))`, "pg {{pool}} acquire {{result}}"),
          q(`sum by (pool) (rate(db_queries_total{result="error"}[${RI}]))`, "pg {{pool}} query errors"),
          q(`sum by (pool) (rate(redis_commands_total{result="error"}[${RI}]))`, "redis {{pool}} errors"),
          q(`sum by (cache) (rate(cache_requests_total{result="error"}[${RI}]))`, "cache {{cache}} errors"),
        ],
        { unit: "ops" }),
      timeseries("Events waiting", "Order events not yet on the stream (notification or Redis down), and stream entries not yet acknowledged.",
        [q(`sum(order_outbox_pending)`, "order outbox"), q(`sum(notification_stream_pending)`, "notification stream pending")]),
    ],
    ["resilience"],
  );
}

function business() {
  return dashboard(
    "microshop-business",
    "Microshop / Business",
    "What the shop does: orders, stock reservations, notifications, carts and users.",
    [],
    [
      row("Orders"),
      stat("Orders confirmed (time range)", "", `sum(increase(orders_total{result="confirmed"}[$__range]))`, { decimals: 0 }),
      stat("Orders / min", "All POST /orders outcomes.", `sum(rate(orders_total[${RI}])) * 60`, { unit: "short", decimals: 1 }),
      stat("Reservations held", "Stock reservations currently held, as of inventory's last reaper pass.", `sum(inventory_reservations_held)`, { graph: false }),
      stat("Outbox pending", "Order events waiting to be published.", `sum(order_outbox_pending)`,
        { graph: false, thresholds: steps("green", 10, "orange", 100, "red") }),
      stat("Notification backlog", "Stream entries read by notification and not yet acknowledged.", `sum(notification_stream_pending)`,
        { graph: false, thresholds: steps("green", 10, "orange", 100, "red") }),
      stat("Product cache hit ratio", "", `sum(rate(cache_requests_total{result="hit"}[${RI}])) / sum(rate(cache_requests_total[${RI}]))`,
        { unit: "percentunit", thresholds: steps("orange", 0.5, "green") }),
      timeseries("Orders / min by result", "confirmed, replayed (idempotent retry), invalid, not_found, out_of_stock, unavailable.",
        [q(`sum by (result) (rate(orders_total[${RI}])) * 60`, "{{result}}")], { unit: "short", stack: true }),
      timeseries("Order events / min", "Published to the stream, and carts the order could not clear (harmless).",
        [
          q(`sum(rate(order_events_published_total[${RI}])) * 60`, "events published"),
          q(`sum(rate(order_cart_clear_failures_total[${RI}])) * 60`, "cart clear failures"),
        ]),
      row("Inventory and notifications"),
      timeseries("Reservations / min by result", "held, committed, released, expired (reaper), insufficient stock, ...",
        [q(`sum by (result) (rate(inventory_reservations_total[${RI}])) * 60`, "{{result}}")], { stack: true }),
      timeseries("Notifications / min by result", "sent, duplicate (an event delivered twice, stored once), invalid, error.",
        [q(`sum by (result) (rate(notifications_total[${RI}])) * 60`, "{{result}}")], { stack: true }),
      row("Carts and users"),
      timeseries("Cart operations / min", "By operation (get, add, remove, clear) and result.",
        [q(`sum by (op, result) (rate(cart_operations_total[${RI}])) * 60`, "{{op}} {{result}}")]),
      timeseries("User operations / min", "By operation (create, get, find) and result.",
        [q(`sum by (op, result) (rate(user_operations_total[${RI}])) * 60`, "{{op}} {{result}}")]),
    ],
    ["business"],
  );
}

function processes() {
  return dashboard(
    "microshop-process-health",
    "Microshop / Process health",
    "Liveness, restarts and resources of every process (pod or container), and its connection pools.",
    [queryVar("job", "Service", `up{${SHOP}}`, "job")],
    [
      row("Liveness and restarts"),
      stateTimeline("Target up", "Whether Prometheus can scrape each process.", [q(`up{${SJ}}`, "{{job}} {{instance}}")], UP_MAPPINGS, { w: 12 }),
      // A killed pod's replacement is a new target (a new series): changes() of its start time
      // never sees it. Locally (no pod label) a restart is the same target starting again; on
      // Kubernetes kube-state-metrics counts container restarts, and the Self-healing row shows
      // replaced pods.
      timeseries("Restarts", "Restarts within each interval. Natively and in compose: the process of a target started again (crash, kill, " +
        "supervisor). On Kubernetes: container restarts from kube-state-metrics (liveness probe, OOM kill); a deleted pod is replaced by a " +
        "new one, which the Self-healing row shows.",
        [
          q(`changes(process_start_time_seconds{${SJ},pod=""}[${RI}])`, "{{job}} {{instance}}"),
          q(`sum by (pod, container) (increase(kube_pod_container_status_restarts_total{${NS}}[${RI}]))`, "{{pod}} {{container}}"),
        ], { w: 12 }),
      table("Processes", "Uptime, and restarts of the same target over the selected time range (a replaced pod is a new row).", [
        q(`time() - process_start_time_seconds{${SJ}}`),
        q(`changes(process_start_time_seconds{${SJ}}[$__range])`),
      ], {
        rename: { "Value #A": "uptime", "Value #B": "restarts" },
        overrides: [{ matcher: { id: "byName", options: "uptime" }, properties: [{ id: "unit", value: "s" }] }],
        h: 7,
      }),
      row(`Self-healing (${K8S_ONLY})`),
      timeseries(`Available replicas (${K8S_ONLY})`, "Available pods of each Deployment (kube-state-metrics) against the replicas wanted: a killed pod " +
        "shows as a dip until its replacement is ready.",
        [
          q(`kube_deployment_status_replicas_available{${NS}}`, "{{deployment}} available"),
          q(`kube_deployment_spec_replicas{${NS}}`, "{{deployment}} wanted"),
        ], { w: 8 }),
      timeseries(`Container restarts (${K8S_ONLY})`, "Restarts counted by kube-state-metrics, per pod and container, over the last 10 minutes.",
        [q(`sum by (pod, container) (increase(kube_pod_container_status_restarts_total{${NS}}[10m]))`, "{{pod}} {{container}}")], { w: 8 }),
      timeseries(`Time from kill to ready (${K8S_ONLY})`, "For each pod: seconds from its creation to its Ready condition (kube-state-metrics). " +
        "A killed pod's replacement is created at once by its ReplicaSet, so for a replacement this is the time from the kill to a ready pod.",
        [q(`kube_pod_status_ready_time{${NS}} - on (namespace, pod, uid) kube_pod_created{${NS}}`, "{{pod}}")], { unit: "s", w: 8 }),
      row("Resources"),
      timeseries("Resident memory", "", [q(`process_resident_memory_bytes{${SJ}}`, "{{job}} {{instance}}")], { unit: "bytes", w: 8 }),
      timeseries("CPU", "CPU seconds per second (1 = one core).", [q(`rate(process_cpu_seconds_total{${SJ}}[${RI}])`, "{{job}} {{instance}}")],
        { unit: "percentunit", w: 8 }),
      timeseries("Open file descriptors", "Sockets, pool connections and files.", [q(`process_open_fds{${SJ}}`, "{{job}} {{instance}}")], { w: 8 }),
      row("Connection pools"),
      timeseries("PostgreSQL pool connections", "By pool and state (open, idle, in_use).",
        [q(`sum by (job, pool, state) (db_pool_connections{${J}})`, "{{job}} {{pool}} {{state}}")]),
      timeseries("Redis pool connections", "By pool and state (open, idle, in_use).",
        [q(`sum by (job, pool, state) (redis_pool_connections{${J}})`, "{{job}} {{pool}} {{state}}")]),
      timeseries("PostgreSQL statements / s", "", [q(`sum by (job, pool, result) (rate(db_queries_total{${J}}[${RI}]))`, "{{job}} {{pool}} {{result}}")], { unit: "ops" }),
      timeseries("Redis commands / s", "", [q(`sum by (job, pool, result) (rate(redis_commands_total{${J}}[${RI}]))`, "{{job}} {{pool}} {{result}}")], { unit: "ops" }),
    ],
    ["health"],
  );
}

const DASHBOARDS = {
  "overview.json": overview(),
  "resilience.json": resilience(),
  "business.json": business(),
  "process-health.json": processes(),
};

/* ---------------------------------------------------------------- main */

const K8S_OUT = "monitoring/k8s/dashboards.yaml";

// One ConfigMap per dashboard, its data the JSON text of the file exactly.
function configMaps(texts) {
  const docs = Object.entries(texts).map(([file, text]) => stringify({
    apiVersion: "v1",
    kind: "ConfigMap",
    metadata: {
      name: `grafana-dashboard-${file.replace(/\.json$/, "")}`,
      namespace: "ecommerce",
      labels: { "app.kubernetes.io/part-of": "microshop", grafana_dashboard: "1" },
    },
    data: { [file]: text },
  }, { lineWidth: 0 }));
  return `# GENERATED from ${DIR}/*.json by tests/deploy/monitoring-dashboards.mjs --write: do not edit.\n` +
    "# yamllint disable rule:line-length\n" +
    "# The dashboards for the Grafana of kube-prometheus-stack: its sidecar loads every ConfigMap\n" +
    '# labelled grafana_dashboard: "1" (the chart\'s default label, in any namespace).\n---\n' +
    docs.join("---\n");
}

const mode = process.argv[2];
const dir = path.join(root, DIR);
const TEXTS = Object.fromEntries(Object.entries(DASHBOARDS).map(([f, d]) => [f, JSON.stringify(d, null, 2) + "\n"]));
if (mode === "--write") {
  for (const [file, text] of Object.entries(TEXTS)) {
    writeFileSync(path.join(dir, file), text);
    console.log(`wrote ${DIR}/${file}`);
  }
  writeFileSync(path.join(root, K8S_OUT), configMaps(TEXTS));
  console.log(`wrote ${K8S_OUT}`);
} else if (mode === "--check") {
  let bad = 0;
  const have = readdirSync(dir).filter((f) => f.endsWith(".json"));
  for (const f of have) {
    if (!(f in DASHBOARDS)) {
      console.log(`FAIL: ${DIR}/${f} is not generated by monitoring-dashboards.mjs`);
      bad++;
    }
  }
  for (const [file, want] of Object.entries(TEXTS)) {
    let text = "";
    try {
      text = readFileSync(path.join(dir, file), "utf8");
    } catch {
      // reported below as a difference
    }
    if (text !== want) {
      console.log(`FAIL: ${DIR}/${file} differs from what monitoring-dashboards.mjs --write generates`);
      bad++;
    }
  }
  let k8s = "";
  try {
    k8s = readFileSync(path.join(root, K8S_OUT), "utf8");
  } catch {
    // reported below as a difference
  }
  if (k8s !== configMaps(TEXTS)) {
    console.log(`FAIL: ${K8S_OUT} differs from what monitoring-dashboards.mjs --write generates`);
    bad++;
  }
  if (bad) {
    console.log("  run: node tests/deploy/monitoring-dashboards.mjs --write");
    process.exit(1);
  }
  console.log(`ok: ${Object.keys(DASHBOARDS).length} dashboards and ${K8S_OUT} are what monitoring-dashboards.mjs generates`);
} else {
  console.error("usage: node tests/deploy/monitoring-dashboards.mjs --write|--check");
  process.exit(2);
}
