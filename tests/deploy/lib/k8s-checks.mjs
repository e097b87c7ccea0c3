// The checks of k8s/ (run by tests/deploy/k8s.test.sh): render the base and every overlay with
// kustomize, validate every document (lib/validate.mjs), validate k8s/kind-cluster.yaml, then
// check what no schema can: that the objects fit each other and the suite's conventions
// (the ports of services/*/service.json, Service → pods → named ports → probes, PDB/HPA targets, ServiceAccounts,
// Secrets against the PostgreSQL init script, shutdown timing, security settings).
//
//   node tests/deploy/lib/k8s-checks.mjs ROOT [TREE...]
//     ROOT holds k8s/ and services/*/service.json (and, when present, istio/gateway-api/); TREE limits the
//     run to some of base, kind, minikube (default: all three; kind-cluster.yaml is checked
//     whenever an overlay is).
// Prints what it checked; exits 1 with one line per problem.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { index, loadDocuments, renderKustomize, selects, validateDocuments } from "./validate.mjs";

export const SERVICES = ["product", "cart", "order", "user", "inventory", "notification", "frontend"];
const WORKLOADS = [...SERVICES, "product-v2"];
const NAMESPACE = "ecommerce";
const CLUSTER_SCOPED = new Set(["Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition"]);

// Each service's port from its services/<name>/service.json (the one place it is written; make
// generate copies it everywhere else), or null when one is missing.
export function servicePorts(root) {
  const ports = {};
  for (const name of SERVICES) {
    const file = path.join(root, "services", name, "service.json");
    if (!existsSync(file)) return null;
    ports[name] = JSON.parse(readFileSync(file, "utf8")).port;
  }
  return ports;
}

function envOf(container, name) {
  return (container.env ?? []).find((e) => e.name === name)?.value;
}

function decode(secret, key) {
  if (secret?.stringData?.[key] !== undefined) return secret.stringData[key];
  const v = secret?.data?.[key];
  return v === undefined ? undefined : Buffer.from(v.replace(/\s/g, ""), "base64").toString("utf8");
}

// Cross-object checks of one rendered tree; pushes "where: problem" strings into errs.
export function crossChecks(docs, { label, ports, initSql, gatewayNames, pullPolicies }) {
  const errs = [];
  const err = (where, msg) => errs.push(`${label}: ${where}: ${msg}`);
  const ix = index(docs);
  const configMaps = new Map(ix.all("ConfigMap").map((d) => [d.metadata.name, d]));
  const secrets = new Map(ix.all("Secret").map((d) => [d.metadata.name, d]));

  for (const { doc } of docs) {
    const ns = doc.metadata?.namespace;
    if (!CLUSTER_SCOPED.has(doc.kind) && ns !== NAMESPACE)
      err(`${doc.kind}/${doc.metadata?.name}`, `namespace is ${ns ?? "unset"}, expected ${NAMESPACE}`);
  }
  if (!ix.get("Namespace", NAMESPACE)) err("Namespace", `no Namespace ${NAMESPACE}`);

  // Services → pods → named ports.
  for (const s of ix.services) {
    const where = `Service/${s.name}`;
    if (Object.keys(s.selector).some((k) => k === "gateway.networking.k8s.io/gateway-name")) {
      const gw = s.selector["gateway.networking.k8s.io/gateway-name"];
      if (gatewayNames && !gatewayNames.includes(gw))
        err(where, `selects the pods of Gateway ${gw}, but istio/gateway-api defines ${gatewayNames.join(", ") || "none"}`);
      continue; // its pods are made by Istio at run time
    }
    const pods = ix.selected(s.selector);
    if (pods.length === 0) {
      err(where, `selector ${JSON.stringify(s.selector)} matches no Deployment/StatefulSet pod labels`);
      continue;
    }
    for (const p of s.ports) {
      for (const w of pods) {
        const cports = w.containers.flatMap((c) => c.ports ?? []);
        const ok = typeof p.targetPort === "string"
          ? cports.some((cp) => cp.name === p.targetPort)
          : cports.some((cp) => cp.containerPort === (p.targetPort ?? p.port));
        if (!ok) err(where, `targetPort ${p.targetPort ?? p.port} is not a container port of ${w.kind}/${w.name}`);
      }
    }
  }

  // The suite's services: names, labels, ports, env, probes, security, shutdown timing.
  if (!ports || SERVICES.some((s) => !ports[s])) err("services/*/service.json", "no port for every service");
  const shared = configMaps.get(
    ix.all("ConfigMap").find((c) => c.metadata.name.startsWith("microshop-config"))?.metadata.name,
  );
  const delay = Number(shared?.data?.SHUTDOWN_DELAY_MS ?? NaN);
  const drain = Number(shared?.data?.SHUTDOWN_DRAIN_MS ?? NaN);
  if (!(delay > 0) || !(drain > 0)) err("ConfigMap/microshop-config", "SHUTDOWN_DELAY_MS and SHUTDOWN_DRAIN_MS must be set (> 0)");

  for (const name of WORKLOADS) {
    const app = name.replace(/-v2$/, "");
    const version = name.endsWith("-v2") ? "v2" : "v1";
    const where = `Deployment/${name}`;
    const w = ix.deployments.find((d) => d.name === name);
    if (!w) {
      err(where, "missing");
      continue;
    }
    for (const [k, v] of Object.entries({ app, version }))
      if (w.podLabels[k] !== v || w.doc.metadata.labels?.[k] !== v) err(where, `label ${k} must be ${v} on the Deployment and its pods`);
    if (!selects(w.selector, w.podLabels)) err(where, "spec.selector does not match the pod template labels");
    if (!(w.doc.spec.replicas >= 2)) err(where, "needs at least 2 replicas");
    const sa = w.podSpec.serviceAccountName;
    if (sa !== name) err(where, `serviceAccountName is ${sa ?? "unset"}, expected ${name}`);
    const grace = w.podSpec.terminationGracePeriodSeconds;
    if (!(grace * 1000 > delay + drain))
      err(where, `terminationGracePeriodSeconds ${grace} is not above SHUTDOWN_DELAY_MS + SHUTDOWN_DRAIN_MS (${delay + drain} ms)`);
    const psc = w.podSpec.securityContext ?? {};
    if (psc.runAsNonRoot !== true || psc.runAsUser !== 10001 || psc.seccompProfile?.type !== "RuntimeDefault")
      err(where, "pod securityContext needs runAsNonRoot, runAsUser 10001, seccompProfile RuntimeDefault");
    const c = w.containers[0];
    if (w.containers.length !== 1 || c?.name !== app) {
      err(where, `expected one container named ${app}`);
      continue;
    }
    const sc = c.securityContext ?? {};
    if (sc.readOnlyRootFilesystem !== true || sc.allowPrivilegeEscalation !== false ||
        JSON.stringify(sc.capabilities?.drop) !== '["ALL"]' || sc.runAsNonRoot !== true)
      err(where, "container securityContext needs readOnlyRootFilesystem, allowPrivilegeEscalation false, capabilities drop ALL, runAsNonRoot");
    for (const k of ["cpu", "memory"])
      if (!c.resources?.requests?.[k] || !c.resources?.limits?.[k]) err(where, `resources.requests and limits need ${k}`);
    if (c.image !== `localhost/microshop/${app}:latest`) err(where, `image is ${c.image}, expected localhost/microshop/${app}:latest`);
    if (!pullPolicies.includes(c.imagePullPolicy)) err(where, `imagePullPolicy is ${c.imagePullPolicy}, expected ${pullPolicies.join(" or ")}`);
    const http = (c.ports ?? []).find((p) => p.name === "http");
    const envPort = Number(envOf(c, "PORT"));
    if (!http) err(where, "no container port named http");
    else if (http.containerPort !== envPort) err(where, `container port http ${http.containerPort} differs from PORT ${envOf(c, "PORT")}`);
    if (ports?.[app] && envPort !== ports[app]) err(where, `PORT ${envOf(c, "PORT")} differs from services/${app}/service.json's ${ports[app]}`);
    if (envOf(c, "SERVICE_VERSION") !== version) err(where, `SERVICE_VERSION must be ${version}`);
    for (const [probe, want] of [["startupProbe", "/health"], ["livenessProbe", "/health"], ["readinessProbe", "/ready"]]) {
      const g = c[probe]?.httpGet;
      if (!g) err(where, `${probe} must be an httpGet probe`);
      else if (g.path !== want || g.port !== "http") err(where, `${probe} must be GET ${want} on port http (is ${g.path} on ${g.port})`);
    }
    // Every configMapRef/secretRef (envFrom, valueFrom) must exist after kustomize's renaming.
    for (const ref of c.envFrom ?? []) {
      if (ref.configMapRef && !configMaps.has(ref.configMapRef.name)) err(where, `envFrom ConfigMap ${ref.configMapRef.name} does not exist`);
      if (ref.secretRef && !secrets.has(ref.secretRef.name)) err(where, `envFrom Secret ${ref.secretRef.name} does not exist`);
    }
    // The service's own Service on its documented port, with targetPort http.
    const svc = ix.services.find((s) => s.name === app);
    const sp = svc?.ports.find((p) => p.name === "http");
    if (!svc || !sp) err(`Service/${app}`, "missing, or without a port named http");
    else {
      if (sp.port !== envPort || sp.port !== ports?.[app]) err(`Service/${app}`, `port ${sp.port} must equal PORT (${envPort}) and services/${app}/service.json (${ports?.[app]})`);
      if (sp.targetPort !== "http") err(`Service/${app}`, "targetPort must be the name http");
      if (!selects(svc.selector, w.podLabels)) err(`Service/${app}`, `does not select ${where}'s pods`);
    }
    if (!ix.all("PodDisruptionBudget").some((p) => selects(p.spec?.selector?.matchLabels, w.podLabels)))
      err(where, "no PodDisruptionBudget covers its pods");
  }
  for (const v of ["v1", "v2"]) {
    const s = ix.services.find((x) => x.name === `product-${v}`);
    if (!s || s.selector.app !== "product" || s.selector.version !== v)
      err(`Service/product-${v}`, `must exist and select app=product, version=${v}`);
  }
  for (const [name, port] of [["postgres", 5432], ["redis", 6379]]) {
    const s = ix.services.find((x) => x.name === name);
    if (!s || !s.ports.some((p) => p.port === port)) err(`Service/${name}`, `must exist on port ${port}`);
  }
  if (!ix.all("StatefulSet").some((s) => s.metadata.name === "postgres" && s.spec?.volumeClaimTemplates?.length))
    err("StatefulSet/postgres", "must exist with a volumeClaimTemplate");

  // ServiceAccounts, PDBs, HPAs: their targets exist.
  for (const w of ix.workloads) {
    const sa = w.podSpec.serviceAccountName;
    if (sa && !ix.serviceAccounts.has(sa)) err(`${w.kind}/${w.name}`, `ServiceAccount ${sa} does not exist`);
  }
  for (const p of ix.all("PodDisruptionBudget"))
    if (ix.selected(p.spec?.selector?.matchLabels).length === 0)
      err(`PodDisruptionBudget/${p.metadata.name}`, "selects no Deployment/StatefulSet pods");
  for (const h of ix.all("HorizontalPodAutoscaler")) {
    const t = h.spec?.scaleTargetRef ?? {};
    if (!ix.get(t.kind, t.name)) err(`HorizontalPodAutoscaler/${h.metadata.name}`, `target ${t.kind}/${t.name} does not exist`);
    const tw = ix.workloads.find((w) => w.kind === t.kind && w.name === t.name);
    if (tw && !tw.containers.every((c) => c.resources?.requests?.cpu)) err(`HorizontalPodAutoscaler/${h.metadata.name}`, "target has no CPU request");
  }
  for (const name of ["product", "cart"])
    if (!ix.all("HorizontalPodAutoscaler").some((h) => h.spec?.scaleTargetRef?.name === name))
      err(`HorizontalPodAutoscaler/${name}`, "missing");

  // Secrets: DATABASE_URL/REDIS_URL point at the in-cluster stores, with the PostgreSQL
  // password and a database the init script creates.
  const pgSecretName = [...secrets.keys()].find((n) => n.startsWith("postgres-credentials"));
  const pgPassword = decode(secrets.get(pgSecretName), "POSTGRES_PASSWORD");
  const pgUser = decode(secrets.get(pgSecretName), "POSTGRES_USER");
  const databases = new Set([...initSql.matchAll(/CREATE DATABASE "?(\w+)"?/gi)].map((m) => m[1]));
  for (const [name, secret] of secrets) {
    const dbUrl = decode(secret, "DATABASE_URL");
    if (dbUrl !== undefined) {
      let u;
      try {
        u = new URL(dbUrl);
      } catch {
        err(`Secret/${name}`, "DATABASE_URL is not a URL");
        continue;
      }
      const db = u.pathname.slice(1);
      if (u.hostname !== "postgres" || u.port !== "5432") err(`Secret/${name}`, "DATABASE_URL must point at postgres:5432");
      if (decodeURIComponent(u.username) !== pgUser || decodeURIComponent(u.password) !== pgPassword)
        err(`Secret/${name}`, "DATABASE_URL credentials differ from Secret postgres-credentials");
      if (!databases.has(db)) err(`Secret/${name}`, `DATABASE_URL database ${db} is not created by the PostgreSQL init script`);
      if (`${db}-secrets` !== name.replace(/-[a-z0-9]{10}$/, "")) err(`Secret/${name}`, `DATABASE_URL names database ${db}, not the service's own`);
    }
    const redisUrl = decode(secret, "REDIS_URL");
    if (redisUrl !== undefined && !/^redis:\/\/redis:6379\/\d+$/.test(redisUrl)) err(`Secret/${name}`, "REDIS_URL must be redis://redis:6379/<db>");
  }
  return errs;
}

// kind's Cluster config has no published JSON schema; check its shape by hand.
export function checkKindCluster(doc, edgeNodePort) {
  const errs = [];
  const e = (m) => errs.push(`k8s/kind-cluster.yaml: ${m}`);
  if (doc?.kind !== "Cluster" || doc?.apiVersion !== "kind.x-k8s.io/v1alpha4") return [`k8s/kind-cluster.yaml: must be kind: Cluster, apiVersion: kind.x-k8s.io/v1alpha4`];
  const known = new Set(["kind", "apiVersion", "name", "nodes", "networking", "featureGates", "runtimeConfig", "kubeadmConfigPatches", "kubeadmConfigPatchesJSON6902", "containerdConfigPatches", "containerdConfigPatchesJSON6902"]);
  for (const k of Object.keys(doc)) if (!known.has(k)) e(`unknown field ${k}`);
  const nodeFields = new Set(["role", "image", "extraPortMappings", "extraMounts", "labels", "kubeadmConfigPatches", "kubeadmConfigPatchesJSON6902"]);
  const nodes = doc.nodes ?? [];
  if (!nodes.some((n) => n.role === "control-plane")) e("needs a control-plane node");
  for (const [i, n] of nodes.entries()) {
    for (const k of Object.keys(n)) if (!nodeFields.has(k)) e(`nodes[${i}]: unknown field ${k}`);
    if (!["control-plane", "worker"].includes(n.role)) e(`nodes[${i}]: role must be control-plane or worker`);
    for (const [j, m] of (n.extraPortMappings ?? []).entries()) {
      for (const k of Object.keys(m)) if (!["containerPort", "hostPort", "listenAddress", "protocol"].includes(k)) e(`nodes[${i}].extraPortMappings[${j}]: unknown field ${k}`);
      if (!Number.isInteger(m.containerPort) || !Number.isInteger(m.hostPort)) e(`nodes[${i}].extraPortMappings[${j}]: ports must be integers`);
      if (m.protocol && !["TCP", "UDP", "SCTP"].includes(m.protocol)) e(`nodes[${i}].extraPortMappings[${j}]: bad protocol`);
    }
  }
  const maps = nodes.flatMap((n) => n.extraPortMappings ?? []);
  if (!maps.some((m) => m.containerPort === edgeNodePort && m.hostPort === 8080))
    e(`no extraPortMappings from the edge Service's nodePort ${edgeNodePort} to host port 8080`);
  return errs;
}

function gatewayNamesIn(root) {
  const dir = path.join(root, "istio", "gateway-api");
  if (!existsSync(dir)) return null;
  const names = [];
  for (const f of readdirSync(dir).filter((f) => f.endsWith(".yaml"))) {
    for (const m of readFileSync(path.join(dir, f), "utf8").split(/^---$/m)) {
      if (/^kind: Gateway$/m.test(m) && /^apiVersion: gateway\.networking\.k8s\.io\//m.test(m)) {
        const n = /^metadata:\n(?:  .*\n)*?  name: (\S+)/m.exec(m);
        if (n) names.push(n[1]);
      }
    }
  }
  return names;
}

export async function checkK8s(root, only = ["base", "kind", "minikube"]) {
  const errors = [];
  const ports = servicePorts(root);
  const initSql = readFileSync(path.join(root, "k8s/base/postgres-init/01-databases.sql"), "utf8");
  const gatewayNames = gatewayNamesIn(root);
  let edgeNodePort = null;
  const trees = [
    ["k8s/base", ["IfNotPresent", "Never"]],
    ["k8s/overlays/kind", ["IfNotPresent", "Never"]],
    ["k8s/overlays/minikube", ["Never"]],
  ].filter(([rel]) => only.includes(path.basename(rel)));
  for (const [rel, pullPolicies] of trees) {
    let docs;
    try {
      docs = renderKustomize(path.join(root, rel));
    } catch (e) {
      errors.push(e.message);
      continue;
    }
    for (const d of docs) d.file = `${rel} (kustomize)`;
    const schemaErrs = await validateDocuments(docs);
    const crossErrs = crossChecks(docs, { label: rel, ports, initSql, gatewayNames, pullPolicies });
    console.log(`${rel}: ${docs.length} documents rendered; schema errors ${schemaErrs.length}, cross-file errors ${crossErrs.length}`);
    errors.push(...schemaErrs, ...crossErrs);
    if (rel !== "k8s/base") {
      const edge = index(docs).services.find((s) => s.name === "edge");
      const np = edge?.ports?.[0]?.nodePort;
      if (!np) errors.push(`${rel}: Service/edge: missing, or without a nodePort`);
      else if (edgeNodePort !== null && np !== edgeNodePort) errors.push(`${rel}: Service/edge: nodePort ${np} differs from the other overlay's ${edgeNodePort}`);
      else edgeNodePort = np;
    }
  }
  if (edgeNodePort === null) return errors;
  try {
    const [kc, ...rest] = await loadDocuments([path.join(root, "k8s/kind-cluster.yaml")]);
    if (rest.length) errors.push("k8s/kind-cluster.yaml: one document expected");
    const kerrs = checkKindCluster(kc?.doc, edgeNodePort);
    console.log(`k8s/kind-cluster.yaml: ${kerrs.length} errors`);
    errors.push(...kerrs);
  } catch (e) {
    errors.push(e.message);
  }
  return errors;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = process.argv[2];
  if (!root) {
    console.error("usage: node tests/deploy/lib/k8s-checks.mjs ROOT");
    process.exit(2);
  }
  const only = process.argv.slice(3);
  const errors = await checkK8s(path.resolve(root), only.length ? only : undefined);
  for (const e of errors) console.log(`  ${e}`);
  console.log(errors.length ? `FAIL: ${errors.length} problem(s) in ${root}/k8s` : `ok: ${root}/k8s`);
  process.exit(errors.length ? 1 : 0);
}
