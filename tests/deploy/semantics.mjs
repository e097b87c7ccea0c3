#!/usr/bin/env node
// What the manifests DO on a cluster, beside what they say (tests/deploy/mesh.mjs checks that
// they are valid and name things that exist). Each rule encodes a behaviour documented upstream
// (/work/shared/UPSTREAM.md, section numbers below) that lab 7 relies on, so that a change which
// would make a lab promise false on a real cluster fails here. One rule per finding of issue 10;
// tests/deploy/semantics-violations.mjs plants a violation of each and expects it caught.
//   node tests/deploy/semantics.mjs [--root DIR]
// Prints what each rule checked; exits 1 listing every problem as "[rule] message".
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { index, loadDocuments, renderKustomize, selects } from "./lib/validate.mjs";
import { durationMs } from "./mesh.mjs";

const NS = "ecommerce";
const EDGE_PREFIX = "/products"; // the route lab 7 step 2 times out
// Retry conditions that fire only when the request never reached the service: such a try ends
// within the connect timeout, whatever the service does.
const CONNECT_ONLY = new Set(["connect-failure", "refused-stream", "unavailable", "cancelled"]);
// Istio's retry policy for a route that sets none (UPSTREAM §1).
const ISTIO_DEFAULT_RETRIES = { attempts: 2, retryOn: "connect-failure,refused-stream,unavailable,cancelled" };
const ENVOY_DEFAULT_CONNECT_MS = 10000;
// Kubernetes' default probe timeoutSeconds.
const DEFAULT_PROBE_TIMEOUT_S = 1;
// A service's own working set under load (k8s/base/kustomization.yaml measured 12.5 MiB at most).
const SERVICE_WORKING_SET = 16 * 2 ** 20;
const AMBIENT_PROBE_SOURCE = "169.254.7.127/32"; // UPSTREAM §5
const HBONE_PORT = 15008;

export const RULES = {
  "edge-fault": "the edge fault reaches the hosts the edge sends to, in both mesh modes, and the timeout that makes it a 504 is at the edge (finding 1)",
  "chaos-probes": "chaos delays and drops hit the data path, not the kubelet's probes (finding 5)",
  "ambient-netpol": "NetworkPolicies admit the waypoint on 15008 and the ambient probe address; the edge gateway is not captured by ztunnel (finding 6)",
  "lab-sequence": "lab 7 runs one fault at a time, never fails every replica of a Deployment, and marks commands that need a sidecar (finding 7)",
  "stress-limit": "stress stays under the container's memory limit and claims no autoscaler that does not exist (finding 8)",
  "litmus": "kind-up.sh installs the Litmus operator and the probe checks the Service of the pods the experiment deletes (finding 9)",
  "one-fault": "one fault per file, and no HTTPChaos under STRICT mTLS except for a cluster without the mesh (finding 10)",
  "retry-budget": "(attempts + 1) x perTryTimeout <= timeout on every route, and the services' own deadlines and retries fit the mesh's (finding 11)",
  "vip-edge-only": "mesh routes match only headers the services forward (finding 12)",
  "content-tags": "kind-up.sh runs images tagged by content, so a rebuild rolls the pods (finding 12)",
  "tracing": "the Telemetry's trace provider is declared by kind-up.sh and points at a Service of istio/addons (What to build 2)",
};

function yamlFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) return yamlFiles(p);
    return /\.ya?ml$/.test(e.name) && e.name !== "kustomization.yaml" ? [p] : [];
  }).sort();
}

// Kubernetes quantities of memory ("128Mi", "32MB", "1G") → bytes.
export function bytesOf(q) {
  const m = /^([0-9.]+)\s*(Ki|Mi|Gi|KB|MB|GB|K|M|G|B)?$/i.exec(String(q ?? "").trim());
  if (!m) return NaN;
  const unit = { ki: 2 ** 10, mi: 2 ** 20, gi: 2 ** 30, kb: 1e3, mb: 1e6, gb: 1e9, k: 1e3, m: 1e6, g: 1e9, b: 1 }[(m[2] ?? "b").toLowerCase()];
  return Number(m[1]) * unit;
}

// The tries one route makes and the longest each can take (ms), or an error string.
export function routeTries(route, connectMs) {
  const r = route.retries ?? ISTIO_DEFAULT_RETRIES;
  const tries = (r.attempts ?? ISTIO_DEFAULT_RETRIES.attempts) + 1;
  if (r.attempts === 0) return { tries: 1, perTryMs: durationMs(route.timeout) };
  if (r.perTryTimeout) return { tries, perTryMs: durationMs(r.perTryTimeout) };
  const conds = String(r.retryOn ?? "").split(",").map((c) => c.trim()).filter(Boolean);
  if (conds.length && conds.every((c) => CONNECT_ONLY.has(c))) return { tries, perTryMs: connectMs };
  return { error: `retries on ${r.retryOn} without perTryTimeout: each try may take the whole timeout` };
}

// Every Chaos Mesh fault object in a document, with its kind (Workflow and Schedule unwrapped).
function chaosFaults(doc) {
  const kindOf = { networkChaos: "NetworkChaos", podChaos: "PodChaos", stressChaos: "StressChaos", httpChaos: "HTTPChaos" };
  if (doc.kind === "Workflow")
    return (doc.spec.templates ?? []).flatMap((t) => Object.entries(kindOf).filter(([k]) => t[k]).map(([k, kind]) => ({ kind, spec: t[k], at: `template ${t.name}` })));
  if (doc.kind === "Schedule")
    return Object.entries(kindOf).filter(([k]) => doc.spec[k]).map(([k, kind]) => ({ kind, spec: doc.spec[k], at: "schedule" }));
  return doc.apiVersion?.startsWith("chaos-mesh.org/") ? [{ kind: doc.kind, spec: doc.spec, at: "spec" }] : [];
}

// What fault a manifest object injects, as a comparable string per fault (empty: none).
function faultSignatures(doc) {
  const out = [];
  if (doc.kind === "VirtualService")
    for (const r of doc.spec.http ?? []) {
      const f = r.fault ?? {};
      if (f.delay) out.push(`delay ${durationMs(f.delay.fixedDelay)}ms ${f.delay.percentage?.value ?? 100}%`);
      if (f.abort) out.push(`abort ${f.abort.httpStatus ?? f.abort.grpcStatus} ${f.abort.percentage?.value ?? 100}%`);
    }
  if (doc.kind === "EnvoyFilter")
    for (const p of doc.spec.configPatches ?? []) {
      const c = p.patch?.value?.typed_config ?? {};
      if (!String(c["@type"] ?? "").endsWith("HTTPFault")) continue;
      const pct = (x) => (x?.denominator && x.denominator !== "HUNDRED" ? NaN : x?.numerator ?? 100);
      if (c.delay) out.push(`delay ${durationMs(c.delay.fixed_delay)}ms ${pct(c.delay.percentage)}%`);
      if (c.abort) out.push(`abort ${c.abort.http_status} ${pct(c.abort.percentage)}%`);
    }
  if (["Workflow", "Schedule"].includes(doc.kind)) return out; // compositions: several faults on purpose
  for (const f of chaosFaults(doc)) {
    if (f.kind === "HTTPChaos") {
      for (const a of ["abort", "delay", "replace", "patch"]) if (f.spec[a]) out.push(`HTTPChaos ${a}`);
    } else out.push(`${f.kind} ${f.spec.action ?? Object.keys(f.spec.stressors ?? {}).sort().join("+")}`);
  }
  return out;
}

export async function checkSemantics(root, opts = {}) {
  const problems = [];
  const checked = [];
  const fail = (rule, msg) => problems.push(`[${rule}] ${msg}`);
  const note = (rule, what) => checked.push(`[${rule}] ${what}`);
  const rel = (p) => path.relative(root, p);
  const read = (p) => (existsSync(path.join(root, p)) ? readFileSync(path.join(root, p), "utf8") : "");

  const docs = [];
  for (const f of [...yamlFiles(path.join(root, "istio")), ...yamlFiles(path.join(root, "chaos"))])
    for (const d of await loadDocuments([f])) docs.push({ ...d, file: rel(f) });
  const ofKind = (kind) => docs.filter((d) => d.doc.kind === kind);
  const where = (d) => `${d.file}: ${d.doc.kind}/${d.doc.metadata?.name}`;
  const base = opts.base ?? index(renderKustomize(path.join(root, "k8s", "base")));
  const svc = (name) => base.services.find((s) => s.name === String(name).split(".")[0]);
  const podsOfService = (name) => (svc(name) ? base.workloads.filter((w) => selects(svc(name).selector, w.podLabels)) : []);
  const meshVS = ofKind("VirtualService").filter((d) => d.file.startsWith("istio/mesh/"));
  const faultFiles = docs.filter((d) => d.file.startsWith("istio/faults/"));
  const drFor = (host) => ofKind("DestinationRule").find((d) => svc(d.doc.spec.host)?.name === svc(host)?.name)?.doc;
  const connectMsOf = (host) => durationMs(drFor(host)?.spec.trafficPolicy?.connectionPool?.tcp?.connectTimeout ?? "") || ENVOY_DEFAULT_CONNECT_MS;
  const lab7 = read("docs/labs/07-kubernetes-istio.md");
  let dryRun = null;
  const kindUp = () => {
    if (dryRun === null) {
      try {
        dryRun = execFileSync("bash", [path.join(root, "scripts/lab/kind-up.sh"), "--dry-run", "--mesh", "sidecar", "--runtime", "docker"], { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
      } catch (e) {
        dryRun = "";
        fail("content-tags", `scripts/lab/kind-up.sh --dry-run failed: ${e.stderr || e.message}`);
      }
    }
    return dryRun;
  };

  /* ------------------------------------------------------------ edge-fault (UPSTREAM §1, §2) */
  {
    const rule = "edge-fault";
    for (const d of [...ofKind("VirtualService")])
      for (const [i, r] of (d.doc.spec.http ?? []).entries())
        if (r.fault && (r.timeout || r.retries))
          fail(rule, `${where(d)} http[${i}]: a fault with ${r.timeout ? "a timeout" : "retries"} beside it; Istio does not apply timeouts or retries on a route with a fault`);
    const edgeRules = ofKind("HTTPRoute").flatMap((d) => (d.doc.spec.rules ?? []).map((r) => ({ d, r })))
      .filter(({ r }) => (r.matches ?? []).some((m) => m.path?.value === EDGE_PREFIX));
    const backends = [...new Set(edgeRules.flatMap(({ r }) => (r.backendRefs ?? []).map((b) => b.name)))];
    let edgeTimeout = Infinity;
    for (const { d, r } of edgeRules) {
      const t = r.timeouts ?? {};
      if (!t.request) fail(rule, `${where(d)}: the ${EDGE_PREFIX} rule has no timeouts.request (the 504 of lab 7 step 2 comes from it)`);
      if (t.backendRequest && !r.retry) fail(rule, `${where(d)}: backendRequest without retry replaces the request timeout in Istio`);
      edgeTimeout = Math.min(edgeTimeout, durationMs(t.request ?? "0s") || Infinity);
    }
    // The fault files, by what reaches every edge backend in each mode.
    const byFile = new Map();
    for (const d of faultFiles) {
      if (!byFile.has(d.file)) byFile.set(d.file, { sidecar: new Set(), ambient: new Set(), delays: [] });
      const f = byFile.get(d.file);
      if (d.doc.kind === "EnvoyFilter") {
        const inbound = (d.doc.spec.configPatches ?? []).some((p) => p.match?.context === "SIDECAR_INBOUND" &&
          String(p.patch?.value?.typed_config?.["@type"] ?? "").endsWith("HTTPFault"));
        if (!inbound) continue;
        for (const b of backends)
          if (podsOfService(b).length && podsOfService(b).every((w) => selects(d.doc.spec.workloadSelector?.labels, w.podLabels))) f.sidecar.add(b);
      }
      if (d.doc.kind === "VirtualService" && !(d.doc.spec.gateways ?? []).some((g) => g !== "mesh")) {
        const hosts = (d.doc.spec.hosts ?? []).map((h) => svc(h)?.name);
        if ((d.doc.spec.http ?? []).every((r) => r.fault)) for (const b of backends) if (hosts.includes(b)) f.ambient.add(b);
      }
      for (const s of faultSignatures(d.doc)) if (s.startsWith("delay")) f.delays.push(Number(/delay ([0-9.]+)ms/.exec(s)[1]));
    }
    const edgeFiles = [...byFile].filter(([, f]) => backends.every((b) => f.sidecar.has(b) && f.ambient.has(b)));
    if (!backends.length) fail(rule, `no HTTPRoute rule for ${EDGE_PREFIX}`);
    if (!edgeFiles.length)
      fail(rule, `no file in istio/faults delays every backend the edge sends ${EDGE_PREFIX} to (${backends.join(", ")}) in both modes: an EnvoyFilter (SIDECAR_INBOUND fault on their pods) for sidecars and a VirtualService for those hosts for the waypoint`);
    for (const [file, f] of edgeFiles) {
      if (!f.delays.length || Math.min(...f.delays) <= edgeTimeout)
        fail(rule, `${file}: its delay (${f.delays.join(", ")} ms) does not exceed the edge's ${edgeTimeout} ms timeout, so no 504`);
      if (lab7 && !lab7.includes(file)) fail(rule, `docs/labs/07-kubernetes-istio.md does not use ${file} for the edge timeout demo`);
    }
    for (const b of backends) {
      const od = drFor(b)?.spec.trafficPolicy?.outlierDetection;
      if (od && (od.maxEjectionPercent ?? 10) >= 100)
        fail(rule, `DestinationRule for ${b}: maxEjectionPercent ${od.maxEjectionPercent} lets the edge's own 504s eject every pod, turning the demo's 504s into 503s`);
    }
    note(rule, `${backends.length} edge backends of ${EDGE_PREFIX}, fault file(s) reaching them: ${edgeFiles.map(([f]) => f).join(", ") || "none"}`);
  }

  /* -------------------------------------------------------------- chaos-probes (UPSTREAM §6) */
  {
    const rule = "chaos-probes";
    const waypointName = ofKind("Namespace").find((d) => d.file.startsWith("istio/ambient/"))?.doc.metadata?.labels?.["istio.io/use-waypoint"];
    let n = 0;
    for (const d of docs)
      for (const f of chaosFaults(d.doc).filter((x) => x.kind === "NetworkChaos")) {
        n++;
        if (d.doc.metadata?.labels?.["microshop.dev/about"] === "probes") continue;
        const s = f.spec;
        const targeted = Boolean(s.target || s.externalTargets?.length);
        // In ambient mode the waypoint carries every call of the pods, their stores' included,
        // and /ready checks those: shaping the packets toward it reaches the probes after all.
        if ((s.target?.selector?.expressionSelectors ?? []).some((e) => e.operator === "In" && e.values.includes(waypointName)) ||
            s.target?.selector?.labelSelectors?.["gateway.networking.k8s.io/gateway-name"] === waypointName)
          fail(rule, `${where(d)} ${f.at}: targets the waypoint, which in ambient mode also carries the pods' PostgreSQL and Redis calls that /ready checks`);
        if (targeted) continue;
        const pods = base.workloads.filter((w) => selects(s.selector?.labelSelectors, w.podLabels));
        const probeTimeouts = pods.flatMap((w) => w.containers.flatMap((c) => [c.readinessProbe, c.livenessProbe].filter(Boolean)
          .map((p) => 1000 * (p.timeoutSeconds ?? DEFAULT_PROBE_TIMEOUT_S))));
        const minProbe = Math.min(...probeTimeouts);
        if (s.action === "delay") {
          const late = durationMs(s.delay?.latency ?? "0s") + (durationMs(s.delay?.jitter ?? "0s") || 0);
          if (late >= minProbe) fail(rule, `${where(d)} ${f.at}: a ${late} ms delay with no target hits every packet, kubelet's probe answers too (timeout ${minProbe} ms): target the data path`);
        } else {
          fail(rule, `${where(d)} ${f.at}: ${s.action} with no target shapes every packet the pods send, kubelet's probe answers too: target the data path`);
        }
      }
    note(rule, `${n} NetworkChaos faults`);
  }

  /* ----------------------------------------------------------- ambient-netpol (UPSTREAM §5) */
  {
    const rule = "ambient-netpol";
    const ambientNs = ofKind("Namespace").find((d) => d.file.startsWith("istio/ambient/"))?.doc;
    const waypoint = ambientNs?.metadata?.labels?.["istio.io/use-waypoint"];
    if (!waypoint) fail(rule, "istio/ambient: the namespace names no waypoint (istio.io/use-waypoint)");
    const waypointPod = { "gateway.networking.k8s.io/gateway-name": waypoint };
    const policies = base.all("NetworkPolicy");
    for (const np of policies) {
      const ingress = np.spec.ingress ?? [];
      if (!(np.spec.policyTypes ?? ["Ingress"]).includes("Ingress")) continue;
      const admitsWaypoint = ingress.some((r) => (r.from ?? []).some((f) => f.podSelector && selects(f.podSelector.matchLabels, waypointPod)) &&
        (!r.ports || r.ports.some((p) => p.port === HBONE_PORT)));
      if (!admitsWaypoint) fail(rule, `NetworkPolicy ${np.metadata.name}: does not admit the waypoint (${waypoint}) on ${HBONE_PORT}; with istio.io/use-waypoint the connections come from it`);
      const admitsProbes = ingress.some((r) => (r.from ?? []).some((f) => f.ipBlock?.cidr === AMBIENT_PROBE_SOURCE) && !r.ports);
      if (!admitsProbes) fail(rule, `NetworkPolicy ${np.metadata.name}: does not admit ${AMBIENT_PROBE_SOURCE}, where ambient mode SNATs kubelet's probes`);
    }
    for (const d of ofKind("Gateway").filter((g) => g.doc.spec.gatewayClassName === "istio"))
      if (d.doc.spec.infrastructure?.labels?.["istio.io/dataplane-mode"] !== "none")
        fail(rule, `${where(d)}: its pods are not labelled istio.io/dataplane-mode=none (spec.infrastructure.labels); in the ambient namespace ztunnel might capture the edge`);
    note(rule, `${policies.length} NetworkPolicies, waypoint ${waypoint}`);
  }

  /* --------------------------------------------------------------------- lab-sequence */
  {
    const rule = "lab-sequence";
    for (const d of docs)
      for (const f of chaosFaults(d.doc).filter((x) => x.kind === "PodChaos"))
        if (f.spec.mode === "all")
          fail(rule, `${where(d)} ${f.at}: ${f.spec.action} with mode: all leaves no replica to serve or to eject to`);
    // Lab 7: a chaos file applied is deleted before the next one is applied.
    let active = null;
    for (const line of lab7.split("\n")) {
      const m = /kubectl (apply|delete) -f (chaos\/\S+|istio\/faults\/\S+)/.exec(line);
      const script = /chaos\/scripts\/experiment\.sh .*?(\S+\.yaml)\s*$/.exec(line);
      if (script) {
        if (active) fail(rule, `lab 7: ${script[1]} runs while ${active} is still applied`);
        continue;
      }
      // A fault VirtualService is undone by applying the mesh's own again.
      if (/kubectl apply -f istio\/mesh\/virtual-services\.yaml/.test(line) && active?.startsWith("istio/faults/")) active = null;
      if (!m) continue;
      if (m[1] === "apply") {
        if (active && active !== m[2]) fail(rule, `lab 7: ${m[2]} is applied while ${active} is still applied`);
        active = m[2];
      } else if (m[2] === active) active = null;
    }
    if (active) fail(rule, `lab 7: ${active} is never deleted`);
    // Ambient pods have no istio-proxy container: a command that needs one says it is for
    // sidecar mode, or its block gives the waypoint's equivalent.
    for (const block of lab7.split(/^```/m).filter((_, i) => i % 2 === 1))
      for (const line of block.split("\n").filter((l) => /-c istio-proxy\b/.test(l)))
        if (!/#.*sidecar/i.test(line) && !/deploy\/waypoint/.test(block))
          fail(rule, `lab 7: "${line.trim()}" needs an istio-proxy container, which ambient pods do not have: say it is for sidecar mode or give the waypoint's command`);
    note(rule, "PodChaos modes, lab 7's order of faults");
  }

  /* ------------------------------------------------------- stress-limit (UPSTREAM §6) */
  {
    const rule = "stress-limit";
    let n = 0;
    const hpas = base.all("HorizontalPodAutoscaler").map((h) => h.spec.scaleTargetRef?.name);
    for (const d of docs)
      for (const f of chaosFaults(d.doc).filter((x) => x.kind === "StressChaos")) {
        n++;
        const pods = base.deployments.filter((w) => selects(f.spec.selector?.labelSelectors, w.podLabels));
        const mem = f.spec.stressors?.memory;
        if (mem) {
          if (!f.spec.containerNames?.length) fail(rule, `${where(d)} ${f.at}: no containerNames (with a sidecar the stress may land in istio-proxy)`);
          // The API says size per worker, the docs say in total: take the larger reading.
          const stress = bytesOf(mem.size) * (mem.workers ?? 1);
          for (const w of pods)
            for (const c of w.containers.filter((x) => (f.spec.containerNames ?? [x.name]).includes(x.name))) {
              const limit = bytesOf(c.resources?.limits?.memory);
              if (!(stress + SERVICE_WORKING_SET <= limit))
                fail(rule, `${where(d)} ${f.at}: ${mem.workers ?? 1} x ${mem.size} of stress + the service's ${SERVICE_WORKING_SET / 2 ** 20} MiB exceed ${w.name}/${c.name}'s ${c.resources?.limits?.memory} limit (OOM kill)`);
            }
        }
        const text = readFileSync(path.join(root, d.file), "utf8");
        if (/(?<!nothing )scales? out|HPA scale/i.test(text))
          for (const w of pods) if (!hpas.includes(w.name)) fail(rule, `${d.file}: says the Deployment scales out, but ${w.name} has no HorizontalPodAutoscaler`);
      }
    note(rule, `${n} StressChaos`);
  }

  /* ------------------------------------------------------------- litmus (UPSTREAM §7) */
  {
    const rule = "litmus";
    if (ofKind("ChaosEngine").length && !/kubectl apply -f \S*litmus-operator-v[0-9.]+\.yaml/.test(kindUp()))
      fail(rule, "scripts/lab/kind-up.sh does not install the Litmus operator (litmus-operator-v<version>.yaml)");
    for (const d of ofKind("ChaosEngine")) {
      const labels = Object.fromEntries(String(d.doc.spec.appinfo?.applabel ?? "").split(",").map((kv) => kv.split("=")));
      for (const e of d.doc.spec.experiments ?? [])
        for (const p of (e.spec?.probe ?? []).filter((x) => x.type === "httpProbe")) {
          const host = new URL(p["httpProbe/inputs"]?.url ?? "http://invalid").hostname;
          const behind = podsOfService(host);
          const others = behind.filter((w) => !selects(labels, w.podLabels)).map((w) => w.name);
          if (!behind.length || others.length)
            fail(rule, `${where(d)}: probe ${p.name} checks ${host}, whose pods include ${others.join(", ") || "nothing"} beside the ones deleted (${d.doc.spec.appinfo?.applabel}): it would pass whatever the experiment did`);
        }
    }
    note(rule, `${ofKind("ChaosEngine").length} ChaosEngines`);
  }

  /* -------------------------------------------------------- one-fault (UPSTREAM §6, §1) */
  {
    const rule = "one-fault";
    const strict = ofKind("PeerAuthentication").some((d) => d.doc.spec.mtls?.mode === "STRICT");
    const files = new Map();
    for (const d of docs.filter((x) => x.file.startsWith("chaos/chaos-mesh/") || x.file.startsWith("istio/faults/"))) {
      if (!files.has(d.file)) files.set(d.file, new Set());
      for (const s of faultSignatures(d.doc)) files.get(d.file).add(s);
      for (const f of chaosFaults(d.doc).filter((x) => x.kind === "HTTPChaos"))
        if (strict && d.doc.metadata?.labels?.["microshop.dev/mesh"] !== "none")
          fail(rule, `${where(d)}: HTTPChaos reads plaintext HTTP on the pod's port, which STRICT mTLS (istio/mesh) makes TLS or HBONE: label it microshop.dev/mesh: none (for a cluster without Istio) or use istio/faults`);
    }
    for (const [file, sigs] of files) if (sigs.size > 1) fail(rule, `${file}: ${sigs.size} faults in one file (${[...sigs].join("; ")}): one fault per file`);
    note(rule, `${files.size} fault files`);
  }

  /* ---------------------------------------------------- retry-budget (UPSTREAM §1) */
  {
    const rule = "retry-budget";
    let n = 0;
    const meshTimeout = new Map(); // Service → [longest route timeout ms, most tries]
    for (const d of [...meshVS, ...faultFiles.filter((x) => x.doc.kind === "VirtualService")])
      for (const [i, r] of (d.doc.spec.http ?? []).entries()) {
        if (r.fault) continue; // no timeout or retries there (edge-fault)
        n++;
        const host = svc(r.route?.[0]?.destination?.host ?? "")?.name;
        const at = `${where(d)} http[${i}]${r.name ? ` (${r.name})` : ""}`;
        const timeout = durationMs(r.timeout ?? "");
        if (!timeout) {
          fail(rule, `${at}: no timeout, so no bound on the tries`);
          continue;
        }
        const t = routeTries(r, connectMsOf(host));
        if (t.error) fail(rule, `${at}: ${t.error}`);
        else if (t.tries * t.perTryMs > timeout)
          fail(rule, `${at}: ${t.tries} tries x ${t.perTryMs} ms = ${t.tries * t.perTryMs} ms exceed the ${timeout} ms timeout (attempts counts retries)`);
        if (d.file.startsWith("istio/mesh/") && host) {
          const [ms, tries] = meshTimeout.get(host) ?? [0, 1];
          meshTimeout.set(host, [Math.max(ms, timeout), Math.max(tries, t.tries ?? 1)]);
        }
      }
    // The services' own layer: <UPSTREAM>_TIMEOUT_MS and _RETRIES from k8s/base, defaults from main.c.
    for (const w of base.deployments)
      for (const c of w.containers) {
        const image = /localhost\/microshop\/([a-z0-9-]+):/.exec(c.image ?? "")?.[1];
        const main = image ? read(`services/${image}/main.c`) : "";
        const env = Object.fromEntries((c.env ?? []).filter((e) => "value" in e).map((e) => [e.name, e.value]));
        // a row of the service's ms_app_upstream table: {.name = "user", .default_url = ..., .timeout_ms = 500, ...}
        for (const m of main.matchAll(/\.name = "(\w+)",\s*\.default_url = [^,]+,\s*\.timeout_ms = (\d+)/g)) {
          const up = m[1].toUpperCase();
          const host = /^https?:\/\/([a-z0-9.-]+)/.exec(env[`${up}_URL`] ?? "")?.[1];
          const mesh = host && meshTimeout.get(svc(host)?.name);
          if (!mesh) continue;
          const appMs = Number(env[`${up}_TIMEOUT_MS`] ?? m[2]);
          const appTries = Number(env[`${up}_RETRIES`] ?? 2) + 1;
          if (appMs <= mesh[0])
            fail(rule, `${w.name}: ${up}_TIMEOUT_MS ${appMs} does not outlast the mesh's ${mesh[0]} ms timeout for ${host}: the service may give up first, wasting the mesh's retries and never seeing its 504`);
          if (appTries * mesh[1] > 3)
            fail(rule, `${w.name}: ${appTries} tries of its own x ${mesh[1]} of the mesh = ${appTries * mesh[1]} requests to ${host} for one call: retry in one layer (${up}_RETRIES=0)`);
        }
      }
    note(rule, `${n} routes, ${meshTimeout.size} hosts with the services' budgets compared`);
  }

  /* ------------------------------------------------------------------- vip-edge-only */
  {
    const rule = "vip-edge-only";
    const forwarded = new Set([...read("common/src/trace.c").matchAll(/"([a-z0-9-]+)"/g)].map((m) => m[1]));
    if (!forwarded.size) fail(rule, "common/src/trace.c: no forwarded header names found");
    for (const d of meshVS)
      for (const [i, r] of (d.doc.spec.http ?? []).entries())
        for (const m of r.match ?? [])
          for (const h of Object.keys(m.headers ?? {}))
            if (!forwarded.has(h.toLowerCase()))
              fail(rule, `${where(d)} http[${i}]: matches header ${h}, which the services do not forward (common/src/trace.c), so calls made by cart or order never match: keep it at the edge`);
    note(rule, `${forwarded.size} forwarded headers`);
  }

  /* -------------------------------------------------------------------- content-tags */
  {
    const rule = "content-tags";
    const out = kindUp();
    const loaded = new Map([...out.matchAll(/^\+ kind load docker-image localhost\/microshop\/([a-z0-9-]+):(\S+)/gm)].map((m) => [m[1], m[2]]));
    const set = new Map([...out.matchAll(/^\+ kubectl -n \S+ set image (\S+) \S+=localhost\/microshop\/([a-z0-9-]+):(\S+)/gm)].map((m) => [m[1], [m[2], m[3]]]));
    for (const w of base.deployments)
      for (const c of w.containers) {
        const image = /^localhost\/microshop\/([a-z0-9-]+):/.exec(c.image ?? "")?.[1];
        if (!image) continue;
        const tag = loaded.get(image);
        const ref = set.get(`deployment/${w.name}`);
        if (!tag || tag === "latest") fail(rule, `kind-up.sh loads ${image} as :${tag ?? "nothing"}, not by content`);
        else if (!ref || ref[0] !== image || ref[1] !== tag) fail(rule, `kind-up.sh does not point deployment/${w.name} at ${image}:${tag} (a rebuild would not roll it)`);
      }
    note(rule, `${loaded.size} images loaded, ${set.size} Deployments pointed at them`);
  }

  /* ---------------------------------------------------------------- tracing (UPSTREAM §8) */
  {
    const rule = "tracing";
    const out = kindUp();
    const providers = new Map();
    for (const m of out.matchAll(/extensionProviders\\?\[(\d+)\\?\]\.([a-z.]+)=(\S+)/g)) {
      if (!providers.has(m[1])) providers.set(m[1], {});
      providers.get(m[1])[m[2]] = m[3];
    }
    const byName = new Map([...providers.values()].map((p) => [p.name, p]));
    const addons = docs.filter((d) => d.file.startsWith("istio/addons/") && d.doc.kind === "Service");
    for (const d of ofKind("Telemetry"))
      for (const t of d.doc.spec.tracing ?? []) {
        if (!t.providers?.length) {
          fail(rule, `${where(d)}: tracing names no provider (Istio would send spans to no backend)`);
          continue;
        }
        for (const p of t.providers) {
          const prov = byName.get(p.name);
          if (!prov) {
            fail(rule, `${where(d)}: provider ${p.name} is not declared by kind-up.sh (meshConfig.extensionProviders)`);
            continue;
          }
          const [name, ns] = String(prov["opentelemetry.service"]).split(".");
          const s = addons.find((a) => a.doc.metadata.name === name && a.doc.metadata.namespace === ns);
          if (!s || !(s.doc.spec.ports ?? []).some((x) => String(x.port) === prov["opentelemetry.port"]))
            fail(rule, `provider ${p.name} sends to ${prov["opentelemetry.service"]}:${prov["opentelemetry.port"]}, which no Service of istio/addons serves`);
        }
      }
    if (!/kubectl apply -k \S*istio\/addons/.test(out)) fail(rule, "scripts/lab/kind-up.sh does not apply istio/addons");
    note(rule, `${providers.size} providers, ${addons.length} addon Services`);
  }

  return { problems, checked, base };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const root = path.resolve(argv[0] === "--root" && argv[1] ? argv[1] : ".");
  const { problems, checked } = await checkSemantics(root);
  for (const c of checked) console.log(`checked ${c}`);
  for (const p of problems) console.log(`FAIL ${p}`);
  if (problems.length) {
    console.log(`semantics: ${problems.length} problem(s)`);
    process.exit(1);
  }
  console.log(`semantics: ok (${Object.keys(RULES).length} rules)`);
}
