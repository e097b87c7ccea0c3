#!/usr/bin/env node
// Checks every PromQL expression of the rules and the Grafana dashboards against what the running
// services really expose:
//   node tests/deploy/monitoring-promql.mjs METRICS_DIR RULES.yml DASHBOARD.json...
// METRICS_DIR holds one /metrics scrape per service (*.prom). For each expression:
//   - it must parse: the dashboards' expressions (Grafana variables filled in) go through
//     `promtool check rules` as recording rules (the rules file is checked by the caller);
//   - every metric name must be a series some service exposes (histograms by their _bucket,
//     _sum or _count series), `up`, or a recording rule of RULES.yml;
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

const TARGET_LABELS = new Set(["job", "instance", "version"]);
const KEYWORDS = new Set(["and", "or", "unless", "bool", "offset", "inf", "nan", "atan2", "start", "end"]);
const LABEL_LIST_KEYWORDS = new Set(["by", "without", "on", "ignoring", "group_left", "group_right"]);
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

/* ---------------------------------------------------------------- PromQL scanning */

// Splits an expression into the selectors, label lists and metric names it uses. Not a full
// parser (promtool does the syntax); it skips strings, range brackets, numbers and functions.
function scan(expr) {
  const names = []; // { name, matchers: [{label, op, value}] }
  const labelLists = [];
  let i = 0;
  const n = expr.length;
  const skipSpace = () => {
    while (i < n && /\s/.test(expr[i])) i++;
  };
  const readString = () => {
    const quote = expr[i++];
    let s = "";
    while (i < n && expr[i] !== quote) {
      if (expr[i] === "\\" && quote !== "`") s += expr[i++];
      s += expr[i++];
    }
    i++;
    return s;
  };
  const readMatchers = () => {
    const out = [];
    i++; // {
    for (;;) {
      skipSpace();
      if (i >= n) throw new Error("unterminated {");
      if (expr[i] === "}") {
        i++;
        return out;
      }
      if (expr[i] === ",") {
        i++;
        continue;
      }
      const lm = expr.slice(i).match(/^([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*/);
      if (!lm) throw new Error(`bad label matcher at "${expr.slice(i, i + 20)}"`);
      i += lm[0].length;
      if (!`"'\``.includes(expr[i])) throw new Error(`label ${lm[1]}: value is not a string`);
      out.push({ label: lm[1], op: lm[2], value: readString() });
    }
  };
  while (i < n) {
    const c = expr[i];
    if (/\s/.test(c)) {
      i++;
    } else if (c === '"' || c === "'" || c === "`") {
      readString();
    } else if (c === "[") {
      const j = expr.indexOf("]", i);
      i = j < 0 ? n : j + 1;
    } else if (c === "{") {
      names.push({ name: null, matchers: readMatchers() });
    } else if (/[0-9.]/.test(c)) {
      i += expr.slice(i).match(/^[0-9.][0-9a-zA-Z_.]*(?:[eE][+-]?[0-9]+)?/)[0].length;
    } else if (/[a-zA-Z_:]/.test(c)) {
      const id = expr.slice(i).match(/^[a-zA-Z_:][a-zA-Z0-9_:]*/)[0];
      i += id.length;
      skipSpace();
      if (LABEL_LIST_KEYWORDS.has(id)) {
        if (expr[i] === "(") {
          const j = expr.indexOf(")", i);
          labelLists.push(...expr.slice(i + 1, j).split(",").map((s) => s.trim()).filter(Boolean));
          i = j + 1;
        }
      } else if (expr[i] === "(" || KEYWORDS.has(id.toLowerCase()) || /^(by|without)\b/.test(expr.slice(i))) {
        // a function, an aggregation (also `sum by (...) (...)`) or an operator keyword
      } else {
        const sel = { name: id, matchers: [] };
        if (expr[i] === "{") sel.matchers = readMatchers();
        names.push(sel);
      }
    } else {
      i++;
    }
  }
  return { names, labelLists };
}

// Fills in Grafana's variables so the expression is plain PromQL.
function fillGrafanaVars(expr) {
  return expr
    .replace(/\$__(rate_interval|interval|range)\b/g, "5m")
    .replace(/\$__range_s\b/g, "300")
    .replace(/\$\{(\w+)(?::\w+)?\}|\$(\w+)/g, "GRAFANA_VAR");
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
      if ((m.op === "=" || m.op === "!=") && !m.value.includes("GRAFANA_VAR") && !labels.get(m.label).has(m.value)) {
        errors.push(`${where}: ${name}{${m.label}="${m.value}"}: no such value (seen: ${[...labels.get(m.label)].join(", ")})`);
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

// Every (where, expr) of a dashboard: panel targets and label_values()/query_result() variables.
function dashboardExprs(file, d) {
  const out = [];
  const panels = [];
  for (const p of d.panels || []) panels.push(p, ...(p.panels || []));
  for (const p of panels) {
    for (const t of p.targets || []) {
      if (typeof t.expr === "string") out.push([`${file}: panel "${p.title}" ${t.refId}`, t.expr]);
    }
  }
  for (const v of d.templating?.list || []) {
    if (v.type !== "query") continue;
    const text = typeof v.query === "string" ? v.query : v.query?.query || "";
    let m = text.match(/^\s*label_values\((.+),\s*[a-zA-Z_][a-zA-Z0-9_]*\s*\)\s*$/);
    if (m) {
      out.push([`${file}: variable ${v.name}`, m[1]]);
      continue;
    }
    m = text.match(/^\s*query_result\((.+)\)\s*$/);
    if (m) out.push([`${file}: variable ${v.name}`, m[1]]);
    else if (!/^\s*label_values\(\s*[a-zA-Z_]\w*\s*\)\s*$/.test(text)) errors.push(`${file}: variable ${v.name}: unsupported query ${text}`);
  }
  return out;
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
  for (const [where, expr] of dashboardExprs(file, d)) {
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
