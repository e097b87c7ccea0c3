// Which metrics exist in each environment the dashboards and rules are shown in, for the
// monitoring checks (monitoring-semantics.mjs offline, monitoring-promql.mjs beside the live
// scrape). Two environments:
//   local       `make up` (native Prometheus) and compose (Prometheus and Grafana): the services,
//               the gateway's own metrics (job gateway), `up`;
//   kubernetes  kube-prometheus-stack: the services (merged by the sidecar agent or scraped
//               directly, monitoring/k8s/monitors.yaml), Istio's standard metrics (the edge gateway,
//               the sidecars), kube-state-metrics, `up`.
// The services' metric names are read from the C code (the ms_*_family and pool-series calls:
// a literal name followed by its help text); the others are upstream's or the gateway's
// contract, each with its source. Labels are what each series carries besides the target labels.
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { routeNames } from "../../../tools/generate/edge.mjs";
import { loadSuite } from "../../../tools/generate/services.mjs";

// The gateway's metrics (gateway/, the contract with the gateway's exporter: 127.0.0.1:9145
// natively, gateway:9145 in compose, job gateway), from the services of the tree at root
// (services/*/service.json, as make generate writes the exporter's routes). route: each
// service's edge route (products, cart, ..., frontend) and other; upstream: the service name,
// product-v2 for the canary, none when nginx answered itself.
export function gatewayValues(root) {
  const { services } = loadSuite(root);
  return {
    route: routeNames(services),
    upstream: [...services.flatMap((s) => (s.canary ? [s.name, `${s.name}-${s.canary.version}`] : [s.name])), "none"],
  };
}
export const GATEWAY = {
  gateway_requests_total: ["route", "code", "upstream"],
  gateway_request_duration_seconds_bucket: ["route", "le"],
  gateway_request_duration_seconds_sum: ["route"],
  gateway_request_duration_seconds_count: ["route"],
};

// Istio's standard metrics and their labels (istio.io docs/reference/config/metrics: "Metrics"
// and "Labels"), as Envoy of a sidecar, a gateway or a waypoint reports them.
const ISTIO_LABELS = [
  "reporter", "source_workload", "source_workload_namespace", "source_principal", "source_app",
  "source_version", "source_canonical_service", "source_canonical_revision", "source_cluster",
  "destination_workload", "destination_workload_namespace", "destination_principal",
  "destination_app", "destination_version", "destination_service", "destination_service_name",
  "destination_service_namespace", "destination_canonical_service",
  "destination_canonical_revision", "destination_cluster", "request_protocol", "response_code",
  "grpc_response_status", "response_flags", "connection_security_policy",
];
export const ISTIO = {};
ISTIO.istio_requests_total = ISTIO_LABELS;
for (const h of ["istio_request_duration_milliseconds", "istio_request_bytes", "istio_response_bytes"]) {
  ISTIO[`${h}_bucket`] = [...ISTIO_LABELS, "le"];
  ISTIO[`${h}_sum`] = ISTIO_LABELS;
  ISTIO[`${h}_count`] = ISTIO_LABELS;
}
for (const t of ["sent_bytes", "received_bytes", "connections_opened", "connections_closed"]) {
  ISTIO[`istio_tcp_${t}_total`] = ISTIO_LABELS;
}

// kube-state-metrics (docs/metrics/workload/{deployment,pod}-metrics.md @ c92fe0c, 2026-08-20:
// all STABLE but kube_pod_status_ready_time, EXPERIMENTAL since v2.8.0 and emitted by default),
// as kube-prometheus-stack scrapes it (honorLabels: namespace is the object's).
export const KUBE_STATE_METRICS = {
  kube_deployment_status_replicas_available: ["namespace", "deployment"],
  kube_deployment_spec_replicas: ["namespace", "deployment"],
  kube_pod_container_status_restarts_total: ["namespace", "pod", "uid", "container"],
  kube_pod_created: ["namespace", "pod", "uid"],
  kube_pod_status_ready: ["namespace", "pod", "uid", "condition"],
  kube_pod_status_ready_time: ["namespace", "pod", "uid"],
};

// Labels every scrape target gets: prometheus*.yml locally; on Kubernetes also what the
// operator adds (namespace, pod, service, container, endpoint).
export const TARGET_LABELS = {
  local: ["job", "instance", "version", "shop"],
  kubernetes: ["job", "instance", "version", "shop", "namespace", "pod", "service", "container", "endpoint"],
};

function cFiles(dir) {
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...cFiles(p));
    else if (e.name.endsWith(".c")) out.push(p);
  }
  return out;
}

// The services' metric series names, from the C sources under common/ and services/: every
// family (the name literal of an ms_*_family call, or a name literal followed by a help text
// starting with a capital, as the pool and process metrics are declared), and a histogram family's
// _bucket, _sum and _count series instead of its bare name.
export function appMetrics(root) {
  const names = new Set();
  const histograms = new Set();
  for (const f of [...cFiles(path.join(root, "common")), ...cFiles(path.join(root, "services"))]) {
    const text = readFileSync(f, "utf8");
    // (an error code and its message after a status number look alike: left out)
    for (const m of text.matchAll(/(?<!\d,\s*)"([a-z_][a-z0-9_]*)",\s*"[A-Z]/g)) names.add(m[1]);
    for (const m of text.matchAll(/ms_(counter|gauge|histogram)_family\(\s*"([a-z_][a-z0-9_]*)"/g)) {
      names.add(m[2]);
      if (m[1] === "histogram") histograms.add(m[2]);
    }
  }
  const out = new Set();
  for (const n of names) {
    if (histograms.has(n)) for (const s of ["_bucket", "_sum", "_count"]) out.add(n + s);
    else out.add(n);
  }
  return out;
}

// Environment → Set of metric names available there (recording rules are added by the caller).
export function environments(root) {
  const app = appMetrics(root);
  return {
    local: new Set([...app, "up", ...Object.keys(GATEWAY)]),
    kubernetes: new Set([...app, "up", ...Object.keys(ISTIO), ...Object.keys(KUBE_STATE_METRICS)]),
  };
}

// The labels of a metric known from upstream or the gateway's contract; undefined for others.
export function catalogueLabels(name) {
  return GATEWAY[name] || ISTIO[name] || KUBE_STATE_METRICS[name];
}
