#!/usr/bin/env node
// Checks, on a cluster made by scripts/lab/kind-up.sh (either mesh mode), every promise lab 7
// (docs/labs/07-kubernetes-istio.md) makes, and prints one line per promise:
//   PASS <id>: <promise> (<figure>)     or     FAIL <id>: ... (<figure>)
// (SKIP only where a promise does not apply to the mesh mode, with the reason). It applies the
// lab's faults itself, one at a time, and removes each before the next; it sends bounded bursts
// of requests to the edge (EDGE_URL) and starts two short-lived curl pods. About 5 minutes.
//
//   node scripts/lab/check.mjs [--plan] [--only ID[,ID...]] [--edge URL] [--attendee-dir DIR]
//   node scripts/lab/check.mjs --attendees LIST [--class-dir DIR] [--plan] [--only ...]
//   make lab-check                      (LAB_CHECK_ARGS=... passes options)
//   make lab-check ATTENDEES=1-30       (a class on one cluster: the grid)
//
//   --plan   print the promises, one a line, and exit (no cluster needed); with --attendees,
//            the empty grid (attendees, their namespaces and edges, the promises)
//   --only   check only these promises (ids as --plan prints them)
//   --edge   the shop's edge (default http://localhost:8080, what k8s/kind-cluster.yaml maps)
//   --attendee-dir DIR  one attendee of a class (scripts/class/class.mjs render): its namespace
//            and edge from DIR/attendee.env, its faults and experiments from DIR, the class's
//            monitoring from DIR/../shared
//   --attendees LIST    every attendee of LIST (1-30,35), one after another, each as with
//            --attendee-dir CLASS_DIR/attendee-N; then a grid, promise x attendee, of
//            ok/FAIL/skip (exit 1 if a cell is FAIL). CLASS_DIR (--class-dir, default ./class,
//            what make class-render writes) is rendered first if it does not exist.
//
// Needs node, kubectl (context: the lab's cluster) and curl. Exit status: 0 every promise
// checked passed, 1 one failed, 2 usage or a missing tool.
// The parsing of what it reads (curl's figures, Envoy's statistics, the Prometheus, Jaeger and
// Kiali APIs, the dashboards) and the grid are pure exported functions that
// tests/deploy/lab-check.mjs feeds recorded output; main runs only when this file is executed.
import { spawn, spawnSync } from "node:child_process";
import { closeSync, existsSync, mkdtempSync, openSync, readFileSync, readdirSync, realpathSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { fileURLToPath } from "node:url";

const SELF = fileURLToPath(import.meta.url);
const ROOT = path.resolve(path.dirname(SELF), "../..");
const SLA_S = 30;

// The promises: id, then what lab 7 says. The order is the order they are checked in.
export const PROMISES = [
  ["edge-504-share", "with istio/faults/edge-product-delay.yaml, 30-70 % of 200 GET /products/1 at the edge answer 504"],
  ["edge-504-timing", "those 504s come after 0.5 s: median and p95 between 0.45 and 0.70 s"],
  ["edge-recovery", "once the fault is deleted, 50 of 50 answers are 200"],
  ["canary-split", "of 1,000 GET /products/1 at the edge, 10 +/- 3 % come from product v2"],
  ["vip-v2", "100 of 100 GET /products/1 with x-user-type: vip come from product v2"],
  ["mtls-outsider", "a plaintext call from a pod outside the mesh to order:3003 gets no HTTP answer"],
  ["authz-403", "with cart's identity, product answers 200 and order refuses with 403"],
  ["outlier-ejection", "under load, one failing inventory pod is ejected by outlier detection (ejections_enforced_total rises)"],
  ["self-healing-sla", "a killed product pod is replaced and the Deployment is fully ready within 30 s"],
  ["self-healing-edge", "no request at the edge fails while that pod is killed and replaced"],
  ["retry-amplification", "with every product answer aborted server-side, one cart read costs 2 product requests (the mesh's attempts + 1), not 6"],
  ["traces-slow-request", "Jaeger holds a trace of a request that took at least 0.4 s at the edge"],
  ["kiali-graph", "Kiali's graph of the shop's namespace has the edge's calls to product"],
  ["dashboards-data", "every panel query of monitoring/grafana/dashboards returns data in the cluster's Prometheus"],
  ["alerts-loaded", "every rule group of the shop's PrometheusRules is loaded by Prometheus"],
];

// ---------------------------------------------------------------- parsing (unit-tested)

// The promises, "id: text" one a line (no final newline).
export function plan() {
  return PROMISES.map(([id, text]) => `${id}: ${text}`).join("\n");
}

// The text of promise ID, or undefined.
export function promiseText(id) {
  return PROMISES.find(([p]) => p === id)?.[1];
}

// The non-blank lines of TEXT, each split into whitespace-separated fields (as awk reads them).
function records(text) {
  return text.split("\n").map((l) => l.trim()).filter((l) => l).map((l) => l.split(/\s+/));
}

// "<k> <n> <percent>" with one decimal (awk's "%d %d %.1f").
function share(k, n) {
  return `${k} ${n} ${(n ? (100 * k) / n : 0).toFixed(1)}`;
}

// figures: curl -w '%{http_code} %{time_total}\n' lines. "<count of CODE> <total> <percent>".
export function codeShare(figures, code) {
  const recs = records(figures);
  return share(recs.filter((r) => r[0] === String(code)).length, recs.length);
}

// The P-th percentile (nearest rank) of the times of the answers with status CODE, in seconds
// with three decimals, or "none".
export function timePercentile(figures, code, p) {
  const times = records(figures).filter((r) => r[0] === String(code)).map((r) => Number(r[1])).sort((a, b) => a - b);
  if (!times.length) return "none";
  // awk's rounding up of the rank, so a rank of 19.000000000000004 (0.95 * 20) stays 19.
  const rank = Math.min(times.length, Math.max(1, Math.trunc((p / 100) * times.length + 0.999999)));
  return times[rank - 1].toFixed(3);
}

// bodies: one product body a line. "<v2 answers> <answers> <percent>" (v2 marks its products
// with "badge":"SALE", services/product/store.c).
export function v2Share(bodies) {
  const lines = bodies.split("\n").filter((l) => l.trim());
  return share(lines.filter((l) => l.includes('"badge":"SALE"')).length, lines.length);
}

// out: what the outsider pod printed ("<http_code> exit=<curl exit status>"). True when no HTTP
// answer came: status 000 and a connection-level failure (reset 56, empty reply 52, refused 7,
// timeout 28, TLS 35).
export function refused(out) {
  const [code, exit = ""] = out.trim().split(/\s+/);
  return code === "000" && /^(7|28|35|52|56)$/.test(exit.replace(/^exit=/, ""));
}

// out: what the as-cart pod printed ("product <code>" and "order <code>" lines). True when
// product answered 200 and order 403.
export function authzOk(out) {
  const lines = out.split("\n");
  return lines.includes("product 200") && lines.includes("order 403");
}

// stats: Envoy's /stats text. The sum of every counter whose name contains HOST and ends with
// STAT (e.g. "inventory.ecommerce.svc.cluster.local" "outlier_detection.ejections_enforced_total").
export function statSum(stats, host, stat) {
  let sum = 0;
  for (const line of stats.split("\n")) {
    const [name, value] = line.split(": ");
    if (name.includes(host) && name.endsWith(stat)) sum += parseFloat(value) || 0;
  }
  return sum;
}

// out: pod-kill-sla.sh's output. The seconds to recovery, or "none".
export function slaSeconds(out) {
  for (const line of out.split("\n")) {
    const m = /PASS: .* fully ready again \([0-9]*\/[0-9]*\) in ([0-9.]*)s/.exec(line) ?? /FAIL: .* recovered in ([0-9.]*)s,/.exec(line);
    if (m) return m[1];
  }
  return "none";
}

// log: a product proxy's access log. The number of catalog requests (GET /products...) answered
// 503 by an injected fault (response flag FI); scrapes and probes do not count.
export function faultAborts(log) {
  return log.split("\n").filter((l) => l.includes('"GET /products') && l.includes('" 503 FI ')).length;
}

// Calls visit(value) for VALUE and everything under it, parents first (jq's `..`).
function descend(value, visit) {
  visit(value);
  if (value && typeof value === "object") Object.values(value).forEach((v) => descend(v, visit));
}

// dashboard: a Grafana dashboard (JSON text). "<panel title>\t<expr>" for every query of every
// panel, rows' nested panels included.
export function dashboardQueries(dashboard) {
  const out = [];
  descend(JSON.parse(dashboard), (v) => {
    if (!v || typeof v !== "object" || Array.isArray(v) || !("targets" in v)) return;
    for (const t of Object.values(v.targets ?? {})) {
      if (t?.expr) out.push(`${v.title ?? null}\t${String(t.expr).replace(/\n/g, " ")}`);
    }
  });
  return out;
}

// A PromQL expression from a dashboard, with Grafana's variables replaced by what an instant
// query can use: intervals by 5m, any other variable by a regex matching everything.
export function expandVars(expr) {
  return expr
    .replace(/\$(__rate_interval|__interval|__range)|\$\{(__rate_interval|__interval|__range)\}/g, "5m")
    .replace(/([a-z_]+)=~?"\$\{?[a-zA-Z_]+(:[a-z]+)?\}?"/g, '$1=~".*"')
    .replace(/\$\{?[a-zA-Z_]+(:[a-z]+)?\}?/g, ".*");
}

// JSON.parse, or undefined for what is not JSON (an API that did not answer).
function parse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

// answer: a Prometheus /api/v1/query answer. True when it succeeded with at least one series.
export function promHasData(answer) {
  const a = parse(answer);
  return a?.status === "success" && (a.data?.result?.length ?? 0) > 0;
}

// answer: a Prometheus /api/v1/rules answer. The group names of EXPECTED it does not hold.
export function missingGroups(answer, expected) {
  const loaded = new Set((parse(answer)?.data?.groups ?? []).map((g) => g.name));
  return expected.filter((g) => !loaded.has(g));
}

// answer: a Jaeger /api/traces answer. The number of traces with a span of at least MIN µs.
export function slowTraces(answer, min) {
  return (parse(answer)?.data ?? []).filter((t) => (t.spans ?? []).some((s) => s.duration >= min)).length;
}

// answer: a Kiali graph answer. The number of edges into APP's nodes.
export function kialiEdgesTo(answer, app) {
  const elements = parse(answer)?.elements ?? {};
  const ids = (elements.nodes ?? []).map((n) => n.data).filter((d) => d?.app === app).map((d) => d.id);
  return (elements.edges ?? []).filter((e) => ids.includes(e.data?.target)).length;
}

// True when lo <= x <= hi; x is a figure as printed ("none" is never within).
export function between(lo, x, hi) {
  const v = parseFloat(x) || 0;
  return x !== "none" && lo <= v && v <= hi;
}

// A PASS or FAIL line for promise ID with its figure.
export function verdictLine(pass, id, figure) {
  return `${pass ? "PASS" : "FAIL"} ${id}: ${promiseText(id)} (${figure})`;
}

// ---------------------------------------------------------------- the grid (unit-tested)

// out: what one attendee's run printed. The grid's cell for promise ID: ok, FAIL, skip, or "."
// when the run printed no verdict for it (not asked for, or the run stopped before it).
export function gridCell(out, id) {
  let verdict;
  for (const r of records(out)) if (r[1] === `${id}:`) verdict = r[0];
  return { PASS: "ok", FAIL: "FAIL", SKIP: "skip" }[verdict] ?? ".";
}

// runs: [[attendee, output or null (not run: the plan)], ...]. The grid, one row per promise,
// one column per attendee, then a row of passes per attendee; failed when a cell is FAIL.
export function grid(runs) {
  const cols = (cells) => cells.map((c) => ` ${String(c).padStart(5)}`).join("");
  const rows = [`${"promise \\ attendee".padEnd(20)}${cols(runs.map(([n]) => n))}`];
  let failed = false;
  for (const [id] of PROMISES) {
    const cells = runs.map(([, out]) => (out === null ? "." : gridCell(out, id)));
    failed ||= cells.includes("FAIL");
    rows.push(`${id.padEnd(20)}${cols(cells)}`);
  }
  const passes = runs.map(([, out]) => (out ?? "").split("\n").filter((l) => l.startsWith("PASS ")).length);
  rows.push(`${"passed".padEnd(20)}${cols(passes)}`);
  return { text: rows.join("\n"), failed };
}

// ---------------------------------------------------------------- running commands

const children = new Set(); // background processes (port-forwards), killed at exit

// run(cmd, args, {input, allowFail, stderr}): the command's exit status and stdout. stderr:
// "ignore", "inherit" (shown) or "merge" (in stdout, as 2>&1). A failure throws unless allowFail
// (kubectl apply of a fault that fails stops the run, as it must).
function run(cmd, args, { input, allowFail = false, stderr = "ignore" } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: [input === undefined ? "ignore" : "pipe", "pipe", stderr === "merge" ? "pipe" : stderr] });
    let stdout = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr?.on("data", (d) => (stdout += d));
    child.on("error", (e) => (allowFail ? resolve({ status: 127, stdout }) : reject(e)));
    child.on("close", (status) => {
      if (status === 0 || allowFail) resolve({ status, stdout });
      else reject(new Error(`${cmd} ${args.join(" ")} exited with ${status}`));
    });
    if (input !== undefined) {
      // A command may exit without reading all its input (a stub, a refusal): the write then
      // fails with EPIPE, and the exit status, not that error, is the verdict.
      child.stdin.on("error", () => {});
      child.stdin.end(input);
    }
  });
}

// Stdout of a command whose failure is a figure, not an error ("" and what it printed).
async function output(cmd, args, opts = {}) {
  return (await run(cmd, args, { ...opts, allowFail: true })).stdout;
}

// True when CMD is a program in PATH.
function onPath(cmd) {
  return (process.env.PATH ?? "").split(":").some((dir) => dir && existsSync(path.join(dir, cmd)));
}

function killChildren() {
  for (const child of children) child.kill();
  children.clear();
}

// ---------------------------------------------------------------- the cluster side

// The run's settings: from the environment, the options, an attendee's directory.
export function settings(env = process.env) {
  return {
    namespace: "ecommerce",
    edge: env.EDGE_URL || "http://localhost:8080",
    // Where the manifests the checks apply are (an attendee's rendered tree in a class), and
    // the monitoring they read (the class's shared/).
    manifests: ROOT,
    shared: ROOT,
    curlImage: env.CURL_IMAGE || "curlimages/curl:8.11.1",
    prometheus: env.PROMETHEUS_SVC || "monitoring/kube-prometheus-stack-prometheus:9090",
    jaeger: env.JAEGER_SVC || "istio-system/tracing:80",
    kiali: env.KIALI_SVC || "istio-system/kiali:20001",
    settleMs: 1000 * Number(env.LC_SETTLE_S || 8),
  };
}

// One check run: the settings, and whether a promise failed.
class Run {
  constructor(s) {
    this.s = s;
    this.failed = false;
  }

  report(pass, id, figure) {
    if (!pass) this.failed = true;
    console.log(verdictLine(pass, id, figure));
  }

  kubectl(args, opts) {
    return output("kubectl", ["-n", this.s.namespace, ...args], opts);
  }

  async meshMode() {
    const mode = await output("kubectl", ["get", "namespace", this.s.namespace, "-o", "jsonpath={.metadata.labels.istio\\.io/dataplane-mode}"],
      { stderr: "inherit" });
    return mode.trim() === "ambient" ? "ambient" : "sidecar";
  }

  // One request to PATH at the edge: "<code> <seconds>\n" (curl's figures; extra curl options).
  async figure(p, extra = []) {
    return output("curl", ["-s", "-o", "/dev/null", "-m", "5", "-w", "%{http_code} %{time_total}\n", ...extra, this.s.edge + p]);
  }

  // N requests to PATH at the edge, one after another: "<code> <seconds>" lines.
  async edgeFigures(n, p, extra = []) {
    let out = "";
    for (let i = 0; i < n; i++) out += await this.figure(p, extra);
    return out;
  }

  // N bodies of GET PATH, one a line.
  async edgeBodies(n, p, extra = []) {
    let out = "";
    for (let i = 0; i < n; i++) out += (await output("curl", ["-s", "-m", "5", ...extra, this.s.edge + p])) + "\n";
    return out;
  }

  // Requests to PATH at the edge for SECONDS, about 30 a second: "<code> <seconds>" lines.
  async edgeLoad(seconds, p) {
    const end = Date.now() + 1000 * seconds;
    let out = "";
    while (Date.now() < end) {
      out += await this.figure(p);
      await sleep(30);
    }
    return out;
  }

  // kubectl apply/delete of a manifest; then the control plane pushes the change to the proxies.
  async apply(file) {
    await run("kubectl", ["apply", "-f", path.join(this.s.manifests, file)], { stderr: "inherit" });
    await sleep(this.s.settleMs);
  }

  async delete(file) {
    await run("kubectl", ["delete", "-f", path.join(this.s.manifests, file), "--ignore-not-found"], { stderr: "inherit" });
    await sleep(this.s.settleMs);
  }

  // A port-forward to NS/SVC:PORT on a free local port; the local port, or undefined.
  async forward(target) {
    const [ns, rest] = [target.slice(0, target.indexOf("/")), target.slice(target.indexOf("/") + 1)];
    const [svc, port] = [rest.slice(0, rest.lastIndexOf(":")), rest.slice(rest.lastIndexOf(":") + 1)];
    const child = spawn("kubectl", ["-n", ns, "port-forward", `svc/${svc}`, `:${port}`], { stdio: ["ignore", "pipe", "pipe"] });
    children.add(child);
    let log = "";
    child.stdout.on("data", (d) => (log += d));
    child.stderr.on("data", (d) => (log += d));
    child.on("error", () => {});
    for (let i = 0; i < 50; i++) {
      const m = /^Forwarding from 127\.0\.0\.1:([0-9]+) /m.exec(log);
      if (m) return m[1];
      await sleep(200);
    }
    return undefined;
  }

  // GET URL through curl (-m SECONDS, query parameters url-encoded); its body.
  curlGet(url, seconds, params = {}) {
    const data = Object.entries(params).flatMap(([k, v]) => ["--data-urlencode", `${k}=${v}`]);
    return output("curl", ["-s", "-m", String(seconds), ...(data.length ? ["-G"] : []), url, ...data]);
  }

  // A one-shot curl pod: NS, service account (or ""), shell command. Its output.
  curlPod(ns, sa, cmd) {
    const overrides = sa ? ["--overrides", JSON.stringify({ spec: { serviceAccountName: sa } })] : [];
    return output("kubectl", ["-n", ns, "run", `lab-check-${Math.floor(Math.random() * 32768)}`, "--rm", "-i", "--restart=Never",
      "--quiet", `--image=${this.s.curlImage}`, ...overrides, "--command", "--", "sh", "-c", cmd]);
  }
}

// ---------------------------------------------------------------- the checks

async function checkEdgeFault(r) {
  await r.apply("istio/faults/edge-product-delay.yaml");
  let fig = await r.edgeFigures(200, "/products/1");
  const [k, n, pct] = codeShare(fig, 504).split(" ");
  r.report(between(30, pct, 70), "edge-504-share", `${k} of ${n} = ${pct} %`);
  const median = timePercentile(fig, 504, 50);
  const p95 = timePercentile(fig, 504, 95);
  r.report(between(0.45, median, 0.7) && between(0.45, p95, 0.7), "edge-504-timing", `median ${median} s, p95 ${p95} s`);
  await r.delete("istio/faults/edge-product-delay.yaml");
  fig = await r.edgeFigures(50, "/products/1");
  const [ok, total] = codeShare(fig, 200).split(" ");
  r.report(ok === "50", "edge-recovery", `${ok} of ${total} answered 200`);
}

async function checkCanary(r) {
  let [v2, n, pct] = v2Share(await r.edgeBodies(1000, "/products/1")).split(" ");
  r.report(between(7, pct, 13), "canary-split", `${v2} of ${n} from v2 = ${pct} %`);
  [v2, n] = v2Share(await r.edgeBodies(100, "/products/1", ["-H", "x-user-type: vip"])).split(" ");
  r.report(v2 === "100" && n === "100", "vip-v2", `${v2} of ${n} from v2`);
}

async function checkSecurity(r) {
  const ns = r.s.namespace;
  const lines = await r.curlPod("default", "",
    `curl -sS -m 5 -o /dev/null -w "%{http_code}" http://order.${ns}:3003/orders?user_id=1 2>/dev/null; echo " exit=$?"`);
  const out = lines.replace(/\n$/, "").split("\n").pop();
  r.report(refused(out), "mtls-outsider", `curl printed: ${out || "nothing"}`);
  const authz = await r.curlPod(ns, "cart", 'curl -s -o /dev/null -w "product %{http_code}\\n" http://product:3001/products/1; ' +
    'curl -s -o /dev/null -w "order %{http_code}\\n" "http://order:3003/orders?user_id=1"');
  r.report(authzOk(authz), "authz-403", `${authz.replace(/\n+$/, "")}\n`.replace(/\n/g, " "));
}

// Envoy statistics of the proxies that balance the edge's calls to inventory: the gateway's,
// and in ambient mode the waypoint's (the gateway hands the call to it).
async function edgeStats(r) {
  let stats = await r.kubectl(["exec", "deploy/microshop-gateway-istio", "--", "pilot-agent", "request", "GET", "stats"]);
  if ((await r.meshMode()) === "ambient") {
    stats += await r.kubectl(["exec", "deploy/waypoint", "--", "pilot-agent", "request", "GET", "stats"]);
  }
  return stats;
}

async function checkOutlier(r) {
  const host = `inventory.${r.s.namespace}.svc.cluster.local`;
  const stat = "outlier_detection.ejections_enforced_total";
  const before = statSum(await edgeStats(r), host, stat);
  const load = r.edgeLoad(30, "/inventory/1");
  await sleep(2000);
  await r.apply("chaos/chaos-mesh/pod-failure.yaml");
  await sleep(15000);
  const after = statSum(await edgeStats(r), host, stat);
  await r.delete("chaos/chaos-mesh/pod-failure.yaml");
  await load;
  r.report(after > before, "outlier-ejection", `ejections_enforced_total ${before} -> ${after}`);
  await r.kubectl(["rollout", "status", "deployment/inventory", "--timeout=120s"]);
}

async function checkSelfHealing(r) {
  const load = r.edgeLoad(45, "/products/1");
  await sleep(1000);
  const out = await output("bash", [path.join(ROOT, "chaos/scripts/pod-kill-sla.sh"), "--namespace", r.s.namespace, "--sla", String(SLA_S), "product"],
    { stderr: "merge" });
  const heal = await load;
  const secs = slaSeconds(out);
  r.report(between(0, secs, SLA_S), "self-healing-sla", `ready again after ${secs} s`);
  const [ok, total] = codeShare(heal, 200).split(" ");
  r.report(ok === total && Number(total) > 0, "self-healing-edge", `${ok} of ${total} answered 200`);
}

async function checkAmplification(r) {
  // Two reads: cart's breaker (PRODUCT_BREAKER_FAILURES, 5) stays closed, so each read is sent.
  const n = 2;
  const user = 990001;
  if ((await r.meshMode()) === "ambient") {
    console.log("SKIP retry-amplification: sidecar mode only (in ambient mode the fault runs in the waypoint, before its retries)");
    return;
  }
  await output("curl", ["-s", "-o", "/dev/null", "-m", "5", "-X", "POST", "-H", "content-type: application/json",
    "-d", '{"product_id":1,"quantity":1}', `${r.s.edge}/cart/${user}`]);
  await r.apply("istio/faults/product-server-abort.yaml");
  const since = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  await sleep(1000);
  await r.edgeFigures(n, `/cart/${user}`);
  await sleep(2000);
  const aborts = faultAborts(await r.kubectl(["logs", "-l", "app=product", "-c", "istio-proxy", `--since-time=${since}`, "--tail=-1", "--max-log-requests=10"]));
  await r.delete("istio/faults/product-server-abort.yaml");
  r.report(aborts === 2 * n, "retry-amplification", `${n} cart reads -> ${aborts} product requests aborted`);
}

async function checkTraces(r) {
  await run("kubectl", ["-n", r.s.namespace, "patch", "telemetry", "default", "--type=json",
    '-p=[{"op":"replace","path":"/spec/tracing/0/randomSamplingPercentage","value":100}]'], { stderr: "inherit" });
  await r.apply("istio/faults/edge-product-delay.yaml");
  await r.edgeFigures(10, "/products/1");
  await r.delete("istio/faults/edge-product-delay.yaml");
  await run("kubectl", ["apply", "-f", path.join(r.s.manifests, "istio/mesh/telemetry.yaml")], { stderr: "inherit" });
  const port = await r.forward(r.s.jaeger);
  if (!port) return r.report(false, "traces-slow-request", `no port-forward to ${r.s.jaeger}`);
  const services = parse(await r.curlGet(`http://127.0.0.1:${port}/api/services`, 10))?.data ?? [];
  const svc = services.find((s) => String(s).startsWith("microshop-gateway"));
  let slow = 0;
  if (svc) {
    const answer = await r.curlGet(`http://127.0.0.1:${port}/api/traces`, 10, { service: svc, minDuration: "400ms", limit: 20, lookback: "1h" });
    slow = slowTraces(answer, 400000);
  }
  r.report(slow > 0, "traces-slow-request", `service ${svc || "none"}, ${slow} slow traces`);
}

async function checkKiali(r) {
  const port = await r.forward(r.s.kiali);
  if (!port) return r.report(false, "kiali-graph", `no port-forward to ${r.s.kiali}`);
  const url = `http://127.0.0.1:${port}/kiali/api/namespaces/graph?namespaces=${r.s.namespace}&graphType=app&duration=600s`;
  const edges = kialiEdgesTo(await r.curlGet(url, 20), "product");
  r.report(edges > 0, "kiali-graph", `${edges} edges into product`);
}

// Every panel query of the dashboards, from monitoring/grafana/dashboards at run time.
async function checkDashboards(r) {
  const port = await r.forward(r.s.prometheus);
  if (!port) return r.report(false, "dashboards-data", `no port-forward to ${r.s.prometheus}`);
  const dir = path.join(r.s.shared, "monitoring/grafana/dashboards");
  const missing = [];
  let total = 0;
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".json")).sort()) {
    for (const q of dashboardQueries(readFileSync(path.join(dir, f), "utf8"))) {
      const [title, expr] = [q.slice(0, q.indexOf("\t")), q.slice(q.indexOf("\t") + 1)];
      total++;
      const answer = await r.curlGet(`http://127.0.0.1:${port}/api/v1/query`, 10, { query: expandVars(expr) });
      if (!promHasData(answer)) missing.push(`${path.basename(f, ".json")}/${title}`);
    }
  }
  const none = missing.length ? `; none: ${missing.join(",")}` : "";
  r.report(missing.length === 0 && total > 0, "dashboards-data", `${total - missing.length} of ${total} queries with data${none}`);
}

// The rule groups of the shop's PrometheusRules (monitoring/k8s, as kubectl renders it).
async function ruleGroups(r) {
  const rendered = await output("kubectl", ["kustomize", path.join(r.s.shared, "monitoring/k8s")], { stderr: "inherit" });
  const json = parse(await output("kubectl", ["create", "--dry-run=client", "-o", "json", "-f", "-"], { input: rendered }));
  const objects = json?.kind === "List" ? json.items : json ? [json] : [];
  return objects.filter((o) => o.kind === "PrometheusRule").flatMap((o) => o.spec.groups.map((g) => g.name));
}

async function checkAlerts(r) {
  const port = await r.forward(r.s.prometheus);
  if (!port) return r.report(false, "alerts-loaded", `no port-forward to ${r.s.prometheus}`);
  const groups = await ruleGroups(r);
  const missing = missingGroups(await r.curlGet(`http://127.0.0.1:${port}/api/v1/rules`, 10), groups);
  const notLoaded = missing.length ? `, not loaded: ${missing.join(" ")}` : "";
  r.report(missing.length === 0 && groups.length > 0, "alerts-loaded", `${groups.length} groups${notLoaded}`);
}

// The groups of checks, each with the promises it holds, in the order they run.
const CHECKS = [
  [["edge-504-share", "edge-504-timing", "edge-recovery"], checkEdgeFault],
  [["canary-split", "vip-v2"], checkCanary],
  [["mtls-outsider", "authz-403"], checkSecurity],
  [["outlier-ejection"], checkOutlier],
  [["self-healing-sla", "self-healing-edge"], checkSelfHealing],
  [["retry-amplification"], checkAmplification],
  [["traces-slow-request"], checkTraces],
  [["kiali-graph"], checkKiali],
  [["dashboards-data"], checkDashboards],
  [["alerts-loaded"], checkAlerts],
];

// Runs the groups of checks that hold a promise of ONLY (ids; empty: all). Exit status 0 or 1.
async function runPromises(s, only) {
  const r = new Run(s);
  const mode = await r.meshMode();
  const context = (await output("kubectl", ["config", "current-context"], { stderr: "inherit" })).trim();
  console.log(`# lab 7 promises on ${context}, namespace ${s.namespace}, ${mode} mode, edge ${s.edge}`);
  for (const [ids, check] of CHECKS) {
    if (!only.length || ids.some((id) => only.includes(id))) await check(r);
  }
  return r.failed ? 1 : 0;
}

// ---------------------------------------------------------------- options, a class

class Usage extends Error {}

// An attendee's facts (DIR/attendee.env, written by scripts/class/class.mjs) into S: namespace,
// edge (unless --edge gave one), manifests, the class's shared monitoring.
function useAttendeeDir(s, dir, edgeGiven) {
  const env = path.join(dir, "attendee.env");
  if (!existsSync(env)) throw new Usage(`${env} is missing (scripts/class/class.mjs render)`);
  const facts = Object.fromEntries(readFileSync(env, "utf8").split("\n").filter((l) => l.includes("="))
    .map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]));
  if (facts.NAMESPACE !== undefined) s.namespace = facts.NAMESPACE;
  if (!edgeGiven) s.edge = facts.EDGE_URL ?? "";
  s.manifests = realpathSync(dir);
  s.shared = realpathSync(path.join(dir, "../shared"));
}

// The value of option NAME: "--name=value" or the next argument.
function value(args, i, name, what) {
  const eq = args[i].indexOf("=");
  if (eq >= 0) return [args[i].slice(eq + 1), i];
  if (args[i + 1] === undefined || args[i + 1] === "") throw new Usage(`${name} needs ${what}`);
  return [args[i + 1], i + 1];
}

const OPTIONS = {
  "--only": ["ids", (o, v) => { o.only = v; o.pass.push(`--only=${v}`); }],
  "--edge": ["a URL", (o, v) => { o.edge = v; }],
  "--attendee-dir": ["a directory", (o, v) => { o.attendeeDir = v; }],
  "--attendees": ["a list", (o, v) => { o.classList = v; }],
  "--class-dir": ["a directory", (o, v) => { o.classDir = v; }],
};

// The command line: {plan, help, only, pass (options for each attendee's run), edge, ...}.
export function parseArgs(args, env = process.env) {
  const o = { plan: false, help: false, only: "", pass: [], classDir: env.CLASS_DIR || path.join(process.cwd(), "class") };
  for (let i = 0; i < args.length; i++) {
    const name = args[i].replace(/=.*/, "");
    if (args[i] === "--plan") o.plan = true;
    else if (args[i] === "-h" || args[i] === "--help") o.help = true;
    else if (OPTIONS[name]) {
      let v;
      [v, i] = value(args, i, name, OPTIONS[name][0]);
      OPTIONS[name][1](o, v);
    } else throw new Usage(`unknown option ${args[i]} (see --help)`);
  }
  return o;
}

// The tools the checks call are here, and every id of ONLY is a promise.
function preflight(only) {
  for (const tool of ["kubectl", "curl"]) if (!onPath(tool)) throw new Usage(`${tool} is needed`);
  for (const id of only) if (!promiseText(id)) throw new Usage(`no promise ${id} (see --plan)`);
}

// The attendee numbers of LIST (scripts/class/class.mjs list); the class rendered if missing.
function classAttendees(list, classDir) {
  const listed = spawnSync(process.execPath, [path.join(ROOT, "scripts/class/class.mjs"), "list", list], { stdio: ["ignore", "pipe", "inherit"] });
  const attendees = listed.stdout.toString().split("\n").filter((l) => l);
  if (listed.status !== 0 || !attendees.length) throw new Usage(`no attendees in ${list}`);
  if (!existsSync(classDir)) {
    console.error(`# rendering the class into ${classDir}`);
    const render = spawnSync(process.execPath, [path.join(ROOT, "scripts/class/class.mjs"), "render", "--attendees", list, "--out", classDir],
      { stdio: ["ignore", 2, 2] });
    if (render.status !== 0) throw new Usage(`rendering the class into ${classDir} failed`);
  }
  return attendees;
}

// One attendee's run (this program with --attendee-dir), stdout and stderr together; its output.
function attendeeRun(dir, pass, tmp, n) {
  const file = path.join(tmp, `${n}.out`);
  const fd = openSync(file, "w");
  spawnSync(process.execPath, [SELF, "--attendee-dir", dir, ...pass], { stdio: ["inherit", fd, fd] });
  closeSync(fd);
  return readFileSync(file, "utf8");
}

// The class: every attendee of LIST in turn, then the grid. Exit status 0, 1 (a FAIL cell).
function runClass(o) {
  const attendees = classAttendees(o.classList, o.classDir);
  const tmp = mkdtempSync(path.join(tmpdir(), "lab-check-"));
  try {
    console.log(`# lab 7 promises for ${attendees.length} attendees (class ${o.classDir})`);
    const runs = [];
    for (const n of attendees) {
      const dir = path.join(o.classDir, `attendee-${n}`);
      if (!existsSync(dir)) throw new Usage(`no ${dir} (render the class with these attendees)`);
      console.log(`# attendee ${n}: ${readFileSync(path.join(dir, "attendee.env"), "utf8").replace(/\n/g, " ")}`);
      const out = o.plan ? null : attendeeRun(dir, o.pass, tmp, n);
      if (out) out.replace(/\n$/, "").split("\n").forEach((l) => console.log(`  [${n}] ${l}`));
      runs.push([n, out]);
    }
    const g = grid(runs);
    console.log(g.text);
    return g.failed ? 1 : 0;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

// This file's leading comment, as --help prints it.
function help() {
  const lines = readFileSync(SELF, "utf8").split("\n").slice(1);
  return lines.slice(0, lines.findIndex((l) => !l.startsWith("//"))).map((l) => l.replace(/^\/\/ ?/, "")).join("\n");
}

export async function main(args) {
  const o = parseArgs(args);
  if (o.help) return console.log(help()), 0;
  if (o.classList) return runClass(o);
  if (o.plan) return console.log(plan()), 0;
  const s = settings();
  if (o.edge !== undefined) s.edge = o.edge;
  if (o.attendeeDir !== undefined) useAttendeeDir(s, o.attendeeDir, o.edge !== undefined);
  const only = o.only.split(",").filter((id) => id);
  preflight(only);
  return runPromises(s, only);
}

// Exit status: main's; 2 for a usage error, 1 for a command that failed where it must not. Now,
// with the port-forwards stopped, not when a background load would have finished.
function exit(status) {
  killChildren();
  process.exit(status);
}

if (process.argv[1] && realpathSync(process.argv[1]) === SELF) {
  for (const signal of ["SIGINT", "SIGTERM"]) process.on(signal, () => (killChildren(), process.exit(128 + (signal === "SIGINT" ? 2 : 15))));
  main(process.argv.slice(2)).then(exit, (e) => {
    console.error(`check: ${e.message}`);
    exit(e instanceof Usage ? 2 : 1);
  });
}
