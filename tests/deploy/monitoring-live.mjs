#!/usr/bin/env node
// Checks a running Prometheus that scrapes the running suite:
//   node tests/deploy/monitoring-live.mjs up PROMETHEUS_URL
//     waits (bounded) until it is ready and scrapes all seven targets successfully;
//   node tests/deploy/monitoring-live.mjs check PROMETHEUS_URL RULES.yml DASHBOARD.json...
//     (after traffic) waits until the recording rules show a request rate for all seven services; then
// every rule of RULES.yml must be loaded and evaluate without error, and every dashboard query
// (Grafana variables filled in: all services, a 1m rate interval) must be answered without
// error. Prints how many queries returned data. Exits 1 on any error.
import { readFileSync } from "node:fs";
import { parse } from "yaml";

const [mode, base, rulesFile, ...dashboardFiles] = process.argv.slice(2);
if (!base || !(mode === "up" || (mode === "check" && rulesFile))) {
  console.error("usage: node tests/deploy/monitoring-live.mjs up PROMETHEUS_URL | check PROMETHEUS_URL RULES.yml DASHBOARD.json...");
  process.exit(2);
}
const errors = [];
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function api(p) {
  const res = await fetch(base + p, { signal: AbortSignal.timeout(5000) });
  const body = await res.json();
  if (body.status !== "success") throw new Error(`${p}: ${body.error || res.status}`);
  return body.data;
}

// Polls fn until it returns a truthy value, or gives up after `seconds` with the last reason.
async function until(what, seconds, fn) {
  const deadline = Date.now() + seconds * 1000;
  let last = "";
  for (;;) {
    try {
      const r = await fn();
      if (r === true) return;
      last = r || "";
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > deadline) throw new Error(`${what} within ${seconds} s: ${last}`);
    await sleep(500);
  }
}

const query = (expr) => api(`/api/v1/query?query=${encodeURIComponent(expr)}`);

try {
  if (mode === "up") {
    await until("Prometheus ready", 30, async () => (await fetch(`${base}/-/ready`)).ok || "not ready");
    await until("every target up", 40, async () => {
      const t = (await api("/api/v1/targets")).activeTargets;
      const down = t.filter((x) => x.health !== "up");
      return (t.length === 8 && down.length === 0) || `${t.length} targets, not up: ${down.map((x) => `${x.scrapeUrl} ${x.health} ${x.lastError}`).join("; ")}`;
    });
    // the canary is told apart by its version label
    await until("the canary scraped as product v2", 20, async () => {
      const r = await query('up{job="product",version="v2"} == 1');
      return r.result.length === 1 || "no up{job=\"product\",version=\"v2\"} == 1";
    });
    console.log("ok: 8 targets up (7 services and the product canary as job product, version v2)");
    process.exit(0);
  }
  await until("recording rules with data", 60, async () => {
    const r = await query("service:http_requests:rate5m > 0");
    return r.result.length === 7 || `${r.result.length} of 7 services with a request rate`;
  });
  console.log("ok: service:http_requests:rate5m has a rate for all 7 services");
  // Every rule evaluated at least once more after the data arrived.
  await sleep(6000);
} catch (e) {
  console.log(`FAIL: ${e.message}`);
  process.exit(1);
}

const want = [];
for (const g of parse(readFileSync(rulesFile, "utf8"), { version: "1.1" }).groups) {
  for (const r of g.rules) want.push(r.record || r.alert);
}
const loaded = new Map();
for (const g of (await api("/api/v1/rules")).groups) {
  for (const r of g.rules) loaded.set(r.name, r);
}
for (const name of want) {
  const r = loaded.get(name);
  if (!r) errors.push(`rule ${name} is not loaded`);
  else if (r.health !== "ok" || r.lastError) errors.push(`rule ${name}: health ${r.health} ${r.lastError || ""}`);
}
console.log(`ok: ${want.length - errors.length} of ${want.length} rules loaded and evaluating without error`);

let n = 0;
let withData = 0;
const empty = [];
for (const file of dashboardFiles) {
  const d = JSON.parse(readFileSync(file, "utf8"));
  const panels = [];
  for (const p of d.panels || []) panels.push(p, ...(p.panels || []));
  for (const p of panels) {
    for (const t of p.targets || []) {
      const expr = t.expr
        .replace(/\$__rate_interval\b/g, "1m")
        .replace(/\$__range\b/g, "5m")
        .replace(/\$\{?(service|job)\}?/g, ".*");
      n++;
      try {
        const r = await query(expr);
        if (r.result.length > 0) withData++;
        else empty.push(`${p.title} ${t.refId}`);
      } catch (e) {
        errors.push(`${file}: panel "${p.title}" ${t.refId}: ${e.message}`);
      }
    }
  }
}
console.log(`ok: ${n} dashboard queries answered, ${withData} with data` + (empty.length ? ` (no data yet: ${empty.join("; ")})` : ""));
for (const e of errors) console.log(`FAIL: ${e}`);
process.exit(errors.length ? 1 : 0);
