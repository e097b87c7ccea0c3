#!/usr/bin/env node
// Checks the monitoring configuration files against each other and against the suite:
//   node tests/deploy/monitoring-config.mjs
// - monitoring/k8s (rendered with kustomize) validates against the prometheus-operator CRDs;
//   the ServiceMonitor and the merged PodMonitor select every service (job = app), keep the
//   services' labels (honorLabels) and the pods' version label (which ports they scrape under
//   which PeerAuthentication: monitoring-semantics.mjs);
//   the PrometheusRule's spec.groups are exactly the groups of monitoring/rules/alerts.yml;
// - prometheus.yml (compose) scrapes every service by its compose name and port, the canary
//   product-v2 as job product, and the gateway's metrics as job gateway; prometheus.native.yml scrapes 127.0.0.1 at the ports of
//   scripts/lib.sh; both load ../rules/alerts.yml and give every target a version label;
// - Grafana provisioning: a Prometheus data source at http://prometheus:9090 and a file provider.
// Prints what it checked; exits 1 on any error.
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { parse } from "yaml";
import { renderKustomize, validateDocuments } from "./lib/validate.mjs";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const errors = [];
const fail = (m) => errors.push(m);
const read = (p) => parse(readFileSync(path.join(root, p), "utf8"), { version: "1.1" });

// The service table (scripts/services.gen.sh, make generate): name → default port.
const PORTS = {};
const lib = readFileSync(path.join(root, "scripts/services.gen.sh"), "utf8"); // make generate's table
for (const m of lib.match(/MS_SERVICE_TABLE='([^']*)'/)[1].matchAll(/^(\w+)\s+(\d+)\s/gm)) PORTS[m[1]] = Number(m[2]);
const SERVICES = Object.keys(PORTS);
if (SERVICES.length !== 7) fail(`scripts/lib.sh: expected 7 services (six and the frontend) in MS_SERVICE_TABLE, found ${SERVICES.join(", ")}`);

/* ---------------------------------------------------------------- Kubernetes */

const docs = renderKustomize(path.join(root, "monitoring/k8s"));
for (const e of await validateDocuments(docs)) fail(`monitoring/k8s: ${e}`);
// Which port each monitor scrapes under which PeerAuthentication is monitoring-semantics.mjs'
// rule; here: every app selected by the ServiceMonitor and the merged PodMonitor, as job = app,
// with its version label, its own labels kept, and the per-version product Services dropped.
const monitors = docs.map((d) => d.doc).filter((d) => d.kind === "ServiceMonitor" || d.kind === "PodMonitor");
const appMonitors = monitors.filter((m) => m.metadata?.name !== "microshop-edge");
for (const m of appMonitors) {
  const at = `monitoring/k8s: ${m.kind} ${m.metadata?.name}`;
  const sel = m.spec?.selector?.matchExpressions?.find((e) => e.key === "app" && e.operator === "In");
  if (!sel || !isDeepStrictEqual([...sel.values].sort(), [...SERVICES].sort())) fail(`${at}: must select app In [${SERVICES.join(", ")}]`);
  if (m.metadata?.namespace !== "ecommerce") fail(`${at}: namespace is not ecommerce`);
  if (!isDeepStrictEqual(m.spec?.namespaceSelector?.matchNames, ["ecommerce"])) fail(`${at}: namespaceSelector is not [ecommerce]`);
  if (m.spec?.jobLabel !== "app") fail(`${at}: jobLabel must be app (job = the service, product for the canary too)`);
  if (!(m.spec?.podTargetLabels || []).includes("version")) fail(`${at}: podTargetLabels lacks version`);
  const eps = m.spec?.endpoints || m.spec?.podMetricsEndpoints || [];
  if (eps.length !== 1) fail(`${at}: expected one endpoint`);
  for (const ep of eps) if (ep.honorLabels !== true) fail(`${at}: honorLabels must be true (the services' own "service" label)`);
}
const sm = appMonitors.find((m) => m.kind === "ServiceMonitor");
const drops = (sm?.spec?.endpoints?.[0]?.relabelings || []).filter((r) => r.action === "drop" && (r.sourceLabels || []).includes("__meta_kubernetes_service_name"));
const dropRe = drops[0] && new RegExp(`^(?:${drops[0].regex})$`);
if (!dropRe || !dropRe.test("product-v1") || !dropRe.test("product-v2") || dropRe.test("product")) {
  fail("monitoring/k8s: the ServiceMonitor must drop the per-version Services product-v1 and product-v2 (pods would be scraped twice)");
}
if (appMonitors.length !== 2) fail(`monitoring/k8s: expected a ServiceMonitor and a PodMonitor for the apps, found ${appMonitors.length}`);
const rulesDocs = docs.map((d) => d.doc).filter((d) => d.kind === "PrometheusRule");
const groups = read("monitoring/rules/alerts.yml").groups;
if (rulesDocs.length !== 1) fail(`monitoring/k8s: expected one PrometheusRule, found ${rulesDocs.length}`);
else if (!isDeepStrictEqual(rulesDocs[0].spec?.groups, groups)) {
  fail("monitoring/k8s: the PrometheusRule's spec.groups differ from monitoring/rules/alerts.yml (run node tests/deploy/monitoring-rules.mjs --write)");
}
console.log(`k8s: ${docs.length} documents rendered and validated (${monitors.length} monitors, PrometheusRule with ${groups.length} groups)`);

/* ---------------------------------------------------------------- Prometheus */

function targets(file) {
  const cfg = read(file);
  if (!isDeepStrictEqual(cfg.rule_files, ["../rules/alerts.yml"])) fail(`${file}: rule_files must be [../rules/alerts.yml]`);
  const out = new Map(); // address → {job, version}
  for (const sc of cfg.scrape_configs || []) {
    if ((sc.metrics_path ?? "/metrics") !== "/metrics") fail(`${file}: job ${sc.job_name}: metrics_path is not /metrics`);
    for (const st of sc.static_configs || []) {
      for (const t of st.targets || []) {
        if (sc.job_name !== "gateway" && !/^v\d+$/.test(st.labels?.version || "")) fail(`${file}: target ${t} has no version label`);
        out.set(t, { job: sc.job_name, version: st.labels?.version });
      }
    }
  }
  return out;
}
const compose = targets("monitoring/prometheus/prometheus.yml");
const expectCompose = new Map(SERVICES.map((s) => [`${s}:${PORTS[s]}`, { job: s, version: "v1" }]));
expectCompose.set(`product-v2:${PORTS.product}`, { job: "product", version: "v2" });
// the gateway's metrics, as gateway/ serves them (job gateway, port 9145)
expectCompose.set("gateway:9145", { job: "gateway", version: undefined });
if (!isDeepStrictEqual(compose, expectCompose)) {
  fail(`monitoring/prometheus/prometheus.yml: targets ${JSON.stringify([...compose])} are not ${JSON.stringify([...expectCompose])}`);
}
const native = targets("monitoring/prometheus/prometheus.native.yml");
const expectNative = new Map(SERVICES.map((s) => [`127.0.0.1:${PORTS[s]}`, { job: s, version: "v1" }]));
const canaryPort = Number(lib.match(/^MS_PRODUCT_V2_DEFAULT_PORT=(\d+)$/m)[1]);
expectNative.set(`127.0.0.1:${canaryPort}`, { job: "product", version: "v2" });
expectNative.set("127.0.0.1:9145", { job: "gateway", version: undefined });
if (!isDeepStrictEqual(native, expectNative)) {
  fail(`monitoring/prometheus/prometheus.native.yml: targets ${JSON.stringify([...native])} are not ${JSON.stringify([...expectNative])}`);
}
console.log(`prometheus: compose scrapes ${compose.size} targets, native ${native.size}, both load ../rules/alerts.yml`);

/* ---------------------------------------------------------------- Grafana provisioning */

const ds = read("monitoring/grafana/provisioning/datasources/prometheus.yml");
const prom = (ds.datasources || []).filter((d) => d.type === "prometheus");
if (ds.apiVersion !== 1 || prom.length !== 1 || prom[0].url !== "http://prometheus:9090" || prom[0].access !== "proxy") {
  fail("monitoring/grafana/provisioning/datasources/prometheus.yml: expected apiVersion 1 and one prometheus data source at http://prometheus:9090 (proxy)");
}
const prov = read("monitoring/grafana/provisioning/dashboards/microshop.yml");
const fileProv = (prov.providers || []).filter((p) => p.type === "file" && typeof p.options?.path === "string");
if (prov.apiVersion !== 1 || fileProv.length !== 1) {
  fail("monitoring/grafana/provisioning/dashboards/microshop.yml: expected apiVersion 1 and one file provider with options.path");
}
console.log(`grafana: data source ${prom[0]?.url}, dashboards from ${fileProv[0]?.options?.path}`);

for (const e of errors) console.log(`FAIL: ${e}`);
console.log(errors.length ? `${errors.length} error(s)` : "ok: monitoring configuration is consistent");
process.exit(errors.length ? 1 : 0);
