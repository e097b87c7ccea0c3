#!/usr/bin/env node
// Checks every PromQL expression of the rules and the Grafana dashboards against what the running
// services really expose:
//   node tests/deploy/monitoring-promql.mjs METRICS_DIR RULES.yml DASHBOARD.json...
// METRICS_DIR holds one /metrics scrape per service (*.prom). For each expression:
//   - it must parse: the dashboards' expressions (Grafana variables filled in) go through
//     `promtool check rules` as recording rules (the rules file is checked by the caller);
//   - every metric name must be a series some service exposes (histograms by their _bucket,
//     _sum or _count series), `up`, a recording rule of RULES.yml, or one of the gateway's,
//     Istio's or kube-state-metrics' (lib/metric-catalogue.mjs; monitoring-semantics.mjs checks
//     that each panel has data in the environments it is shown in);
//   - every label in a selector must be one that metric carries (or a scrape target label:
//     job, instance, version), every label in by/without/on/ignoring one that some metric
//     carries, and an exact-match value (label="v") one that metric has been seen with.
// Dashboards are also checked for shape: schemaVersion, unique uid and panel ids, gridPos in
// the 24-column grid without overlaps, targets with expr and refId, a Prometheus data source
// variable used by every panel. Prints what it checked; exits 1 on any error.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { parse } from "yaml";
import { catalogueLabels, GATEWAY, ISTIO, KUBE_STATE_METRICS, TARGET_LABELS as ENV_TARGET_LABELS } from "./lib/metric-catalogue.mjs";
import { dashboardExprs, fillGrafanaVars, scan } from "./lib/promql.mjs";

// Target labels of every environment (job, instance, version, shop; namespace, pod, ... on Kubernetes).
const TARGET_LABELS = new Set(Object.values(ENV_TARGET_LABELS).flat());
const errors = [];

/* ---------------------------------------------------------------- what the services expose */

// Reads Prometheus text format: families (name → type), series names, and per series name the
// label names and the values seen for each.
function readExposition(dir) {
  const families = new Map();
  const series = new Map(); // name -> Map(label -> Set(values))
  const files = readdirSync(dir).filter((f) => f.endsWith(".prom"));
  if (files.length === 0) throw new Error(`${dir}: no *.prom scrape`);
  for (const f of files) {
    for (const line of readFileSync(path.join(dir, f), "utf8").split("\n")) {
      let m = line.match(/^# TYPE (\S+) (\S+)/);
      if (m) {
        families.set(m[1], m[2]);
        continue;
      }
      if (line === "" || line.startsWith("#")) continue;
      m = line.match(/^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+\S+/);
      if (!m) throw new Error(`${f}: unparsable line: ${line}`);
      if (!series.has(m[1])) series.set(m[1], new Map());
      const labels = series.get(m[1]);
      for (const lm of (m[3] || "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        if (!labels.has(lm[1])) labels.set(lm[1], new Set());
        labels.get(lm[1]).add(lm[2]);
      }
    }
  }
  return { families, series, files };
}

/* ---------------------------------------------------------------- the checks */

function checkExpr(where, expr, ctx) {
  let scanned;
  try {
    scanned = scan(expr);
  } catch (e) {
    errors.push(`${where}: ${e.message} in: ${expr}`);
    return 0;
  }
  let count = 0;
  for (const { name, matchers } of scanned.names) {
    let labels = null; // Map of the labels the series carries; null: unknown (recording rule)
    if (name === null) {
      errors.push(`${where}: selector without a metric name in: ${expr}`);
      continue;
    }
    count++;
    ctx.used.add(name);
    if (name === "up") {
      labels = new Map();
    } else if (ctx.recorded.has(name)) {
      labels = null;
    } else if (!ctx.series.has(name) && catalogueLabels(name)) {
      // Not a service's: the gateway's, Istio's or kube-state-metrics' (lib/metric-catalogue.mjs,
      // where monitoring-semantics.mjs checks which environment has it); values unknown here.
      labels = new Map(catalogueLabels(name).map((l) => [l, null]));
    } else if (ctx.series.has(name)) {
      const base = name.replace(/_(bucket|sum|count)$/, "");
      if (base !== name && ctx.families.get(base) !== "histogram" && ctx.families.get(base) !== "summary" && !ctx.families.has(name)) {
        errors.push(`${where}: ${name} is not a series of a histogram`);
      }
      labels = ctx.series.get(name);
    } else {
      const hint = ctx.families.get(name) === "histogram" ? ` (a histogram: use ${name}_bucket, _sum or _count)` : "";
      errors.push(`${where}: unknown metric ${name}: no service exposes it${hint}`);
      continue;
    }
    if (labels === null) continue;
    for (const m of matchers) {
      if (TARGET_LABELS.has(m.label)) continue;
      if (!labels.has(m.label)) {
        errors.push(`${where}: ${name} has no label "${m.label}" (it has: ${[...labels.keys(), ...TARGET_LABELS].join(", ")})`);
        continue;
      }
      const seen = labels.get(m.label);
      if (seen && (m.op === "=" || m.op === "!=") && !m.value.includes("GRAFANA_VAR") && !seen.has(m.value)) {
        errors.push(`${where}: ${name}{${m.label}="${m.value}"}: no such value (seen: ${[...seen].join(", ")})`);
      }
    }
  }
  for (const l of scanned.labelLists) {
    if (!ctx.allLabels.has(l) && !TARGET_LABELS.has(l)) errors.push(`${where}: no metric has the label "${l}" used in by/on/without: ${expr}`);
  }
  return count;
}

function checkDashboardShape(file, d, uids) {
  const bad = (msg) => errors.push(`${file}: ${msg}`);
  if (typeof d.schemaVersion !== "number" || d.schemaVersion < 36) bad("schemaVersion missing or older than 36");
  if (!d.uid || !d.title) bad("uid and title are required");
  if (uids.has(d.uid)) bad(`uid ${d.uid} used by two dashboards`);
  uids.add(d.uid);
  const vars = d.templating?.list || [];
  if (!vars.some((v) => v.type === "datasource" && v.query === "prometheus" && v.name === "datasource")) {
    bad('no data source variable "datasource" of type prometheus');
  }
  const ids = new Set();
  const cells = new Set();
  const panels = [];
  for (const p of d.panels || []) panels.push(p, ...(p.panels || []));
  if (panels.length === 0) bad("no panels");
  for (const p of panels) {
    const at = `panel ${p.id} "${p.title}"`;
    if (!Number.isInteger(p.id) || ids.has(p.id)) bad(`${at}: missing or duplicate id`);
    ids.add(p.id);
    const g = p.gridPos || {};
    if (![g.x, g.y, g.w, g.h].every(Number.isInteger) || g.x < 0 || g.w < 1 || g.h < 1 || g.x + g.w > 24) {
      bad(`${at}: gridPos ${JSON.stringify(g)} is not inside the 24-column grid`);
      continue;
    }
    for (let x = g.x; x < g.x + g.w; x++) {
      for (let y = g.y; y < g.y + g.h; y++) {
        if (cells.has(`${x},${y}`)) bad(`${at}: overlaps another panel at ${x},${y}`);
        cells.add(`${x},${y}`);
      }
    }
    if (p.type === "row") continue;
    if (p.datasource?.uid !== "${datasource}") bad(`${at}: datasource is not \${datasource}`);
    if (!Array.isArray(p.targets) || p.targets.length === 0) bad(`${at}: no targets`);
    const refs = new Set();
    for (const t of p.targets || []) {
      if (typeof t.expr !== "string" || t.expr.trim() === "") bad(`${at}: a target without expr`);
      if (!t.refId || refs.has(t.refId)) bad(`${at}: missing or duplicate refId`);
      refs.add(t.refId);
    }
  }
}

// promtool parses the dashboards' expressions: one recording rule each, one group per expression
// so that an error names the panel.
function promtoolParse(items) {
  const dir = mkdtempSync(path.join(tmpdir(), "ms-promql-"));
  try {
    const groups = items.map(([where, expr], k) => ({ name: `${k}: ${where}`, rules: [{ record: `dashboard_expr_${k}`, expr }] }));
    const file = path.join(dir, "dashboards.rules.yml");
    writeFileSync(file, JSON.stringify({ groups }, null, 1));
    try {
      execFileSync("promtool", ["check", "rules", file], { stdio: "pipe" });
    } catch (e) {
      errors.push(`promtool cannot parse a dashboard expression:\n${String(e.stdout)}${String(e.stderr)}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/* ---------------------------------------------------------------- main */

const [metricsDir, rulesFile, ...dashboardFiles] = process.argv.slice(2);
if (!metricsDir || !rulesFile || dashboardFiles.length === 0) {
  console.error("usage: node tests/deploy/monitoring-promql.mjs METRICS_DIR RULES.yml DASHBOARD.json...");
  process.exit(2);
}
const expo = readExposition(metricsDir);
const rules = parse(readFileSync(rulesFile, "utf8"), { version: "1.1" });
const recorded = new Set();
const ruleExprs = [];
for (const g of rules.groups || []) {
  for (const r of g.rules || []) {
    if (r.record) recorded.add(r.record);
    ruleExprs.push([`${rulesFile}: ${r.record ? "record " + r.record : "alert " + r.alert}`, r.expr]);
  }
}
const allLabels = new Set(["le", "__name__"]);
for (const labels of expo.series.values()) for (const l of labels.keys()) allLabels.add(l);
for (const cat of [GATEWAY, ISTIO, KUBE_STATE_METRICS]) for (const ls of Object.values(cat)) for (const l of ls) allLabels.add(l);
const ctx = { families: expo.families, series: expo.series, recorded, allLabels, used: new Set() };

let selectors = 0;
for (const [where, expr] of ruleExprs) selectors += checkExpr(where, String(expr), ctx);
const uids = new Set();
const dashItems = [];
for (const file of dashboardFiles) {
  let d;
  try {
    d = JSON.parse(readFileSync(file, "utf8"));
  } catch (e) {
    errors.push(`${file}: not valid JSON: ${e.message}`);
    continue;
  }
  checkDashboardShape(file, d, uids);
  for (const [where, expr] of dashboardExprs(file, d, errors)) {
    const filled = fillGrafanaVars(expr);
    dashItems.push([where, filled]);
    selectors += checkExpr(where, filled, ctx);
  }
}
if (dashItems.length) promtoolParse(dashItems);

const exposed = [...expo.families.keys()];
const unused = exposed.filter((f) => ![...ctx.used].some((u) => u === f || u.replace(/_(bucket|sum|count)$/, "") === f));
console.log(`exposed: ${exposed.length} metric families in ${expo.files.length} scrapes (${expo.files.join(", ")})`);
console.log(`checked: ${ruleExprs.length} rule expressions, ${dashItems.length} dashboard expressions in ${dashboardFiles.length} dashboards, ${selectors} selectors`);
console.log(`metrics used: ${[...ctx.used].sort().join(" ")}`);
if (unused.length) console.log(`exposed but on no dashboard or rule: ${unused.join(" ")}`);
for (const e of errors) console.log(`FAIL: ${e}`);
console.log(errors.length ? `${errors.length} error(s)` : "ok: every expression parses and uses only exposed metrics and labels");
process.exit(errors.length ? 1 : 0);
