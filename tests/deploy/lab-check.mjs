// scripts/lab/check.mjs (make lab-check) without a cluster: the plan mode, every function that
// parses what the program reads from a cluster, fed recorded output (curl's figures, Envoy
// statistics, pod-kill-sla.sh, a proxy's access log, the Prometheus, Jaeger and Kiali APIs, the
// dashboards of monitoring/grafana/dashboards), the class grid's cells, and the whole program
// against a stub kubectl and a loopback edge. Each parser gets a case that must pass and one
// that must fail, so a parser that accepts anything is caught. Run by lab-check.test.sh.
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import * as lc from "../../scripts/lab/check.mjs";
import { startEdge } from "./lib/lab-edge.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const CHECK = path.join(ROOT, "scripts/lab/check.mjs");
let passes = 0;
let failures = 0;
const ok = (msg) => (passes++, console.log(`ok   ${msg}`));
const notOk = (msg) => (failures++, console.error(`FAIL ${msg}`));
const expect = (name, want, got) => (got === want ? ok(`${name} = ${want}`) : notOk(`${name}: expected '${want}', got '${got}'`));
const holds = (name, cond) => (cond ? ok(name) : notOk(`${name}: expected success`));
const fails = (name, cond) => (cond ? notOk(`${name}: expected failure`) : ok(name));

// The program with ARGS (and ENV over this one's): {status, out} (stdout and stderr together).
function program(args, env = {}) {
  const r = spawnSync(process.execPath, [CHECK, ...args], { env: { ...process.env, ...env }, encoding: "utf8" });
  return { status: r.status, out: r.stdout + r.stderr };
}

function testPlan() {
  console.log("== --plan (no cluster)");
  const plan = program(["--plan"], { KUBECONFIG: "/nonexistent" }).out.trimEnd().split("\n");
  if (plan.length >= 12) ok(`--plan prints ${plan.length} promises`);
  else notOk(`--plan prints ${plan.length} promises, expected at least 12`);
  const ids = plan.map((l) => l.split(":")[0]);
  if (new Set(ids).size === ids.length) ok("promise ids are unique");
  else notOk("duplicate promise ids");
  if (plan.some((l) => !/^[a-z0-9-]+: .{20,}$/.test(l))) notOk("a --plan line is not 'id: promise'");
  else ok("every line is 'id: promise'");
  const must = ["edge-504-share", "edge-504-timing", "canary-split", "vip-v2", "mtls-outsider", "authz-403", "outlier-ejection",
    "self-healing-sla", "self-healing-edge", "dashboards-data", "alerts-loaded"];
  const lacking = must.filter((id) => !ids.includes(id));
  if (lacking.length) notOk(`--plan lacks the issue's promises ${lacking.join(" ")}`);
  else ok("--plan has every promise issue 10 lists");
  expect("an unknown --only id is a usage error (exit)", 2, program(["--only", "no-such-promise"]).status);
  expect("an unknown option is a usage error (exit)", 2, program(["--no-such-option"]).status);
  expect("--only without ids is a usage error (exit)", 2, program(["--only"]).status);
}

function testCurlFigures() {
  console.log("== curl figures at the edge");
  const FIG = "504 0.502113\n200 0.004321\n504 0.501001\n200 0.003100\n504 0.530000\n200 0.012000\n000 5.001000\n504 0.699000";
  expect("504 share", "4 8 50.0", lc.codeShare(FIG, 504));
  expect("200 share", "3 8 37.5", lc.codeShare(FIG, 200));
  expect("504 median (nearest rank)", "0.502", lc.timePercentile(FIG, 504, 50));
  expect("504 p95", "0.699", lc.timePercentile(FIG, 504, 95));
  expect("no 503 at all", "none", lc.timePercentile(FIG, 503, 50));
  holds("0.502 is within 0.45..0.70", lc.between(0.45, "0.502", 0.7));
  fails("2.001 (the old bug: 200 after the 2 s delay) is not", lc.between(0.45, "2.001", 0.7));
  fails("none is not", lc.between(0, "none", 30));
}

function testCanaryVip() {
  console.log("== canary and VIP");
  const BODIES = '{"id":1,"name":"Lamp","price_cents":100}\n{"id":1,"name":"Lamp","price_cents":100,"badge":"SALE"}\n\n' +
    '{"id":1,"name":"Lamp","price_cents":100}\n{"id":1,"name":"Lamp","price_cents":100}';
  expect("v2 share (empty lines ignored)", "1 4 25.0", lc.v2Share(BODIES));
}

function testOutsiderAuthz() {
  console.log("== outsider and AuthorizationPolicy");
  holds("connection reset, no status: refused", lc.refused("000 exit=56"));
  holds("empty reply (ambient ztunnel): refused", lc.refused("000 exit=52"));
  fails("a 200 is not refused", lc.refused("200 exit=0"));
  fails("a 503 from a proxy is an HTTP answer", lc.refused("503 exit=0"));
  holds("product 200 and order 403", lc.authzOk("product 200\norder 403"));
  fails("order 200 (policy missing)", lc.authzOk("product 200\norder 200"));
  fails("product 403 too (policy too tight)", lc.authzOk("product 403\norder 403"));
}

function testEnvoyStats() {
  console.log("== Envoy statistics");
  const STATS = `cluster.outbound|3005||inventory.ecommerce.svc.cluster.local.outlier_detection.ejections_enforced_total: 2
    cluster.outbound|3005||inventory.ecommerce.svc.cluster.local.outlier_detection.ejections_active: 1
    cluster.inbound-vip|3005|http|inventory.ecommerce.svc.cluster.local.outlier_detection.ejections_enforced_total: 3
    cluster.outbound|3001||product.ecommerce.svc.cluster.local.outlier_detection.ejections_enforced_total: 7`;
  const stat = "outlier_detection.ejections_enforced_total";
  expect("ejections of inventory (gateway + waypoint clusters)", 5, lc.statSum(STATS, "inventory.ecommerce.svc.cluster.local", stat));
  expect("no such cluster", 0, lc.statSum(STATS, "cart.ecommerce.svc.cluster.local", stat));
}

function testSlaAccessLog() {
  console.log("== pod-kill-sla.sh and the access log");
  expect("recovery seconds", "12.345",
    lc.slaSeconds("pod-kill-sla: killing pod product-a\npod-kill-sla: PASS: product fully ready again (2/2) in 12.345s (SLA 30s)"));
  expect("over the SLA", "41.000", lc.slaSeconds("pod-kill-sla: FAIL: product recovered in 41.000s, over the SLA of 30s"));
  expect("never ready", "none", lc.slaSeconds("pod-kill-sla: FAIL: product not fully ready after 120s (1/2 Ready)"));
  const tail = '- "-" 0 18 0 - "-" "-"';
  const LOG = [
    `[2026-12-06T10:00:00.000Z] "GET /products?ids=1 HTTP/1.1" 503 FI fault_filter_abort ${tail} "a" "product:3001" "-" inbound|3001|| - 10.0.0.1:3001 10.0.0.2:4444 - default`,
    `    [2026-12-06T10:00:00.100Z] "GET /products?ids=1 HTTP/1.1" 503 FI fault_filter_abort ${tail} "b" "product:3001" "-" inbound|3001|| - 10.0.0.1:3001 10.0.0.2:4445 - default`,
    `    [2026-12-06T10:00:00.200Z] "GET /metrics HTTP/1.1" 503 FI fault_filter_abort ${tail} "d" "10.0.0.1:3001" "-" inbound|3001|| - 10.0.0.1:3001 10.0.0.9:4446 - default`,
    '    [2026-12-06T10:00:01.000Z] "GET /products/1 HTTP/1.1" 504 UT response_timeout - "-" 0 24 500 - "-" "-" "c" "product:3001" "-" - - - - default',
  ].join("\n");
  expect("aborts of catalog reads counted (FI, not the scrape)", 2, lc.faultAborts(LOG));
  expect("no aborts", 0, lc.faultAborts("nothing here"));
}

// The panels of a dashboard with a query, counted independently of dashboardQueries.
function panelsWithQueries(value) {
  if (!value || typeof value !== "object") return 0;
  const own = !Array.isArray(value) && Array.isArray(value.targets) && value.targets.some((t) => t?.expr) ? 1 : 0;
  return own + Object.values(value).reduce((sum, v) => sum + panelsWithQueries(v), 0);
}

function testDashboards() {
  console.log("== dashboards (monitoring/grafana/dashboards, at run time)");
  const DASH = '{"panels":[{"title":"Row","panels":[{"title":"Nested","targets":[{"expr":"sum(up{job=~\\"$job\\"})"}]}]},' +
    '{"title":"Rate","targets":[{"expr":"rate(x_total[$__rate_interval])"},{"refId":"B"}]},{"title":"Text"}]}';
  expect("queries of a dashboard, nested rows included", 'Nested\tsum(up{job=~"$job"})\nRate\trate(x_total[$__rate_interval])',
    lc.dashboardQueries(DASH).join("\n"));
  expect("variables expanded", 'sum(rate(x{job=~".*",service=~".*"}[5m])) / 5m',
    lc.expandVars('sum(rate(x{job=~"$job",service="${service}"}[$__rate_interval])) / ${__range}'));
  const dir = path.join(ROOT, "monitoring/grafana/dashboards");
  let total = 0;
  for (const f of readdirSync(dir).filter((n) => n.endsWith(".json"))) {
    const text = readFileSync(path.join(dir, f), "utf8");
    const queries = lc.dashboardQueries(text);
    if (new Set(queries.map((q) => q.split("\t")[0])).size < 1) notOk(`${f}: no query found`);
    total += panelsWithQueries(JSON.parse(text));
    const left = queries.map((q) => lc.expandVars(q.slice(q.indexOf("\t") + 1))).filter((e) => e.includes("$"));
    if (left.length) notOk(`${f}: a variable left after expansion: ${left.join("\n")}`);
  }
  if (total > 0) ok(`every dashboard's panel queries found and expanded (${total} panels)`);
  else notOk("no panel with a query in monitoring/grafana/dashboards");
  holds("a query with series has data", lc.promHasData('{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]}]}}'));
  fails("an empty result has none", lc.promHasData('{"status":"success","data":{"resultType":"vector","result":[]}}'));
  fails("an error has none", lc.promHasData('{"status":"error","errorType":"bad_data","error":"parse error"}'));
}

function testAlertsTracesGraph() {
  console.log("== alerts, traces, graph");
  const RULES = '{"status":"success","data":{"groups":[{"name":"microshop.availability","rules":[]},{"name":"kubernetes-apps","rules":[]}]}}';
  expect("missing groups", "microshop.latency", lc.missingGroups(RULES, ["microshop.availability", "microshop.latency"]).join("\n"));
  expect("nothing missing", "", lc.missingGroups(RULES, ["microshop.availability"]).join("\n"));
  const TRACES = '{"data":[{"traceID":"a","spans":[{"duration":501234},{"duration":1200}]},{"traceID":"b","spans":[{"duration":3000}]}]}';
  expect("slow traces (>= 0.4 s)", 1, lc.slowTraces(TRACES, 400000));
  expect("none slower than 1 s", 0, lc.slowTraces(TRACES, 1000000));
  const GRAPH = '{"elements":{"nodes":[{"data":{"id":"n1","app":"microshop-gateway-istio"}},{"data":{"id":"n2","app":"product","version":"v1"}},' +
    '{"data":{"id":"n3","app":"product","version":"v2"}},{"data":{"id":"n4","app":"cart"}}],"edges":[{"data":{"source":"n1","target":"n2"}},' +
    '{"data":{"source":"n1","target":"n3"}},{"data":{"source":"n4","target":"n2"}},{"data":{"source":"n1","target":"n4"}}]}}';
  expect("edges into product", 3, lc.kialiEdgesTo(GRAPH, "product"));
  expect("edges into order", 0, lc.kialiEdgesTo(GRAPH, "order"));
}

function testReporting() {
  console.log("== reporting");
  expect("a PASS line",
    "PASS canary-split: of 1,000 GET /products/1 at the edge, 10 +/- 3 % come from product v2 (98 of 1000 from v2 = 9.8 %)",
    lc.verdictLine(lc.between(7, "9.8", 13), "canary-split", "98 of 1000 from v2 = 9.8 %"));
  expect("a FAIL line", "FAIL vip-v2: 100 of 100 GET /products/1 with x-user-type: vip come from product v2 (97 of 100 from v2)",
    lc.verdictLine(false, "vip-v2", "97 of 100 from v2"));
}

// The class grid from recorded runs: attendee 7 (ok, FAIL, skip), 8 (ok), 9 (not run).
function testGridCells() {
  console.log("== the class grid's cells");
  const got = lc.grid([["7", "PASS canary-split: x (1)\nFAIL vip-v2: y (2)\nSKIP retry-amplification: z\n"], ["8", "PASS vip-v2: y (3)\n"], ["9", null]]);
  holds("a FAIL cell fails the grid", got.failed);
  holds("the canary-split row", /^canary-split +ok +\. +\.$/m.test(got.text));
  holds("the vip-v2 row", /^vip-v2 +FAIL +ok +\.$/m.test(got.text));
  holds("the skip row", /^retry-amplification +skip +\. +\.$/m.test(got.text));
  holds("the passed row", /^passed +1 +1 +0$/m.test(got.text));
  holds("the header row", got.text.startsWith("promise \\ attendee       7     8     9\n"));
  fails("no FAIL cell, the grid passes", lc.grid([["8", "PASS vip-v2: y (3)\n"]]).failed);
}

// The program run asynchronously (the edge is served by this process): {status, out}.
function programAsync(args, env) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CHECK, ...args], { env: { ...process.env, ...env } });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.stderr.on("data", (d) => (out += d));
    child.on("close", (status) => resolve({ status, out }));
  });
}

// A loopback Prometheus: every instant query has a series unless it names EMPTY_METRIC; the
// rule groups are GROUPS. Resolves to {port, queries (what it was asked), close}.
function startPrometheus(emptyMetric, groups) {
  const queries = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, "http://x");
    let body = { status: "success", data: { groups: groups.map((name) => ({ name, rules: [] })) } };
    if (url.pathname === "/api/v1/query") {
      const q = url.searchParams.get("query");
      queries.push(q);
      body = { status: "success", data: { resultType: "vector", result: q.includes(emptyMetric) ? [] : [{ metric: {}, value: [1, "1"] }] } };
    }
    res.writeHead(200, { "content-type": "application/json" });
    res.end(JSON.stringify(body));
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve({ port: server.address().port, queries, close: () => server.close() })));
}

// What kubectl renders monitoring/k8s to, as the stub hands it out: two rule groups.
const OBJECTS = JSON.stringify({ kind: "List", items: [{ kind: "ServiceMonitor", spec: {} },
  { kind: "PrometheusRule", spec: { groups: [{ name: "microshop.availability" }, { name: "microshop.latency" }] } }] });

// dashboards-data and alerts-loaded through the stub's port-forward: PASS with every query
// answered and every group loaded; FAIL naming the empty panel and the group not loaded.
async function testPrometheusChecks() {
  console.log("== dashboards-data and alerts-loaded through a port-forward to a loopback Prometheus");
  const dir = mkdtempSync(path.join(tmpdir(), "lab-check-"));
  writeFileSync(path.join(dir, "objects.json"), OBJECTS);
  const env = (port) => ({ PATH: `${path.join(ROOT, "tests/deploy/lib/lab-kubectl")}:${process.env.PATH}`,
    LAB_FORWARD_PORT: String(port), LAB_OBJECTS: path.join(dir, "objects.json") });
  let prom = await startPrometheus("no-such-metric", ["microshop.availability", "microshop.latency", "kubernetes-apps"]);
  let r = await programAsync(["--only", "dashboards-data,alerts-loaded"], env(prom.port));
  prom.close();
  const n = prom.queries.length;
  if (r.status === 0 && n > 0 && new RegExp(`^PASS dashboards-data: .*\\(${n} of ${n} queries with data\\)$`, "m").test(r.out) &&
    /^PASS alerts-loaded: .*\(2 groups\)$/m.test(r.out)) ok(`check.mjs: ${n} dashboard queries with data, 2 rule groups loaded`);
  else notOk(`check.mjs against a Prometheus with everything: exit ${r.status}: ${r.out}`);
  const left = prom.queries.filter((q) => q.includes("$"));
  if (left.length) notOk(`queries sent with a Grafana variable left: ${left.join(" ")}`);
  else ok("every query sent to Prometheus has its variables expanded");
  prom = await startPrometheus("orders_total", ["microshop.availability"]);
  r = await programAsync(["--only", "dashboards-data,alerts-loaded"], env(prom.port));
  prom.close();
  rmSync(dir, { recursive: true, force: true });
  if (r.status === 1 && /^FAIL dashboards-data: .*; none: [a-z-]+\/[^,]+/m.test(r.out) && /^FAIL alerts-loaded: .*\(2 groups, not loaded: microshop.latency\)$/m.test(r.out)) {
    ok("check.mjs: FAIL naming the panels without data and the group not loaded");
  } else notOk(`check.mjs against a Prometheus without a metric and a group: exit ${r.status}: ${r.out}`);
}

// The whole program against the stub cluster and a loopback edge: PASS lines with the figures
// against a shop that splits 90/10; against an edge with no v2 at all, FAIL and exit 1.
async function testWholeProgram() {
  console.log("== the whole program against a stub cluster and a loopback edge");
  const env = { PATH: `${path.join(ROOT, "tests/deploy/lib/lab-kubectl")}:${process.env.PATH}` };
  let edge = await startEdge(10, true);
  let r = await programAsync(["--only", "canary-split,vip-v2", "--edge", edge.url], env);
  edge.close();
  if (r.status === 0 && /^PASS canary-split: .*\(100 of 1000 from v2 = 10\.0 %\)$/m.test(r.out) && /^PASS vip-v2: .*\(100 of 100 from v2\)$/m.test(r.out)) {
    ok("check.mjs: canary and VIP PASS against a shop that splits 90/10");
  } else notOk(`check.mjs against a 90/10 edge: exit ${r.status}: ${r.out}`);
  edge = await startEdge(0, false);
  r = await programAsync(["--only", "vip-v2", "--edge", edge.url], env);
  edge.close();
  if (r.status === 1 && /^FAIL vip-v2: .*\(0 of 100 from v2\)$/m.test(r.out)) ok("check.mjs: FAIL and exit 1 when VIP users do not reach v2");
  else notOk(`check.mjs against an edge without the VIP rule: exit ${r.status}: ${r.out}`);
}

testPlan();
testCurlFigures();
testCanaryVip();
testOutsiderAuthz();
testEnvoyStats();
testSlaAccessLog();
testDashboards();
testAlertsTracesGraph();
testReporting();
testGridCells();
await testWholeProgram();
await testPrometheusChecks();
console.log(`lab-check: ${passes} passed, ${failures} failed`);
process.exitCode = failures ? 1 : 0;
