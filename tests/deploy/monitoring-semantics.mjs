#!/usr/bin/env node
// Semantic rules of monitoring/ (issue 10): what schema validation cannot see. Offline.
//   node tests/deploy/monitoring-semantics.mjs [--root DIR]   check the tree at DIR (default: here)
//   node tests/deploy/monitoring-semantics.mjs [--root DIR] --planted
//                                                             plant one violation per rule in a
//                                                             copy of the tree; each must fail
// The rules:
//  1. scrape: every app is scraped, in sidecar mode and in ambient mode, on a port that works
//     under the PeerAuthentication in force: in sidecar mode a pod with a sidecar is scraped
//     only on a port left out of inbound capture (15020 of metrics merging, 15090) or a port
//     that is not STRICT; in ambient mode a STRICT port needs Prometheus enrolled in the mesh
//     (kube-prometheus-stack-values.yaml) and a ztunnel policy admitting its identity on that
//     port, or a port-level PERMISSIVE PeerAuthentication (UPSTREAM.md §3: either reading). The
//     edge's Envoy is scraped on its stats port; no service metric is named like Istio's (they
//     are merged into one output). Every monitor and the PrometheusRule carry the
//     release label kube-prometheus-stack selects (scripts/lab/kind-up.sh's release).
//  2. dashboards: every monitoring/grafana/dashboards/*.json is in monitoring/k8s as a ConfigMap
//     with the label Grafana's sidecar loads, with exactly that JSON.
//  3. metrics: every PromQL metric of the dashboards and rules is exported in some environment
//     (lib/metric-catalogue.mjs: the services' names from the C code, the gateway's, Istio's,
//     kube-state-metrics'); every panel has data locally and on Kubernetes, or says
//     "Kubernetes only" in its title or description and has data there.
//     The gateway's route and upstream values in selectors are the contract's.
//  4. shop: `up` and process_* (which every component of a cluster exports too) are selected with
//     shop="microshop" in alerts and dashboards; every scrape target of the shop gets that label.
// Prints what it checked; exits 1 on any error.
import { cpSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parse } from "yaml";
import { appMetrics, environments, GATEWAY, gatewayValues } from "./lib/metric-catalogue.mjs";
import { dashboardExprs, dashboardPanels, fillGrafanaVars, scan } from "./lib/promql.mjs";
import { renderKustomize } from "./lib/validate.mjs";

const here = path.dirname(fileURLToPath(import.meta.url));
const SHOP = { label: "shop", value: "microshop" };
// Ports of a sidecar pod that Istio leaves out of inbound capture (injection template:
// 15020 agent and merged metrics, 15021 health, 15090 Envoy's Prometheus stats).
const UNCAPTURED = new Set([15020, 15021, 15090]);
const MERGED_PORT = 15020;
// Series every component of a cluster exports as well.
const GENERIC = (name) => name === "up" || /^(process|go)_/.test(name);
const K8S_ONLY = /kubernetes only/i;

/* ---------------------------------------------------------------- reading the tree */

function readYaml(root, file) {
  return parse(readFileSync(path.join(root, file), "utf8"), { version: "1.1" });
}

function appServices(root) {
  const lib = readFileSync(path.join(root, "scripts/services.gen.sh"), "utf8"); // make generate's table
  return [...lib.match(/MS_SERVICE_TABLE='([^']*)'/)[1].matchAll(/^(\w+)\s+\d+\s/gm)].map((m) => m[1]);
}

// kube-prometheus-stack as scripts/lab/kind-up.sh installs it: release, namespace, values file.
function kpsInstall(root) {
  const text = readFileSync(path.join(root, "scripts/lab/kind-up.sh"), "utf8");
  const cmd = text.match(/helm upgrade --install (\S+) prometheus-community\/kube-prometheus-stack((?:[^\n]*\\\n)*[^\n]*)/);
  if (!cmd) return null;
  const ns = cmd[2].match(/--namespace (\S+)/);
  const values = cmd[2].match(/-f "\$MS_ROOT\/([^"]+)"/);
  return { release: cmd[1], namespace: ns ? ns[1] : "default", values: values ? values[1] : null };
}

const selects = (sel, labels) =>
  Object.entries(sel?.matchLabels || {}).every(([k, v]) => labels[k] === v) &&
  (sel?.matchExpressions || []).every((e) =>
    e.operator === "In" ? e.values.includes(labels[e.key]) :
      e.operator === "NotIn" ? !e.values.includes(labels[e.key]) :
        e.operator === "Exists" ? e.key in labels : !(e.key in labels));

// Relabelings as Prometheus applies them, on a map of labels; returns null when dropped.
function relabel(rules, labels) {
  const out = { ...labels };
  for (const r of rules || []) {
    const value = (r.sourceLabels || []).map((l) => out[l] ?? "").join(r.separator ?? ";");
    const re = new RegExp(`^(?:${r.regex ?? "(.*)"})$`);
    const action = r.action ?? "replace";
    if (action === "keep" && !re.test(value)) return null;
    if (action === "drop" && re.test(value)) return null;
    if (action === "replace") {
      const m = value.match(re);
      if (m) out[r.targetLabel] = (r.replacement ?? "$1").replace(/\$\{?(\d+)\}?/g, (_, i) => m[Number(i)] ?? "");
    }
  }
  return out;
}

/* ---------------------------------------------------------------- rule 1: scraping */

// The mTLS mode of a port of a pod under the PeerAuthentications (namespace-wide, then a
// workload selector's, then its portLevelMtls); PERMISSIVE when none says otherwise.
function mtlsMode(peerAuths, podLabels, port) {
  let mode = "PERMISSIVE";
  for (const pa of peerAuths.filter((p) => !p.spec?.selector)) mode = pa.spec?.mtls?.mode || mode;
  for (const pa of peerAuths.filter((p) => p.spec?.selector && selects(p.spec.selector, podLabels))) {
    mode = pa.spec?.mtls?.mode || mode;
    const pl = pa.spec?.portLevelMtls?.[port] || pa.spec?.portLevelMtls?.[String(port)];
    if (pl?.mode) mode = pl.mode;
  }
  return mode;
}

// Whether a ztunnel-enforced ALLOW policy (no targetRefs) admits principal on port of a pod.
function ztunnelAdmits(policies, principal, podLabels, port) {
  return policies.some((p) => !p.spec?.targetRefs && (p.spec?.action ?? "ALLOW") === "ALLOW" &&
    (!p.spec?.selector || selects(p.spec.selector, podLabels)) &&
    (p.spec?.rules || []).some((r) =>
      (r.from || []).some((f) => (f.source?.principals || []).includes(principal)) &&
      (!r.to || r.to.some((t) => !t.operation?.ports || t.operation.ports.includes(String(port))))));
}

// The targets a monitor makes of one pod (and the Service in front of it, for a
// ServiceMonitor), as [port, labels] after relabeling, in a mesh mode.
function targetsOf(mon, pod, services, mode) {
  const sidecar = mode === "sidecar";
  const containers = [...pod.containers];
  if (sidecar) containers.push({ name: "istio-proxy", ports: [{ name: "http-envoy-prom", containerPort: 15090 }] });
  // the injector rewrites the prometheus.io annotations when merging applies (UPSTREAM.md §3)
  const ann = { ...pod.annotations };
  if (sidecar && ann["prometheus.io/scrape"] !== "false" && ann["prometheus.istio.io/merge-metrics"] !== "false") {
    ann["prometheus.io/port"] = String(MERGED_PORT);
    ann["prometheus.io/path"] = "/stats/prometheus";
  }
  const meta = { __meta_kubernetes_namespace: pod.namespace };
  for (const [k, v] of Object.entries(pod.labels)) meta[`__meta_kubernetes_pod_label_${k.replace(/[^a-zA-Z0-9_]/g, "_")}`] = v;
  for (const [k, v] of Object.entries(ann)) {
    const n = k.replace(/[^a-zA-Z0-9_]/g, "_");
    meta[`__meta_kubernetes_pod_annotation_${n}`] = v;
    meta[`__meta_kubernetes_pod_annotationpresent_${n}`] = "true";
  }
  if (sidecar) meta.__meta_kubernetes_pod_annotationpresent_sidecar_istio_io_status = "true";
  const out = [];
  const emit = (ep, container, port, extra) => {
    const l = relabel(ep.relabelings, {
      ...meta, ...extra, __address__: `10.0.0.1:${port.containerPort}`, __metrics_path__: ep.path || "/metrics",
      __meta_kubernetes_pod_container_name: container.name, __meta_kubernetes_pod_container_port_name: port.name || "",
    });
    if (l) out.push({ port: Number(l.__address__.split(":")[1]), path: l.__metrics_path__, labels: l });
  };
  if (mon.kind === "PodMonitor") {
    if (!selects(mon.spec.selector, pod.labels)) return out;
    for (const ep of mon.spec.podMetricsEndpoints || []) {
      for (const c of containers) for (const p of c.ports || []) if (p.name === ep.port || p.containerPort === ep.portNumber) emit(ep, c, p, {});
    }
    return out;
  }
  for (const svc of services.filter((s) => selects(mon.spec.selector, s.labels) && selects({ matchLabels: s.selector }, pod.labels))) {
    for (const ep of mon.spec.endpoints || []) {
      const sp = (svc.ports || []).find((p) => p.name === ep.port);
      if (!sp) continue;
      for (const c of containers) {
        for (const p of c.ports || []) {
          if (p.name === sp.targetPort || p.containerPort === sp.targetPort) emit(ep, c, p, { __meta_kubernetes_service_name: svc.name });
        }
      }
    }
  }
  return out;
}

function checkScraping(root, docs, fail, log) {
  const kps = kpsInstall(root);
  if (!kps) return fail("scripts/lab/kind-up.sh: no `helm upgrade --install RELEASE prometheus-community/kube-prometheus-stack`");
  const values = kps.values ? readYaml(root, kps.values) : {};
  if (!kps.values) fail("scripts/lab/kind-up.sh: kube-prometheus-stack is installed without -f \"$MS_ROOT/monitoring/k8s/kube-prometheus-stack-values.yaml\"");
  const promEnrolled = values?.prometheus?.prometheusSpec?.podMetadata?.labels?.["istio.io/dataplane-mode"] === "ambient";
  const principal = `cluster.local/ns/${kps.namespace}/sa/${kps.release}-prometheus`;

  const base = renderKustomize(path.join(root, "k8s/base")).map((d) => d.doc);
  const services = base.filter((d) => d.kind === "Service").map((s) => ({
    name: s.metadata.name, labels: s.metadata.labels || {}, selector: s.spec.selector || {}, ports: s.spec.ports,
  }));
  const pods = base.filter((d) => d.kind === "Deployment").map((d) => ({
    name: d.metadata.name, namespace: d.metadata.namespace, labels: d.spec.template.metadata.labels || {},
    annotations: d.spec.template.metadata.annotations || {}, containers: d.spec.template.spec.containers,
  }));
  const istioDocs = (dir) => readdirSync(path.join(root, dir)).filter((f) => /\.ya?ml$/.test(f))
    .flatMap((f) => parseAll(path.join(root, dir, f)));
  const mesh = istioDocs("istio/mesh");
  const peerAuths = {
    sidecar: [...mesh, ...istioDocs("istio/sidecar")].filter((d) => d.kind === "PeerAuthentication"),
    ambient: [...mesh, ...istioDocs("istio/ambient")].filter((d) => d.kind === "PeerAuthentication"),
  };
  const ambientPolicies = [...mesh, ...istioDocs("istio/ambient")].filter((d) => d.kind === "AuthorizationPolicy");
  const monitors = docs.filter((d) => d.kind === "ServiceMonitor" || d.kind === "PodMonitor");
  for (const d of [...monitors, ...docs.filter((x) => x.kind === "PrometheusRule")]) {
    if (d.metadata?.labels?.release !== kps.release) {
      fail(`monitoring/k8s: ${d.kind} ${d.metadata?.name} lacks the label release: ${kps.release} (kube-prometheus-stack selects only its release's objects)`);
    }
  }

  // Merged output must not mix the apps' names with Istio's (UPSTREAM.md §3).
  for (const n of [...appMetrics(root)].filter((x) => /^(istio|envoy)_/.test(x))) {
    fail(`${n}: a service metric named like Istio's or Envoy's collides in the sidecar's merged metrics`);
  }
  let checked = 0;
  for (const app of appServices(root)) {
    for (const pod of pods.filter((p) => p.labels.app === app)) {
      for (const mode of ["sidecar", "ambient"]) {
        let working = 0;
        for (const mon of monitors) {
          for (const t of targetsOf(mon, pod, services, mode)) {
            checked++;
            const at = `${mon.kind} ${mon.metadata.name} → ${pod.name}:${t.port} (${mode} mode)`;
            if (t.labels[SHOP.label] !== SHOP.value) fail(`${at}: target without ${SHOP.label}="${SHOP.value}"`);
            const pa = mtlsMode(peerAuths[mode], pod.labels, t.port);
            if (mode === "sidecar") {
              if (UNCAPTURED.has(t.port) || pa !== "STRICT") working++;
              else fail(`${at}: plaintext scrape of a port the sidecar captures, refused under PeerAuthentication ${pa}`);
            } else if (pa !== "STRICT") {
              working++;
            } else if (!promEnrolled) {
              fail(`${at}: ztunnel refuses plaintext under STRICT and Prometheus is not enrolled in ambient (${kps.values}: prometheus.prometheusSpec.podMetadata.labels istio.io/dataplane-mode: ambient)`);
            } else if (!ztunnelAdmits(ambientPolicies, principal, pod.labels, t.port)) {
              fail(`${at}: no ztunnel AuthorizationPolicy of istio/ambient admits ${principal} on port ${t.port}`);
            } else {
              working++;
            }
          }
        }
        if (!working) fail(`${app} (${pod.name}): no monitor of monitoring/k8s scrapes it in ${mode} mode`);
      }
    }
  }
  // the edge: Istio's gateway for the Gateway of istio/gateway-api, on Envoy's stats port
  const gateways = istioDocs("istio/gateway-api").filter((d) => d.kind === "Gateway" && d.spec?.gatewayClassName === "istio");
  for (const gw of gateways) {
    const pod = {
      name: `${gw.metadata.name}-istio`, namespace: gw.metadata.namespace, annotations: {},
      labels: { "gateway.networking.k8s.io/gateway-name": gw.metadata.name },
      containers: [{ name: "istio-proxy", ports: [{ name: "http-envoy-prom", containerPort: 15090 }] }],
    };
    const ts = monitors.flatMap((m) => targetsOf(m, pod, [], "ambient"));
    if (!ts.some((t) => UNCAPTURED.has(t.port) && t.path === "/stats/prometheus" && t.labels[SHOP.label] === SHOP.value)) {
      fail(`monitoring/k8s: no monitor scrapes the edge gateway ${gw.metadata.name} on Envoy's /stats/prometheus (istio_requests_total of the edge)`);
    }
  }
  log(`scrape: ${checked} targets of ${monitors.length} monitors checked against the PeerAuthentications in sidecar and ambient mode; ` +
    `release ${kps.release}; Prometheus ${promEnrolled ? "enrolled in ambient" : "not enrolled"}; ${gateways.length} edge gateway(s)`);
}

function parseAll(file) {
  const text = readFileSync(file, "utf8");
  return text.split(/^---\s*$/m).map((t) => parse(t, { version: "1.1" })).filter((d) => d && typeof d === "object");
}

/* ---------------------------------------------------------------- rule 2: dashboards */

function checkProvisioning(root, docs, fail, log) {
  const kps = kpsInstall(root);
  const values = kps?.values ? readYaml(root, kps.values) : {};
  const sc = values?.grafana?.sidecar?.dashboards || {};
  const label = sc.label ?? "grafana_dashboard";
  const value = String(sc.labelValue ?? "1");
  const dir = "monitoring/grafana/dashboards";
  const maps = docs.filter((d) => d.kind === "ConfigMap" && d.metadata?.labels?.[label] === value);
  let n = 0;
  for (const f of readdirSync(path.join(root, dir)).filter((x) => x.endsWith(".json"))) {
    const text = readFileSync(path.join(root, dir, f), "utf8");
    const cm = maps.find((m) => m.data && f in m.data);
    if (!cm) fail(`${dir}/${f}: not provisioned for the cluster: no ConfigMap in monitoring/k8s labelled ${label}: "${value}" holds it`);
    else if (cm.data[f] !== text) fail(`${dir}/${f}: ConfigMap ${cm.metadata.name} holds another version (run node tests/deploy/monitoring-dashboards.mjs --write)`);
    else n++;
  }
  log(`dashboards: ${n} provisioned for Grafana's sidecar (label ${label}: "${value}")`);
}

/* ---------------------------------------------------------------- rules 3 and 4: PromQL */

function checkPromql(root, fail, log) {
  const envs = environments(root);
  const rules = readYaml(root, "monitoring/rules/alerts.yml");
  const recorded = new Set(rules.groups.flatMap((g) => g.rules).filter((r) => r.record).map((r) => r.record));
  for (const e of Object.values(envs)) for (const r of recorded) e.add(r);
  const envsOf = (names) => Object.keys(envs).filter((e) => names.every((n) => envs[e].has(n)));
  const GATEWAY_VALUES = gatewayValues(root);
  const selectorCheck = (where, expr) => {
    for (const sel of scan(expr).names) {
      // the gateway's route and upstream values are the contract's
      for (const m of GATEWAY[sel.name] ? sel.matchers : []) {
        const allowed = GATEWAY_VALUES[m.label];
        const values = m.op === "=" || m.op === "!=" ? [m.value] : m.op === "=~" ? m.value.split("|") : [];
        for (const v of allowed ? values.filter((x) => !allowed.includes(x)) : []) {
          fail(`${where}: ${sel.name}{${m.label}="${v}"}: the gateway has no such ${m.label} (${allowed.join(", ")})`);
        }
      }
      if (sel.name && GENERIC(sel.name) && !sel.matchers.some((m) => m.label === SHOP.label && m.op === "=" && m.value === SHOP.value)) {
        fail(`${where}: ${sel.name} without ${SHOP.label}="${SHOP.value}" takes in every target of a cluster (kube-scheduler, etcd, ...): ${expr}`);
      }
    }
  };
  let n = 0;
  for (const g of rules.groups) {
    for (const r of g.rules) {
      const where = `monitoring/rules/alerts.yml: ${r.record ? "record " + r.record : "alert " + r.alert}`;
      const names = scan(String(r.expr)).names.map((s) => s.name).filter(Boolean);
      const missing = names.filter((x) => !Object.values(envs).some((e) => e.has(x)));
      if (missing.length) fail(`${where}: ${missing.join(", ")} exported in no environment`);
      else if (envsOf(names).length === 0) fail(`${where}: its metrics are never all in one environment`);
      if (r.alert) selectorCheck(where, String(r.expr));
      n++;
    }
  }
  const dir = "monitoring/grafana/dashboards";
  let panels = 0;
  for (const f of readdirSync(path.join(root, dir)).filter((x) => x.endsWith(".json"))) {
    const d = JSON.parse(readFileSync(path.join(root, dir, f), "utf8"));
    const errs = [];
    for (const [where, expr] of dashboardExprs(`${dir}/${f}`, d, errs)) {
      selectorCheck(where, fillGrafanaVars(expr));
      if (!where.includes(": variable ")) continue;
      const names = scan(fillGrafanaVars(expr)).names.map((s) => s.name).filter(Boolean);
      if (envsOf(names).length === 0) fail(`${where}: ${names.join(", ")} exported in no environment`);
    }
    for (const e of errs) fail(e);
    for (const p of dashboardPanels(d).filter((x) => x.type !== "row")) {
      panels++;
      const at = `${dir}/${f}: panel "${p.title}"`;
      const has = new Set();
      for (const t of p.targets || []) {
        const names = scan(fillGrafanaVars(t.expr || "")).names.map((s) => s.name).filter(Boolean);
        const missing = names.filter((x) => !Object.values(envs).some((e) => e.has(x)));
        if (missing.length) fail(`${at} ${t.refId}: ${missing.join(", ")} exported in no environment`);
        else if (envsOf(names).length === 0) fail(`${at} ${t.refId}: its metrics are never all in one environment`);
        for (const e of envsOf(names)) has.add(e);
      }
      const k8sOnly = K8S_ONLY.test(`${p.title} ${p.description || ""}`);
      if (k8sOnly) {
        if (!has.has("kubernetes")) fail(`${at}: says Kubernetes only but has no data on Kubernetes`);
        if (has.has("local")) fail(`${at}: says Kubernetes only but has data locally too`);
      } else {
        for (const e of Object.keys(envs).filter((x) => !has.has(x))) {
          fail(`${at}: no data ${e === "local" ? "natively and in compose" : "on Kubernetes"}; a panel for Kubernetes only must say "Kubernetes only" in its title or description`);
        }
      }
    }
  }
  log(`metrics: ${n} rules and ${panels} panels checked against ${Object.entries(envs).map(([e, s]) => `${e} (${s.size} series names)`).join(", ")}`);
}

function checkLocalTargets(root, fail) {
  for (const file of ["monitoring/prometheus/prometheus.yml", "monitoring/prometheus/prometheus.native.yml"]) {
    for (const sc of readYaml(root, file).scrape_configs || []) {
      for (const st of sc.static_configs || []) {
        if (st.labels?.[SHOP.label] !== SHOP.value) fail(`${file}: job ${sc.job_name}: targets ${st.targets} without ${SHOP.label}: ${SHOP.value}`);
      }
    }
  }
}

/* ---------------------------------------------------------------- main */

// Returns the errors; log gets what was checked.
export function checkTree(root, log = () => {}) {
  const errors = [];
  const fail = (m) => errors.push(m);
  let docs = [];
  try {
    docs = renderKustomize(path.join(root, "monitoring/k8s")).map((d) => d.doc);
  } catch (e) {
    fail(e.message);
  }
  for (const [name, fn] of [["scrape", () => checkScraping(root, docs, fail, log)], ["dashboards", () => checkProvisioning(root, docs, fail, log)],
    ["metrics", () => checkPromql(root, fail, log)], ["targets", () => checkLocalTargets(root, fail)]]) {
    try {
      fn();
    } catch (e) {
      fail(`${name}: ${e.stack}`);
    }
  }
  return errors;
}

// One violation per rule, planted in a copy of the tree: file, what to replace, by what, and the
// message expected.
const PLANTED = [
  ["scrape: ServiceMonitor keeps sidecar pods (plaintext app port under STRICT)", "monitoring/k8s/monitors.yaml",
    /        - sourceLabels: \[__meta_kubernetes_pod_annotationpresent_sidecar_istio_io_status\]\n          regex: "true"\n          action: drop\n/, "",
    /ServiceMonitor microshop → product:3001 \(sidecar mode\): plaintext scrape of a port the sidecar captures, refused under PeerAuthentication STRICT/],
  ["scrape: merged PodMonitor gone: nothing in sidecar mode", "monitoring/k8s/monitors.yaml",
    /regex: istio-proxy/, "regex: envoy", /cart \(cart\): no monitor of monitoring\/k8s scrapes it in sidecar mode/],
  ["scrape: Prometheus not enrolled in ambient", "monitoring/k8s/kube-prometheus-stack-values.yaml",
    /istio.io\/dataplane-mode: ambient/, "istio.io/dataplane-mode: none", /\(ambient mode\): ztunnel refuses plaintext under STRICT and Prometheus is not enrolled/],
  ["scrape: ztunnel policy lacks the app port", "istio/ambient/authorization-policy.yaml",
    /"3002", /, "", /no ztunnel AuthorizationPolicy of istio\/ambient admits cluster.local\/ns\/monitoring\/sa\/kube-prometheus-stack-prometheus on port 3002/],
  ["scrape: port-level PERMISSIVE is the other reading, and passes", "istio/ambient/authorization-policy.yaml",
    /"3002", /, "", null,
    ["istio/mesh/peer-authentication.yaml", "\n---\napiVersion: security.istio.io/v1\nkind: PeerAuthentication\nmetadata:\n  name: cart-metrics\n  namespace: ecommerce\nspec:\n  selector:\n    matchLabels:\n      app: cart\n  mtls:\n    mode: STRICT\n  portLevelMtls:\n    3002:\n      mode: PERMISSIVE\n"]],
  ["scrape: a pod opted out of metrics merging", "k8s/base/cart.yaml", /prometheus.io\/scrape: "true"/, 'prometheus.io/scrape: "false"',
    /cart \(cart\): no monitor of monitoring\/k8s scrapes it in sidecar mode/],
  ["scrape: an app metric named like Istio's", "common/src/access.c", /"http_requests_in_flight"/, '"istio_requests_in_flight"',
    /istio_requests_in_flight: a service metric named like Istio's or Envoy's collides/],
  ["scrape: release label", "monitoring/k8s/monitors.yaml", /    release: kube-prometheus-stack/, "    release: prometheus",
    /ServiceMonitor microshop lacks the label release: kube-prometheus-stack/],
  ["scrape: edge not scraped", "monitoring/k8s/monitors.yaml", /gateway-name: microshop-gateway/, "gateway-name: other-gateway",
    /no monitor scrapes the edge gateway microshop-gateway/],
  ["dashboards: one not provisioned", "monitoring/k8s/kustomization.yaml", /  - dashboards.yaml\n/, "",
    /overview.json: not provisioned for the cluster/],
  ["dashboards: stale copy", "monitoring/grafana/dashboards/business.json", /"Microshop \/ Business"/, '"Microshop / Shop"',
    /business.json: ConfigMap grafana-dashboard-business holds another version/],
  ["metrics: a typo", "monitoring/grafana/dashboards/overview.json", /http_requests_in_flight\{/, "http_request_in_flight{",
    /panel "In flight" A: http_request_in_flight exported in no environment/],
  ["metrics: Istio-only panel not marked", "monitoring/grafana/dashboards/resilience.json",
    /sum by \(route\) \(rate\(gateway_requests_total\{code=\\"504\\"\}/, 'sum by (route) (rate(istio_requests_total{response_code=\\"504\\"}',
    /panel "504 rate of the gateway": no data natively and in compose/],
  ["metrics: Kubernetes-only panel not marked", "monitoring/grafana/dashboards/process-health.json", /"title": "Available replicas \(Kubernetes only\)"/, '"title": "Available replicas"',
    /panel "Available replicas": no data natively and in compose; a panel for Kubernetes only must say "Kubernetes only"/],
  ["metrics: a route the gateway does not have", "monitoring/grafana/dashboards/overview.json", /gateway_requests_total\{route=\\"products\\"\}/,
    'gateway_requests_total{route=\\"product\\"}', /gateway_requests_total\{route="product"\}: the gateway has no such route/],
  ["metrics: rule on a metric nobody exports", "monitoring/rules/alerts.yml", /increase\(order_reservations_lost_total\[15m\]\)/, "increase(order_reservation_lost_total[15m])",
    /alert MicroshopOrderLostItsStock: order_reservation_lost_total exported in no environment/],
  ["shop: up == 0 for the whole cluster", "monitoring/rules/alerts.yml", /up\{shop="microshop"\} == 0/, "up == 0",
    /alert MicroshopTargetDown: up without shop="microshop" takes in every target of a cluster/],
  ["shop: restarts of the whole cluster", "monitoring/rules/alerts.yml", /process_start_time_seconds\{shop="microshop"\}\[10m\]/, "process_start_time_seconds[10m]",
    /alert MicroshopServiceRestarted: process_start_time_seconds without shop="microshop"/],
  ["shop: Targets up of the whole cluster", "monitoring/grafana/dashboards/overview.json", /"sum\(up\{shop=\\"microshop\\"\}\) \/ count\(up\{shop=\\"microshop\\"\}\)"/, '"sum(up) / count(up)"',
    /panel "Targets up" A: up without shop="microshop"/],
  ["shop: $job variable of the whole cluster", "monitoring/grafana/dashboards/process-health.json", /label_values\(up\{shop=\\"microshop\\"\}, job\)/g, "label_values(up, job)",
    /variable job: up without shop="microshop"/],
  ["shop: a local target without the label", "monitoring/prometheus/prometheus.native.yml", /          version: v2\n          shop: microshop\n/, "          version: v2\n",
    /prometheus.native.yml: job product: targets 127.0.0.1:3011 without shop: microshop/],
];

function planted(root) {
  const tmp = mkdtempSync(path.join(os.tmpdir(), "ms-monitoring-semantics-"));
  let bad = 0;
  try {
    for (const [name, file, re, by, want, extra] of PLANTED) {
      const copy = path.join(tmp, String(PLANTED.findIndex((p) => p[0] === name)));
      for (const d of ["monitoring", "k8s", "istio", "scripts", "common", "services", "tools/generate"]) {
        cpSync(path.join(root, d), path.join(copy, d), { recursive: true, filter: (s) => !/\/(build[^/]*|node_modules)$/.test(s) });
      }
      const edit = (f, from, to) => {
        const p = path.join(copy, f);
        const text = readFileSync(p, "utf8");
        if (!from.test(text)) throw new Error(`${name}: ${f} has no ${from}`);
        from.lastIndex = 0;
        writeFileSync(p, text.replace(from, to));
      };
      edit(file, re, by);
      if (extra && extra[1] === null) edit(extra[0], extra[2], extra[3]);
      else if (extra) writeFileSync(path.join(copy, extra[0]), readFileSync(path.join(copy, extra[0]), "utf8") + extra[1]);
      const errs = checkTree(copy);
      if (want === null) {
        if (errs.length === 0) console.log(`ok   planted "${name}": passes, as it should`);
        else {
          bad++;
          console.log(`FAIL planted "${name}": expected no error, got:\n  ${errs.join("\n  ")}`);
        }
      } else if (errs.some((e) => want.test(e))) {
        console.log(`ok   planted "${name}": ${errs.find((e) => want.test(e))}`);
      } else {
        bad++;
        console.log(`FAIL planted "${name}": expected ${want}, got:\n  ${errs.join("\n  ") || "no error"}`);
      }
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  return bad;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const at = argv.indexOf("--root");
  const root = path.resolve(at >= 0 && argv[at + 1] ? argv[at + 1] : path.join(here, "..", ".."));
  if (argv.includes("--planted")) {
    const bad = planted(root);
    console.log(bad ? `${bad} planted violation(s) not caught` : `ok: all ${PLANTED.length} planted violations caught`);
    process.exit(bad ? 1 : 0);
  }
  const errors = checkTree(root, console.log);
  for (const e of errors) console.log(`FAIL: ${e}`);
  console.log(errors.length ? `${errors.length} error(s)` : "ok: monitoring semantics hold");
  process.exit(errors.length ? 1 : 0);
}
