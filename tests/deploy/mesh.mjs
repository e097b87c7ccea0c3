#!/usr/bin/env node
// Checks istio/ and chaos/: every YAML file against the vendored CRD schemas and the core
// models, every kustomization rendered, and the cross-file facts a cluster would only reveal
// at run time: routes, hosts, subsets, principals and chaos selectors must name Services,
// pods and ServiceAccounts that k8s/base really has; the product timeout must be 500 ms in the
// HTTPRoute, the VirtualService and gateway/nginx.conf; weights must sum to 100.
//   node tests/deploy/mesh.mjs [--root DIR]     (DIR: a tree with istio/ chaos/ k8s/ gateway/)
// Prints what it checked; exits 1 listing every problem found.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import path from "node:path";
import { loadSuite } from "../../tools/generate/services.mjs";
import { index, loadDocuments, renderKustomize, selects, validateDocuments } from "./lib/validate.mjs";

const NS = "ecommerce";

// The folders checkTree reads: a copy of these is a tree it can check (mesh-typos, mesh-edge).
export const INPUTS = ["istio", "chaos", "k8s", "gateway", "services", "tools/generate"];

// The suite's facts, from services/*/service.json (tools/generate/services.mjs): each path of a
// service's "edge" → the service; who may call whom (least privilege): the services whose
// "calls" name it, and the users of each data store; the product timeout, its edge's; the
// canary's default split (canary.percent), which the hand-written mesh weights must match.
function suiteFacts(root) {
  const { services } = loadSuite(root);
  const edge = {};
  for (const s of services) for (const p of s.edge?.paths ?? []) edge[p.prefix ?? p.exact] = s.name;
  const callers = Object.fromEntries(services.map((s) => [s.name, services.filter((c) => c.calls.includes(s.name)).map((c) => c.name)]));
  for (const store of ["postgres", "redis"]) callers[store] = services.filter((s) => s.stores.includes(store)).map((s) => s.name);
  const product = services.find((s) => s.name === "product");
  const v2 = product?.canary?.percent;
  return { EDGE: edge, CALLERS: callers, PRODUCT_TIMEOUT_MS: durationMs(product?.edge?.timeout), CANARY: { v1: 100 - v2, v2 } };
}
// Identities outside the namespace that policies may name: the Prometheus of kube-prometheus-stack
// (monitoring/k8s labels its ServiceMonitors for that release).
const EXTERNAL_PRINCIPALS = new Set(["cluster.local/ns/monitoring/sa/kube-prometheus-stack-prometheus"]);

function yamlFiles(dir) {
  if (!existsSync(dir)) return [];
  const out = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...yamlFiles(p));
    else if (/\.ya?ml$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

// Go/Gateway API/Istio/nginx durations ("500ms", "0.5s", "1m30s", "15s") → milliseconds.
export function durationMs(text) {
  const s = String(text).trim();
  const re = /([0-9]+(?:\.[0-9]+)?)(ms|s|m|h)/gy;
  let total = 0;
  let m;
  let end = 0;
  while ((m = re.exec(s))) {
    total += Number(m[1]) * { ms: 1, s: 1000, m: 60000, h: 3600000 }[m[2]];
    end = re.lastIndex;
  }
  return end === s.length && end > 0 ? total : NaN;
}

// Checks the tree at root; returns {problems, checked, base} (lists of strings; base is the
// index of the rendered k8s/base, reusable through opts.base). opts.kustomize === false skips
// rendering the kustomizations under istio/ and chaos/.
export async function checkTree(root, opts = {}) {
  const rel = (p) => path.relative(root, p) || ".";
  const problems = [];
  const checked = [];
  const fail = (msg) => problems.push(msg);
  const note = (what, n) => checked.push(`${what}: ${n}`);
  const { EDGE, CALLERS, PRODUCT_TIMEOUT_MS, CANARY } = suiteFacts(root);

  /* ------------------------------------------------------------ documents */

  const files = [...yamlFiles(path.join(root, "istio")), ...yamlFiles(path.join(root, "chaos"))];
  const manifestFiles = files.filter((f) => path.basename(f) !== "kustomization.yaml");
  if (manifestFiles.length === 0) fail("no YAML files under istio/ or chaos/");
  const docs = [];
  for (const f of manifestFiles) {
    try {
      docs.push(...(await loadDocuments([f])));
    } catch (e) {
      fail(`yaml: ${e.message}`);
    }
  }
  for (const d of docs) d.file = rel(d.file);
  for (const e of await validateDocuments(docs)) fail(`schema: ${e}`);
  note("documents validated against the CRD schemas and core models", `${docs.length} in ${manifestFiles.length} files`);

  const ofKind = (kind) => docs.filter((d) => d.doc.kind === kind && !d.file.startsWith("istio/addons/"));
  const where = (d) => `${d.file}: ${d.doc.kind}/${d.doc.metadata?.name}`;
  // The mesh's addons (istio/addons: Jaeger, Kiali) live beside Istio, in istio-system; their
  // cluster-wide RBAC has no namespace.
  const CLUSTER_KINDS = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding"]);
  for (const d of docs) {
    const ns = d.doc.metadata?.namespace;
    const want = d.file.startsWith("istio/addons/") ? "istio-system" : NS;
    if (CLUSTER_KINDS.has(d.doc.kind) ? ns !== undefined : ns !== want)
      fail(`${where(d)}: namespace is ${ns ?? "unset"}, expected ${CLUSTER_KINDS.has(d.doc.kind) ? "none" : want}`);
  }

  /* --------------------------------------------------------- k8s/base */

  let base = opts.base;
  if (!base) {
    try {
      base = index(renderKustomize(path.join(root, "k8s", "base")));
    } catch (e) {
      fail(`k8s/base: ${e.message}`);
      base = index([]);
    }
  }
  const svcByName = new Map(base.services.filter((s) => (s.namespace ?? NS) === NS).map((s) => [s.name, s]));
  note("k8s/base rendered", `${base.docs.length} documents, ${svcByName.size} Services, ${base.workloads.length} workloads`);
  for (const name of [...new Set(Object.values(EDGE)), "product-v1", "product-v2"])
    if (!svcByName.has(name)) fail(`k8s/base: no Service ${name} in namespace ${NS}`);

  // A host or backend name → the Service it names in ecommerce, or null.
  function serviceOf(host) {
    const m = /^([a-z0-9-]+)(?:\.([a-z0-9-]+)(?:\.svc(?:\.cluster\.local)?)?)?$/.exec(host ?? "");
    if (!m || (m[2] && m[2] !== NS)) return null;
    return svcByName.get(m[1]) ?? null;
  }
  function hasPort(svc, port) {
    return svc.ports.some((p) => p.port === port);
  }
  // Workloads (k8s/base and the Gateways' own pods) whose pod labels a selector selects.
  const gateways = ofKind("Gateway").map((d) => d.doc);
  const gatewayPods = gateways.map((g) => ({ "gateway.networking.k8s.io/gateway-name": g.metadata.name }));
  function selectsPods(selector) {
    return base.workloads.some((w) => selects(selector, w.podLabels)) || gatewayPods.some((l) => selects(selector, l));
  }
  // The Deployments a Service routes to, optionally narrowed to extra pod labels.
  function podsOf(svc, extra = {}) {
    return base.workloads.filter((w) => selects(svc.selector, w.podLabels) && Object.entries(extra).every(([k, v]) => w.podLabels[k] === v));
  }

  /* ------------------------------------------------------- kustomizations */

  // The Namespace labels of the shop as k8s/base and each overlay in k8s/overlays render it.
  const shopNamespaceLabels = [["k8s/base", base.get("Namespace", NS)?.metadata?.labels ?? {}]];
  const overlays = path.join(root, "k8s", "overlays");
  if (opts.kustomize !== false && existsSync(overlays)) {
    for (const o of readdirSync(overlays).sort()) {
      if (!existsSync(path.join(overlays, o, "kustomization.yaml"))) continue;
      try {
        const ns = renderKustomize(path.join(overlays, o)).find((r) => r.doc.kind === "Namespace" && r.doc.metadata.name === NS);
        if (ns) shopNamespaceLabels.push([`k8s/overlays/${o}`, ns.doc.metadata.labels ?? {}]);
      } catch (e) {
        fail(`k8s/overlays/${o}: ${e.message}`);
      }
    }
  }
  for (const k of opts.kustomize === false ? [] : files.filter((f) => path.basename(f) === "kustomization.yaml")) {
    const dir = path.dirname(k);
    let rendered;
    try {
      rendered = renderKustomize(dir);
    } catch (e) {
      fail(`${rel(k)}: ${e.message}`);
      continue;
    }
    for (const e of await validateDocuments(rendered)) fail(`schema (rendered ${rel(dir)}): ${e}`);
    const key = (d) => `${d.kind}/${d.metadata?.namespace}/${d.metadata?.name}`;
    const have = new Set(rendered.map((r) => key(r.doc)));
    for (const d of docs.filter((x) => path.dirname(path.join(root, x.file)) === dir))
      if (!have.has(key(d.doc))) fail(`${rel(k)}: does not include ${where(d)}`);
    const nsDoc = rendered.find((r) => r.doc.kind === "Namespace" && r.doc.metadata.name === NS)?.doc;
    const labels = nsDoc?.metadata?.labels ?? {};
    if (nsDoc) {
      // Applied after the shop: kubectl apply would drop a label of the base Namespace it lacks.
      for (const [from, baseLabels] of shopNamespaceLabels)
        for (const [k, v] of Object.entries(baseLabels))
          if (labels[k] !== v) fail(`${rel(dir)}: Namespace ${NS} lacks the label ${k}=${v} of ${from} (applying it after the shop would remove it)`);
      if (rendered.some((r) => ["Deployment", "StatefulSet"].includes(r.doc.kind)))
        fail(`${rel(dir)}: renders workloads; the mesh layer must not re-apply the shop over its overlay`);
    }
    if (path.basename(dir) === "sidecar" && labels["istio-injection"] !== "enabled")
      fail(`${rel(k)}: namespace ${NS} lacks istio-injection=enabled`);
    if (path.basename(dir) === "ambient") {
      if (labels["istio.io/dataplane-mode"] !== "ambient") fail(`${rel(k)}: namespace ${NS} lacks istio.io/dataplane-mode=ambient`);
      const wp = labels["istio.io/use-waypoint"];
      if (!gateways.some((g) => g.metadata.name === wp && g.spec.gatewayClassName === "istio-waypoint"))
        fail(`${rel(k)}: istio.io/use-waypoint=${wp} names no Gateway of class istio-waypoint`);
    }
    note(`kustomization ${rel(dir)} rendered and validated`, `${rendered.length} documents`);
  }

  /* ------------------------------------------------------- Gateway API */

  const edgeSeen = new Map();
  let productRouteTimeouts = [];
  for (const d of ofKind("HTTPRoute")) {
    const r = d.doc;
    for (const p of r.spec.parentRefs ?? [])
      if (!gateways.some((g) => g.metadata.name === p.name && g.spec.gatewayClassName === "istio" &&
          (!p.sectionName || g.spec.listeners.some((l) => l.name === p.sectionName))))
        fail(`${where(d)}: parentRef ${p.name}/${p.sectionName ?? ""} is no listener of an istio-class Gateway`);
    for (const [i, rule] of (r.spec.rules ?? []).entries()) {
      const at = `${where(d)} rule ${i}`;
      const refs = rule.backendRefs ?? [];
      for (const b of refs) {
        const svc = serviceOf(b.name);
        if ((b.kind ?? "Service") !== "Service" || !svc) fail(`${at}: backendRef ${b.name} is no Service in ${NS}`);
        else if (!hasPort(svc, b.port)) fail(`${at}: Service ${b.name} has no port ${b.port}`);
      }
      if (refs.length > 1) {
        const sum = refs.reduce((s, b) => s + (b.weight ?? 1), 0);
        if (sum !== 100) fail(`${at}: backend weights sum to ${sum}, not 100`);
      }
      for (const m of rule.matches ?? []) {
        const prefix = m.path?.value;
        const target = EDGE[prefix];
        if (!target) {
          fail(`${at}: path ${prefix} is not one of the edge's prefixes`);
          continue;
        }
        for (const b of refs)
          if (b.name !== target && !b.name.startsWith(`${target}-`)) fail(`${at}: ${prefix} routes to ${b.name}, expected ${target}`);
        edgeSeen.set(prefix, (edgeSeen.get(prefix) ?? 0) + 1);
        if (prefix === "/products") {
          productRouteTimeouts.push([at, rule.timeouts?.request]);
          const vip = (m.headers ?? []).some((h) => h.name.toLowerCase() === "x-user-type" && h.value === "vip");
          const names = refs.map((b) => `${b.name}:${b.weight ?? 1}`).sort().join(",");
          if (vip && names !== "product-v2:1") fail(`${at}: x-user-type: vip must go to product-v2 only, goes to ${names}`);
          if (!m.headers && names !== `product-v1:${CANARY.v1},product-v2:${CANARY.v2}`)
            fail(`${at}: /products must split product-v1 ${CANARY.v1} / product-v2 ${CANARY.v2} (canary.percent), is ${names}`);
        }
      }
    }
  }
  for (const p of Object.keys(EDGE)) if (!edgeSeen.has(p)) fail(`HTTPRoutes: no route for ${p}`);
  if (!productRouteTimeouts.length) fail("HTTPRoutes: no /products rule");
  for (const [at, t] of productRouteTimeouts)
    if (durationMs(t) !== PRODUCT_TIMEOUT_MS) fail(`${at}: timeouts.request is ${t}, expected ${PRODUCT_TIMEOUT_MS}ms`);
  note("HTTPRoutes (parents, backends, ports, weights, vip rule, product timeout)", ofKind("HTTPRoute").length);

  /* ------------------------------------------------- gateway/nginx.conf */

  // The proxy_read_timeout of the nginx location serving PREFIX, or null.
  function nginxTimeout(conf, prefix) {
    const esc = prefix.replace(/\//g, "\\/");
    // "/" is the page alone (location = /); any other prefix is the first location naming it.
    const loc = prefix === "/" ? /location\s+=\s*\/\s*\{/g : new RegExp(`location\\s+(?:[~=^]+\\s*)?[^{]*${esc}[^{]*\\{`, "g");
    const m = loc.exec(conf);
    if (!m) return null;
    let depth = 1;
    let i = m.index + m[0].length;
    const start = i;
    while (i < conf.length && depth > 0) {
      if (conf[i] === "{") depth++;
      else if (conf[i] === "}") depth--;
      i++;
    }
    const body = conf.slice(start, i - 1).replace(/#[^\n]*/g, "");
    return /(?:^|[\s;])proxy_read_timeout\s+([0-9a-z.]+)\s*;/.exec(body)?.[1] ?? null;
  }
  // nginx.conf and the generated locations it includes (gateway/edge-routes.conf).
  const nginxConf = path.join(root, "gateway", "nginx.conf");
  const edgeRoutesConf = path.join(root, "gateway", "edge-routes.conf");
  if (existsSync(nginxConf)) {
    const conf = readFileSync(nginxConf, "utf8") + (existsSync(edgeRoutesConf) ? readFileSync(edgeRoutesConf, "utf8") : "");
    const edgeRoutes = ofKind("HTTPRoute");
    for (const [prefix, svc] of Object.entries(EDGE)) {
      const t = nginxTimeout(conf, prefix);
      if (t === null) {
        fail(`gateway/nginx.conf (with edge-routes.conf): no proxy_read_timeout in the location for ${prefix} (${svc})`);
        continue;
      }
      const routeTimeouts = edgeRoutes.flatMap((d) => (d.doc.spec.rules ?? [])
        .filter((r) => (r.matches ?? []).some((m) => m.path?.value === prefix))
        .map((r) => r.timeouts?.request));
      for (const rt of routeTimeouts)
        if (durationMs(rt) !== durationMs(t))
          fail(`timeouts disagree for ${prefix} (${svc}): HTTPRoute ${rt}, gateway/nginx.conf proxy_read_timeout ${t}`);
    }
    note("gateway/nginx.conf proxy_read_timeout per prefix agrees with the HTTPRoutes", Object.keys(EDGE).length);
  } else {
    note("gateway/nginx.conf", "absent, not compared");
  }

  /* ---------------------------------------------- Istio traffic objects */

  const drs = ofKind("DestinationRule");
  const drByService = new Map();
  for (const d of drs) {
    const svc = serviceOf(d.doc.spec.host);
    if (!svc) {
      fail(`${where(d)}: host ${d.doc.spec.host} is no Service in ${NS}`);
      continue;
    }
    if (drByService.has(svc.name)) fail(`${where(d)}: a second DestinationRule for ${svc.name}`);
    drByService.set(svc.name, d.doc);
    const tp = d.doc.spec.trafficPolicy ?? {};
    if (!tp.connectionPool || !tp.outlierDetection) fail(`${where(d)}: needs trafficPolicy.connectionPool and outlierDetection`);
    if (tp.tls?.mode && tp.tls.mode !== "ISTIO_MUTUAL") fail(`${where(d)}: tls.mode ${tp.tls.mode} in a STRICT mTLS namespace`);
    for (const s of d.doc.spec.subsets ?? [])
      if (!Object.keys(s.labels ?? {}).length || podsOf(svc, s.labels).length === 0)
        fail(`${where(d)}: subset ${s.name} (${JSON.stringify(s.labels)}) matches no pod of Service ${svc.name}`);
  }
  for (const svc of new Set(Object.values(EDGE))) if (!drByService.has(svc)) fail(`DestinationRules: none for ${svc}`);
  const productSubsets = (drByService.get("product")?.spec.subsets ?? []).map((s) => s.name).sort().join(",");
  if (productSubsets !== "v1,v2") fail(`DestinationRule product: subsets are ${productSubsets || "none"}, expected v1,v2`);
  note("DestinationRules (hosts, subsets match pods, pool and outlier limits)", drs.length);

  const vss = ofKind("VirtualService");
  const meshVsNames = new Set(vss.filter((d) => !d.file.includes("/faults/")).map((d) => d.doc.metadata.name));
  const vsByHost = new Map();
  for (const d of vss) {
    const vs = d.doc;
    const isFault = d.file.includes("/faults/");
    const meshHosts = new Set(vss.filter((x) => !x.file.includes("/faults/")).flatMap((x) => (x.doc.spec.hosts ?? []).map((h) => serviceOf(h)?.name)));
    if (isFault && !meshVsNames.has(vs.metadata.name) && (vs.spec.hosts ?? []).some((h) => meshHosts.has(serviceOf(h)?.name)))
      fail(`${where(d)}: a fault VirtualService for a host the mesh already routes must replace that VirtualService (same name; two VirtualServices for one host conflict)`);
    for (const h of vs.spec.hosts ?? []) {
      const svc = serviceOf(h);
      if (!svc) fail(`${where(d)}: host ${h} is no Service in ${NS}`);
      else if (!isFault) {
        if (vsByHost.has(svc.name)) fail(`${where(d)}: a second VirtualService for host ${svc.name}`);
        vsByHost.set(svc.name, vs);
      }
    }
    for (const [i, route] of (vs.spec.http ?? []).entries()) {
      const at = `${where(d)} http[${i}]${route.name ? ` (${route.name})` : ""}`;
      const dests = route.route ?? [];
      for (const r of dests) {
        const svc = serviceOf(r.destination.host);
        if (!svc) {
          fail(`${at}: destination ${r.destination.host} is no Service in ${NS}`);
          continue;
        }
        // Istio (Destination.port): "if a service exposes only a single port it is not required
        // to explicitly select the port"; with several it is ambiguous (analyzer IST0112). The
        // routes name none, so a port lives only in service.json (make generate).
        if (r.destination.port?.number && !hasPort(svc, r.destination.port.number))
          fail(`${at}: Service ${svc.name} has no port ${r.destination.port.number}`);
        else if (!r.destination.port && (svc.ports ?? []).length !== 1)
          fail(`${at}: no destination port, and Service ${svc.name} has ${(svc.ports ?? []).length} ports (IST0112)`);
        const subset = r.destination.subset;
        if (subset && !(drByService.get(svc.name)?.spec.subsets ?? []).some((s) => s.name === subset))
          fail(`${at}: subset ${subset} is not defined by a DestinationRule for ${svc.name}`);
      }
      if (dests.length > 1 || dests.some((r) => r.weight !== undefined)) {
        const sum = dests.reduce((s, r) => s + (r.weight ?? 0), 0);
        if (sum !== 100) fail(`${at}: weights sum to ${sum}, not 100`);
      }
      // A route with a fault gets no timeout or retries: Istio would not apply them beside it
      // (tests/deploy/semantics.mjs says why); every other route needs its timeout.
      if (!route.fault && !route.timeout) fail(`${at}: no timeout`);
      if (!isFault && !(route.retries?.attempts >= 1 && route.retries?.retryOn))
        fail(`${at}: retries need attempts and retryOn`);
      const hosts = (vs.spec.hosts ?? []).map((h) => serviceOf(h)?.name);
      if (hosts.includes("product")) {
        if (!route.fault && durationMs(route.timeout) !== PRODUCT_TIMEOUT_MS)
          fail(`${at}: timeout ${route.timeout}, expected ${PRODUCT_TIMEOUT_MS / 1000}s like the HTTPRoute`);
        if (!isFault && !route.retries?.perTryTimeout) fail(`${at}: product retries need perTryTimeout`);
        const split = dests.map((r) => `${r.destination.subset}:${r.weight ?? 100}`).sort().join(",");
        const vip = (route.match ?? []).some((m) => m.headers?.["x-user-type"]?.exact === "vip");
        if (vip && split !== "v2:100") fail(`${at}: x-user-type: vip must go to subset v2 only, goes to ${split}`);
        if (!route.match && split !== `v1:${CANARY.v1},v2:${CANARY.v2}`)
          fail(`${at}: product must split v1 ${CANARY.v1} / v2 ${CANARY.v2} (canary.percent), is ${split}`);
      }
    }
  }
  for (const svc of new Set(Object.values(EDGE))) if (!vsByHost.has(svc)) fail(`VirtualServices: none for ${svc}`);
  const faults = vss.filter((d) => d.file.includes("/faults/"));
  for (const f of ["delay", "abort"])
    if (!faults.some((d) => (d.doc.spec.http ?? []).some((r) => r.fault?.[f]?.percentage)))
      fail(`istio/faults: no VirtualService with a${f === "abort" ? "n" : ""} ${f} by percentage`);
  note("VirtualServices (hosts, destinations, subsets, weights, timeouts, retries, faults)", vss.length);

  /* --------------------------------------------------------- security */

  const pa = ofKind("PeerAuthentication");
  if (!pa.some((d) => !d.doc.spec.selector && d.doc.spec.mtls?.mode === "STRICT"))
    fail("PeerAuthentication: none STRICT for the whole namespace");

  const chaosSAs = new Set(docs.filter((d) => d.doc.kind === "ServiceAccount").map((d) => d.doc.metadata.name));
  const gatewaySAs = new Set(gateways.map((g) => (g.spec.gatewayClassName === "istio-waypoint" ? g.metadata.name : `${g.metadata.name}-${g.spec.gatewayClassName}`)));
  const edgeSA = gateways.find((g) => g.spec.gatewayClassName === "istio");
  const edgePrincipal = edgeSA ? `cluster.local/ns/${NS}/sa/${edgeSA.metadata.name}-istio` : null;
  function principalOk(p) {
    if (EXTERNAL_PRINCIPALS.has(p)) return true;
    const m = /^cluster\.local\/ns\/([a-z0-9-]+)\/sa\/([a-z0-9-]+)$/.exec(p);
    return Boolean(m) && m[1] === NS && (base.serviceAccounts.has(m[2]) || chaosSAs.has(m[2]) || gatewaySAs.has(m[2]));
  }
  const L7 = ["methods", "notMethods", "paths", "notPaths", "hosts", "notHosts"];
  for (const mode of ["sidecar", "ambient"]) {
    const aps = docs.filter((d) => d.doc.kind === "AuthorizationPolicy" && (d.file.includes(`istio/${mode}/`) || d.file.includes("istio/mesh/")));
    if (!aps.some((d) => Object.keys(d.doc.spec ?? {}).length === 0)) fail(`istio/${mode}: no allow-nothing policy (deny by default)`);
    // The principals each service admits, from the policies that apply to it in this mode.
    const admits = new Map();
    for (const d of aps) {
      const spec = d.doc.spec ?? {};
      const sel = spec.selector?.matchLabels;
      if (sel && !selectsPods(sel)) fail(`${where(d)}: selector ${JSON.stringify(sel)} matches no pod`);
      const targets = [];
      for (const t of spec.targetRefs ?? []) {
        if (t.kind === "Service" && !svcByName.has(t.name)) fail(`${where(d)}: targetRef Service ${t.name} does not exist`);
        else if (t.kind === "Gateway" && !gateways.some((g) => g.metadata.name === t.name)) fail(`${where(d)}: targetRef Gateway ${t.name} does not exist`);
        else if (t.kind === "Service") targets.push(...podsOf(svcByName.get(t.name)).map((w) => w.podLabels.app));
      }
      if (sel) targets.push(...base.workloads.filter((w) => selects(sel, w.podLabels)).map((w) => w.podLabels.app));
      const onGateway = sel && gatewayPods.some((l) => selects(sel, l));
      if (mode === "ambient" && !spec.targetRefs && !onGateway && (spec.rules ?? []).some((r) => (r.to ?? []).some((t) => L7.some((f) => t.operation?.[f]))))
        fail(`${where(d)}: ztunnel enforces this policy (no targetRefs) and cannot match ${L7.join("/")}`);
      for (const r of spec.rules ?? [])
        for (const f of r.from ?? [])
          for (const p of f.source?.principals ?? []) {
            if (!principalOk(p)) fail(`${where(d)}: principal ${p} is no ServiceAccount of ${NS}, gateway or known external identity`);
            for (const app of new Set(targets)) {
              if (!admits.has(app)) admits.set(app, new Set());
              admits.get(app).add(p);
            }
          }
    }
    // Least privilege: exactly the expected callers (plus the edge and probe identities).
    for (const [app, callers] of Object.entries(CALLERS)) {
      const got = [...(admits.get(app) ?? [])];
      const svcCallers = [...new Set(got.map((p) => /\/sa\/([a-z0-9-]+)$/.exec(p)?.[1]).filter((sa) => base.serviceAccounts.has(sa)))].sort();
      const want = [...new Set(base.workloads.filter((w) => callers.includes(w.podLabels.app))
        .map((w) => w.podSpec.serviceAccountName ?? "default"))].sort();
      if (svcCallers.join(",") !== want.join(","))
        fail(`istio/${mode}: ${app} admits the ServiceAccounts [${svcCallers}], expected [${want}] (the workloads of ${callers.join(", ") || "nobody"})`);
      const isEdge = Object.values(EDGE).includes(app);
      if (isEdge && edgePrincipal && !got.includes(edgePrincipal)) fail(`istio/${mode}: ${app} does not admit the edge gateway ${edgePrincipal}`);
      if (!isEdge && edgePrincipal && got.includes(edgePrincipal)) fail(`istio/${mode}: ${app} admits the edge gateway`);
    }
    note(`AuthorizationPolicies for ${mode} mode (selectors, targetRefs, principals, call graph)`, aps.length);
  }

  /* ------------------------------------------------------------ chaos */

  // Every Chaos Mesh selector (at any depth: spec, target, Schedule, Workflow templates).
  function chaosSelectors(obj, at, out) {
    if (Array.isArray(obj)) obj.forEach((v, i) => chaosSelectors(v, `${at}/${i}`, out));
    else if (obj && typeof obj === "object") {
      for (const [k, v] of Object.entries(obj)) {
        if (k === "selector" && v && typeof v === "object") out.push([`${at}/selector`, v]);
        else chaosSelectors(v, `${at}/${k}`, out);
      }
    }
    return out;
  }
  let nSelectors = 0;
  const deployments = base.deployments;
  for (const d of docs.filter((x) => x.doc.apiVersion?.startsWith("chaos-mesh.org/"))) {
    const sels = chaosSelectors(d.doc.spec, "/spec", []);
    if (!sels.length) fail(`${where(d)}: no selector`);
    for (const [at, s] of sels) {
      nSelectors++;
      if (JSON.stringify(s.namespaces) !== JSON.stringify([NS])) fail(`${where(d)} ${at}: namespaces must be [${NS}], is ${JSON.stringify(s.namespaces)}`);
      const exprOk = (labels) => (s.expressionSelectors ?? []).every((e) => e.operator === "In" ? e.values.includes(labels[e.key]) :
        e.operator === "NotIn" ? !e.values.includes(labels[e.key]) : e.operator === "Exists" ? e.key in labels : !(e.key in labels));
      // The edge's Envoys (the gateway, the waypoint) are pods too: a delay toward them is the data path.
      const pods = [...deployments.map((w) => w.podLabels), ...gatewayPods];
      const hit = pods.filter((l) => (!s.labelSelectors || selects(s.labelSelectors, l)) && exprOk(l));
      if (!hit.length || (!s.labelSelectors && !s.expressionSelectors))
        fail(`${where(d)} ${at}: labelSelectors ${JSON.stringify(s.labelSelectors)} ${JSON.stringify(s.expressionSelectors ?? [])} match no Deployment's pods`);
      for (const e of s.expressionSelectors ?? [])
        for (const v of e.values ?? []) if (!pods.some((l) => l[e.key] === v)) fail(`${where(d)} ${at}: expressionSelectors ${e.key}=${v} matches no pod`);
      for (const k of Object.keys(s)) if (!["namespaces", "labelSelectors", "expressionSelectors"].includes(k)) fail(`${where(d)} ${at}: unexpected selector field ${k}`);
    }
    if (d.doc.kind === "HTTPChaos") {
      const ports = deployments.filter((w) => selects(d.doc.spec.selector?.labelSelectors, w.podLabels))
        .flatMap((w) => w.containers.flatMap((c) => (c.ports ?? []).map((p) => p.containerPort)));
      if (!ports.includes(d.doc.spec.port)) fail(`${where(d)}: port ${d.doc.spec.port} is not a container port of the selected pods`);
    }
    if (d.doc.kind === "Workflow") {
      const names = new Set((d.doc.spec.templates ?? []).map((t) => t.name));
      if (!names.has(d.doc.spec.entry)) fail(`${where(d)}: entry ${d.doc.spec.entry} is no template`);
      for (const t of d.doc.spec.templates ?? [])
        for (const c of t.children ?? []) if (!names.has(c)) fail(`${where(d)}: template ${t.name} child ${c} is no template`);
    }
  }
  const kinds = new Set(docs.map((d) => d.doc.kind));
  for (const k of ["NetworkChaos", "PodChaos", "StressChaos", "HTTPChaos", "Schedule", "Workflow", "ChaosEngine", "ChaosExperiment"])
    if (!kinds.has(k)) fail(`chaos: no ${k}`);
  const productDelay = ofKind("NetworkChaos").some((d) => d.doc.spec.action === "delay" && d.doc.spec.selector?.labelSelectors?.app === "product" && durationMs(d.doc.spec.delay?.latency) === 2000);
  if (!productDelay) fail("chaos: no NetworkChaos delaying product by 2s");
  note("Chaos Mesh selectors match Deployments' pods in ecommerce", nSelectors);

  const experiments = new Set(ofKind("ChaosExperiment").map((d) => d.doc.metadata.name));
  for (const d of ofKind("ChaosEngine")) {
    const s = d.doc.spec;
    if (s.appinfo?.appns !== NS) fail(`${where(d)}: appinfo.appns is ${s.appinfo?.appns}, expected ${NS}`);
    const labels = Object.fromEntries(String(s.appinfo?.applabel ?? "").split(",").map((kv) => kv.split("=")));
    if (s.appinfo?.appkind !== "deployment" || !deployments.some((w) => selects(labels, w.podLabels)))
      fail(`${where(d)}: appinfo ${s.appinfo?.appkind} ${s.appinfo?.applabel} matches no Deployment's pods`);
    if (!chaosSAs.has(s.chaosServiceAccount)) fail(`${where(d)}: chaosServiceAccount ${s.chaosServiceAccount} is not defined under chaos/`);
    for (const e of s.experiments ?? []) {
      if (!experiments.has(e.name)) fail(`${where(d)}: experiment ${e.name} has no ChaosExperiment`);
      const probes = e.spec?.probe ?? [];
      if (!probes.some((p) => p.type === "httpProbe")) fail(`${where(d)}: experiment ${e.name} has no httpProbe`);
      for (const p of probes.filter((x) => x.type === "httpProbe")) {
        let u;
        try {
          u = new URL(p["httpProbe/inputs"]?.url);
        } catch {
          fail(`${where(d)}: probe ${p.name} has no valid url`);
          continue;
        }
        const svc = serviceOf(u.hostname);
        if (!svc || !hasPort(svc, Number(u.port))) fail(`${where(d)}: probe ${p.name} url ${u} names no Service port in ${NS}`);
        if (u.pathname !== "/ready") fail(`${where(d)}: probe ${p.name} checks ${u.pathname}, expected /ready`);
        if (!p["httpProbe/inputs"]?.method?.get?.responseCode) fail(`${where(d)}: probe ${p.name} has no expected responseCode`);
        for (const f of ["probeTimeout", "interval"])
          if (Number.isNaN(durationMs(p.runProperties?.[f]))) fail(`${where(d)}: probe ${p.name} runProperties.${f} is not a duration`);
      }
    }
  }
  for (const d of ofKind("RoleBinding"))
    for (const s of d.doc.subjects ?? [])
      if (s.kind === "ServiceAccount" && !chaosSAs.has(s.name)) fail(`${where(d)}: subject ${s.name} is not defined`);
  note("Litmus ChaosEngines (app, experiment, service account, probe)", ofKind("ChaosEngine").length);

  return { problems, checked, base };
}

/* ------------------------------------------------------------ report */

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const argv = process.argv.slice(2);
  const root = path.resolve(argv[0] === "--root" && argv[1] ? argv[1] : ".");
  const { problems, checked } = await checkTree(root);
  for (const c of checked) console.log(`checked ${c}`);
  if (problems.length) {
    for (const p of problems) console.log(`FAIL ${p}`);
    console.log(`mesh: ${problems.length} problem(s)`);
    process.exit(1);
  }
  console.log("mesh: ok");
}
