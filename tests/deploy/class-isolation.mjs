#!/usr/bin/env node
// Isolation of a class rendered by scripts/class/class.mjs (issue 11, item 7), offline:
//   node tests/deploy/class-isolation.mjs CLASS_DIR
// For every attendee-N/ of CLASS_DIR:
//   namespace  every namespaced object lands in shop-N (plain files name it: `kubectl apply -f`
//              would otherwise use the context's namespace); no cluster-scoped object but the
//              attendee's own Namespace;
//   chaos      every Chaos Mesh selector (wherever it sits: selector, target.selector, a Schedule's
//              or a Workflow's templates) names exactly shop-N in namespaces (read either way,
//              whether an empty list means "the experiment's namespace" or "all"), no pods of
//              another namespace; Litmus' appns is shop-N and its probes call shop-N's Services;
//              Istio faults (VirtualService, EnvoyFilter) sit in shop-N, select workloads there,
//              and name only shop-N's hosts;
//   identity   AuthorizationPolicies name only shop-N's identities and namespaces;
//   routes     HTTPRoutes and VirtualServices attach to and send to shop-N only, Gateways admit
//              routes of their own namespace only;
// and across the class: no two attendees share a namespace, a node port or a hostname; every
// node port is mapped by shared/k8s/kind-cluster.yaml; the shared monitors select only the
// class's namespaces; nothing anywhere still names "ecommerce".
// Prints one line per problem and exits 1 if there is any.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseDocuments, renderKustomize } from "./lib/validate.mjs";
import { MONITORING_NAMESPACE } from "../../scripts/class/class.mjs";

const FQDN = /^([a-z0-9-]+)\.([a-z0-9-]+)(\.svc(\.cluster\.local)?)?$/;
const CLUSTER_SCOPED = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
  "GatewayClass", "PersistentVolume", "StorageClass", "MutatingWebhookConfiguration", "ValidatingWebhookConfiguration"]);
const CHAOS_MESH = "chaos-mesh.org";
// Identities of the cluster-wide part an attendee's policies may admit (Prometheus scrapes
// every attendee): shared, never another attendee's.
const SHARED_NAMESPACES = [MONITORING_NAMESPACE, "istio-system"];

function walkFiles(dir) {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = path.join(dir, e.name);
    return e.isDirectory() ? walkFiles(p) : [p];
  });
}

// The kustomization directories DIR builds on (itself, its resources and components, theirs).
function kustomizeInputs(dir, seen = new Set()) {
  const k = path.join(dir, "kustomization.yaml");
  if (seen.has(dir) || !existsSync(k)) return seen;
  seen.add(dir);
  const spec = parseDocuments(readFileSync(k, "utf8"), k)[0]?.doc ?? {};
  for (const r of [...(spec.resources ?? []), ...(spec.components ?? [])]) kustomizeInputs(path.resolve(dir, r), seen);
  return seen;
}

// renderKustomize, remembered in MS_KUSTOMIZE_CACHE (when set) under a hash of every file it
// reads: the planted violations of class.test.sh change one file, so most renders are reused.
function render(dir) {
  const cache = process.env.MS_KUSTOMIZE_CACHE;
  if (!cache) return renderKustomize(dir);
  const h = createHash("sha1");
  for (const d of [...kustomizeInputs(path.resolve(dir))].sort())
    for (const f of walkFiles(d).sort()) h.update(`${path.relative(dir, f)}\0${readFileSync(f)}\0`);
  const file = path.join(cache, `${h.digest("hex")}.json`);
  if (existsSync(file)) return JSON.parse(readFileSync(file, "utf8")).map((doc) => ({ file: `${dir} (kustomize)`, doc }));
  const docs = renderKustomize(dir);
  mkdirSync(cache, { recursive: true });
  writeFileSync(file, JSON.stringify(docs.map((d) => d.doc)));
  return docs;
}

// The objects an attendee applies: every kustomization no other one includes (k8s/base and
// istio/mesh are read through the overlays that include them), and every YAML file outside one.
export function attendeeObjects(dir) {
  const docs = [];
  const files = walkFiles(dir).filter((f) => /\.ya?ml$/.test(f));
  const kdirs = files.filter((f) => path.basename(f) === "kustomization.yaml").map((f) => path.dirname(f));
  const included = new Set();
  for (const k of kdirs) {
    const spec = parseDocuments(readFileSync(path.join(k, "kustomization.yaml"), "utf8"), k)[0]?.doc ?? {};
    for (const r of [...(spec.resources ?? []), ...(spec.components ?? [])]) included.add(path.resolve(k, r));
  }
  for (const k of kdirs.filter((x) => !included.has(path.resolve(x))))
    docs.push(...render(k));
  for (const f of files) {
    if (kdirs.includes(path.dirname(f)) || included.has(path.resolve(f))) continue; // read through kustomize
    docs.push(...parseDocuments(readFileSync(f, "utf8"), f));
  }
  return docs;
}

// Every object with a "selector" key under a Chaos Mesh spec (the selectors of the pods hit).
function chaosSelectors(node, where = "spec", out = []) {
  if (Array.isArray(node)) node.forEach((x, i) => chaosSelectors(x, `${where}[${i}]`, out));
  else if (node && typeof node === "object") {
    for (const [k, v] of Object.entries(node)) {
      if (k === "selector" && v && typeof v === "object") out.push([`${where}.selector`, v]);
      chaosSelectors(v, `${where}.${k}`, out);
    }
  }
  return out;
}

// Is HOST (a Service name, a FQDN, "name.ns") one of NS's?
function ownHost(host, ns) {
  if (!host.includes(".")) return !host.includes("*");
  const m = FQDN.exec(host);
  return Boolean(m && m[2] === ns);
}

function urlsIn(value, out = []) {
  if (typeof value === "string") out.push(...(value.match(/https?:\/\/[^\s"'/]+/g) ?? []));
  else if (value && typeof value === "object") Object.values(value).forEach((v) => urlsIn(v, out));
  return out;
}

export function checkAttendee(dir, ns) {
  const problems = [];
  const bad = (d, msg) => problems.push(`${path.relative(process.cwd(), d.file)}: ${d.doc.kind}/${d.doc.metadata?.name}: ${msg}`);
  const docs = attendeeObjects(dir);
  const facts = { nodePorts: [], gateways: [], hostnames: [] };
  for (const d of docs) {
    const { kind, apiVersion = "", metadata = {}, spec = {} } = d.doc;
    if (kind === "Kustomization" || kind === "Component") continue;
    if (kind === "Namespace") {
      if (metadata.name !== ns) bad(d, `a Namespace other than ${ns}`);
      continue;
    }
    if (CLUSTER_SCOPED.has(kind)) bad(d, "cluster-scoped: belongs in shared/, applied once");
    else if (metadata.namespace !== ns) bad(d, `namespace ${metadata.namespace ?? "(none: the context's)"}, not ${ns}`);
    if (apiVersion.startsWith(CHAOS_MESH)) {
      for (const [where, sel] of chaosSelectors(spec)) {
        const nss = sel.namespaces ?? [];
        if (nss.length !== 1 || nss[0] !== ns) bad(d, `${where}.namespaces is [${nss}], must be [${ns}]`);
        for (const other of Object.keys(sel.pods ?? {})) if (other !== ns) bad(d, `${where}.pods names namespace ${other}`);
      }
    }
    if (kind === "ChaosEngine" && spec.appinfo?.appns !== ns) bad(d, `appinfo.appns ${spec.appinfo?.appns}, not ${ns}`);
    for (const url of urlsIn(kind === "ChaosEngine" || kind === "Deployment" || kind === "Job" ? spec : null)) {
      const host = url.replace(/^https?:\/\//, "").replace(/:\d+$/, "");
      if (!ownHost(host, ns)) bad(d, `calls ${url}, outside ${ns}`);
    }
    if (kind === "AuthorizationPolicy") {
      for (const rule of spec.rules ?? []) {
        for (const from of rule.from ?? []) {
          for (const p of [...(from.source?.principals ?? []), ...(from.source?.notPrincipals ?? [])])
            if (![ns, ...SHARED_NAMESPACES].includes(p.split("/")[2])) bad(d, `names identity ${p}, neither ${ns}'s nor the cluster-wide part's`);
          for (const n of [...(from.source?.namespaces ?? []), ...(from.source?.notNamespaces ?? [])])
            if (n !== ns) bad(d, `names namespace ${n}`);
        }
      }
    }
    if (kind === "RoleBinding") {
      for (const sub of d.doc.subjects ?? []) if (sub.kind === "ServiceAccount" && sub.namespace !== ns) bad(d, `binds ${sub.namespace}/${sub.name}`);
      if (d.doc.roleRef?.kind === "ClusterRole" && !["edit", "view"].includes(d.doc.roleRef.name)) bad(d, `binds ClusterRole ${d.doc.roleRef.name}`);
    }
    if (kind === "EnvoyFilter" && !spec.workloadSelector) bad(d, "an EnvoyFilter without workloadSelector hits every workload of its namespace's proxies");
    if (kind === "VirtualService" || kind === "DestinationRule") {
      const hosts = [...(spec.hosts ?? []), ...(spec.host ? [spec.host] : [])];
      const dests = JSON.stringify(spec).match(/"host":"[^"]+"/g) ?? [];
      for (const h of [...hosts, ...dests.map((x) => x.slice(8, -1))]) if (!ownHost(h, ns)) bad(d, `host ${h} is not in ${ns}`);
      for (const g of spec.gateways ?? []) if (g.includes("/") && !g.startsWith(`${ns}/`)) bad(d, `gateway ${g} of another namespace`);
    }
    if (kind === "HTTPRoute") {
      facts.hostnames.push(...(spec.hostnames ?? []).map((h) => [h, `${kind}/${metadata.name}`]));
      const refs = [...(spec.parentRefs ?? []), ...(spec.rules ?? []).flatMap((r) => r.backendRefs ?? [])];
      for (const r of refs) if (r.namespace && r.namespace !== ns) bad(d, `refers to ${r.namespace}/${r.name}`);
    }
    if (kind === "Gateway") {
      facts.gateways.push(`${metadata.namespace}/${metadata.name}`);
      for (const l of spec.listeners ?? []) {
        if (l.hostname) facts.hostnames.push([`${l.hostname}:${l.port}`, `Gateway/${metadata.name}`]);
        if ((l.allowedRoutes?.namespaces?.from ?? "Same") !== "Same") bad(d, `listener ${l.name} admits routes of other namespaces`);
      }
    }
    if (kind === "Service") for (const p of spec.ports ?? []) if (p.nodePort) facts.nodePorts.push(p.nodePort);
  }
  return { problems, facts: { ...facts, nodePorts: [...new Set(facts.nodePorts)] } };
}

export function checkClass(classDir) {
  const problems = [];
  const attendees = readdirSync(classDir).filter((n) => /^attendee-\d+$/.test(n)).sort();
  if (attendees.length === 0) problems.push(`${classDir}: no attendee-N directory`);
  const seen = { ns: new Map(), port: new Map(), host: new Map() };
  const kind = parseDocuments(readFileSync(path.join(classDir, "shared/k8s/kind-cluster.yaml"), "utf8"), "kind")[0].doc;
  const mapped = new Set(kind.nodes.flatMap((n) => n.extraPortMappings ?? []).map((m) => m.containerPort));
  const namespaces = [];
  for (const a of attendees) {
    const env = Object.fromEntries(readFileSync(path.join(classDir, a, "attendee.env"), "utf8").trim().split("\n").map((l) => l.split("=")));
    const ns = env.NAMESPACE;
    namespaces.push(ns);
    const { problems: p, facts } = checkAttendee(path.join(classDir, a), ns);
    problems.push(...p);
    if (seen.ns.has(ns)) problems.push(`${a} and ${seen.ns.get(ns)} share namespace ${ns}`);
    seen.ns.set(ns, a);
    if (facts.nodePorts.length === 0) problems.push(`${a}: no NodePort Service (the edge)`);
    for (const port of facts.nodePorts) {
      if (seen.port.has(port)) problems.push(`${a} and ${seen.port.get(port)} share node port ${port}`);
      seen.port.set(port, a);
      if (!mapped.has(port)) problems.push(`${a}: node port ${port} is not mapped by shared/k8s/kind-cluster.yaml`);
      if (String(port) !== env.NODE_PORT) problems.push(`${a}: node port ${port} differs from attendee.env's ${env.NODE_PORT}`);
    }
    if (facts.gateways.length === 0) problems.push(`${a}: no Gateway`);
    // A hostname two attendees claim: one DNS name (or listener) would have to serve both shops.
    for (const [host, obj] of facts.hostnames) {
      const other = seen.host.get(host);
      if (other && other[0] !== a) problems.push(`${a} (${obj}) and ${other[0]} (${other[1]}) claim hostname ${host}`);
      seen.host.set(host, [a, obj]);
    }
  }
  for (const d of render(path.join(classDir, "shared/monitoring/k8s")).map((x) => x.doc)) {
    for (const n of d.spec?.namespaceSelector?.matchNames ?? [])
      if (!namespaces.includes(n)) problems.push(`shared/monitoring: ${d.kind}/${d.metadata.name} selects namespace ${n}, not an attendee's`);
    if (d.spec?.namespaceSelector?.any) problems.push(`shared/monitoring: ${d.kind}/${d.metadata.name} selects every namespace`);
  }
  for (const f of walkFiles(classDir))
    if (/(?<![A-Za-z0-9-])ecommerce(?![A-Za-z0-9-])/.test(readFileSync(f, "utf8"))) problems.push(`${path.relative(classDir, f)}: still names ecommerce`);
  return { problems, attendees: attendees.length };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const dir = process.argv[2];
  if (!dir) {
    console.error("usage: node tests/deploy/class-isolation.mjs CLASS_DIR");
    process.exit(2);
  }
  const { problems, attendees } = checkClass(dir);
  for (const p of problems) console.log(`isolation: ${p}`);
  console.log(`${problems.length ? "FAIL" : "ok"}: ${attendees} attendees, ${problems.length} problem(s)`);
  process.exit(problems.length ? 1 : 0);
}
