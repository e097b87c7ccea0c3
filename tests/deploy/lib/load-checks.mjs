// The checks of load-test/k8s (run by tests/deploy/k8s.test.sh): render every scenario overlay
// with kustomize, validate every document (lib/validate.mjs), then check what no schema can:
// that each Job runs the scenario its directory is named for and that scenarios.lua defines,
// mounts the generated ConfigMap where the image looks for the scripts, uses the wrk image the
// Dockerfile builds, targets the Service of the Gateway in istio/gateway-api, asks only for
// paths the edge admits (istio/mesh/authorization-edge.yaml) and a route serves, lives long
// enough for its duration, and is hardened like the services.
//
//   node tests/deploy/lib/load-checks.mjs ROOT
//     ROOT holds load-test/, Dockerfile and istio/.
// Prints what it checked; exits 1 with one line per problem.
import { existsSync, readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { index, loadDocuments, renderKustomize, validateDocuments } from "./validate.mjs";

const NAMESPACE = "ecommerce";
const IMAGE = "localhost/microshop/wrk:latest";

// Scenario names, as load-test/run.sh reads them: the `    name = { ... },` lines.
export function scenarioNames(text) {
  return [...text.matchAll(/^ {4}([a-z][a-z0-9_]*) = \{.*$/gm)].map((m) => m[1]);
}

// The requests a scenario sends, from microshop.lua's STEP_LABEL table ("POST /cart/{vu}"), and
// the two run.sh sends itself (the catalog and the restock), as [method, path].
export function requestsOf(lua, runSh) {
  const out = [...lua.matchAll(/^\s+\["[a-z.]+"\] = "([A-Z]+) (\/[^ "?]*)/gm)].map((m) => [m[1], m[2]]);
  if (runSh.includes('"$API/products?limit=100"')) out.push(["GET", "/products"]);
  if (/-X PUT[\s\S]{0,200}\/inventory\/\$id"/.test(runSh)) out.push(["PUT", "/inventory/{id}"]);
  return out;
}

// Seconds in a wrk duration ("10s", "5m", "1h", "30").
export function durationSeconds(d) {
  const m = /^(\d+)([smh]?)$/.exec(String(d ?? ""));
  if (!m) return NaN;
  return Number(m[1]) * { "": 1, s: 1, m: 60, h: 3600 }[m[2]];
}

// Does an Istio path pattern ("/cart/*", "/products") admit the path ("/cart/{vu}")?
function pathAdmits(pattern, p) {
  const concrete = p.replace(/\{[^}]+\}/g, "1");
  return pattern.endsWith("*") ? concrete.startsWith(pattern.slice(0, -1)) : pattern === concrete;
}

function edgeAdmits(policy, method, p) {
  return (policy?.spec?.rules ?? []).some((r) =>
    (r.to ?? []).some((t) => {
      const op = t.operation ?? {};
      return (!op.methods || op.methods.includes(method)) && (!op.paths || op.paths.some((x) => pathAdmits(x, p)));
    }),
  );
}

// The path prefixes the HTTPRoutes attached to the Gateway route.
function routedPrefixes(docs) {
  return docs
    .filter((d) => d.doc?.kind === "HTTPRoute")
    .flatMap((d) => (d.doc.spec?.rules ?? []).flatMap((r) => (r.matches ?? []).map((m) => m.path?.value)))
    .filter(Boolean);
}

function envOf(container, name) {
  return (container?.env ?? []).find((e) => e.name === name)?.value;
}

// Problems of one rendered overlay (scenario = its directory name).
function checkOverlay(docs, ctx) {
  const { scenario, label, scenarios, luaFiles, dockerfile, gateways, edge, prefixes, requests } = ctx;
  const errs = [];
  const err = (where, msg) => errs.push(`${label}: ${where}: ${msg}`);
  const ix = index(docs);
  const jobs = ix.all("Job");
  const maps = ix.all("ConfigMap");
  for (const { doc } of docs)
    if (doc.metadata?.namespace !== NAMESPACE) err(`${doc.kind}/${doc.metadata?.name}`, `namespace must be ${NAMESPACE}`);
  if (jobs.length !== 1 || maps.length !== 1 || docs.length !== 2) {
    err("documents", `expected one Job and one ConfigMap, got ${docs.map((d) => d.doc.kind).join(", ")}`);
    return errs;
  }
  const job = jobs[0];
  const where = `Job/${job.metadata.name}`;
  const pod = job.spec?.template;
  const spec = pod?.spec ?? {};
  const c = (spec.containers ?? [])[0];
  if (job.metadata.name !== `load-${scenario}`) err(where, `must be named load-${scenario}`);
  if (!scenarios.includes(scenario)) err(where, `directory ${scenario} is not a scenario of load-test/wrk/scenarios.lua`);
  const wanted = envOf(c, "LOAD_SCENARIO");
  if (wanted !== scenario) err(where, `LOAD_SCENARIO is ${wanted}, expected ${scenario}`);
  if (!scenarios.includes(wanted)) err(where, `LOAD_SCENARIO ${wanted} is not a scenario of load-test/wrk/scenarios.lua (${scenarios.join(", ")})`);
  if ((spec.containers ?? []).length !== 1 || !c) {
    err(where, "expected one container");
    return errs;
  }

  // The image and what it expects: the Dockerfile's wrk target, its entry point and LOAD_SCRIPTS.
  if (c.image !== IMAGE) err(where, `image is ${c.image}, expected ${IMAGE}`);
  if (!["IfNotPresent", "Never"].includes(c.imagePullPolicy)) err(where, `imagePullPolicy must be IfNotPresent or Never (a local image)`);
  const stage = /^FROM \S+ AS wrk$([\s\S]*?)(?=^FROM |(?![\s\S]))/im.exec(dockerfile);
  if (!stage) err("Dockerfile", "has no target wrk");
  else {
    if (!/^COPY load-test\/run\.sh (\S+)$/m.test(stage[1]) || !/^ENTRYPOINT \[.*"\/usr\/local\/bin\/microshop-load"\]$/m.test(stage[1]))
      err("Dockerfile", "the wrk target must copy load-test/run.sh to /usr/local/bin/microshop-load and run it");
    if (!/^RUN .*\bwrk\b/ms.test(stage[1])) err("Dockerfile", "the wrk target must install wrk");
  }
  if (c.command || c.args) err(where, "must not override the image's entry point (load-test/run.sh)");
  const scriptsDir = envOf(c, "LOAD_SCRIPTS") ?? /^ENV LOAD_SCRIPTS=(\S+)$/m.exec(stage?.[1] ?? "")?.[1];
  const mount = (c.volumeMounts ?? []).find((m) => m.mountPath === scriptsDir);
  const volume = (spec.volumes ?? []).find((v) => v.name === mount?.name);
  if (!mount) err(where, `nothing is mounted at LOAD_SCRIPTS (${scriptsDir})`);
  else if (volume?.configMap?.name !== maps[0].metadata.name)
    err(where, `the volume at ${scriptsDir} is not the ConfigMap ${maps[0].metadata.name}`);
  const data = maps[0].data ?? {};
  for (const [file, text] of Object.entries(luaFiles))
    if (data[file] !== text) err(`ConfigMap/${maps[0].metadata.name}`, `${file} differs from load-test/wrk/${file}`);
  for (const k of Object.keys(data)) if (!(k in luaFiles)) err(`ConfigMap/${maps[0].metadata.name}`, `unexpected file ${k}`);
  if (!(c.volumeMounts ?? []).some((m) => m.mountPath === "/tmp" && (spec.volumes ?? []).some((v) => v.name === m.name && v.emptyDir)))
    err(where, "needs an emptyDir at /tmp (run.sh writes wrk's output there; the root filesystem is read-only)");

  // The target: the Service Istio makes for a Gateway of istio/gateway-api, on its listener port.
  let url = null;
  try {
    url = new URL(envOf(c, "LOAD_TARGET"));
  } catch {
    err(where, `LOAD_TARGET is not a URL: ${envOf(c, "LOAD_TARGET")}`);
  }
  if (url) {
    const gw = gateways.find((g) => url.hostname === `${g.name}-istio.${NAMESPACE}.svc.cluster.local`);
    if (!gw) err(where, `LOAD_TARGET ${url.hostname} is not the Service of a Gateway in istio/gateway-api (${gateways.map((g) => `${g.name}-istio.${NAMESPACE}.svc.cluster.local`).join(", ")})`);
    else if (!gw.ports.includes(Number(url.port || 80))) err(where, `LOAD_TARGET port ${url.port || 80} is no listener port of Gateway ${gw.name} (${gw.ports.join(", ")})`);
  }
  // What the scenarios ask for must get through the edge to a service.
  for (const [method, p] of requests) {
    if (!edgeAdmits(edge, method, p)) err("load-test/wrk/microshop.lua", `${method} ${p} is not admitted by the edge AuthorizationPolicy (istio/mesh/authorization-edge.yaml)`);
    if (!prefixes.some((x) => p === x || p.startsWith(`${x}/`))) err("load-test/wrk/microshop.lua", `${method} ${p} matches no HTTPRoute path of istio/gateway-api`);
  }

  // Settings the run needs, and a Job that ends.
  const conns = Number(envOf(c, "LOAD_CONNECTIONS"));
  if (!(Number.isInteger(conns) && conns >= 1 && conns <= 1000)) err(where, "LOAD_CONNECTIONS must be 1..1000");
  if (!/^\d+(\.\d+)?$/.test(envOf(c, "LOAD_RATE") ?? "0")) err(where, "LOAD_RATE must be a number of requests/s");
  const secs = durationSeconds(envOf(c, "LOAD_DURATION") ?? "10s");
  if (Number.isNaN(secs)) err(where, "LOAD_DURATION must look like 10s, 5m or 1h");
  else if (!(job.spec.activeDeadlineSeconds >= secs + 60))
    err(where, `activeDeadlineSeconds ${job.spec.activeDeadlineSeconds} leaves no minute past LOAD_DURATION (${secs} s)`);
  if (spec.restartPolicy !== "Never" || job.spec.backoffLimit !== 0) err(where, "restartPolicy Never and backoffLimit 0: a run is not repeated");
  if (pod?.metadata?.annotations?.["sidecar.istio.io/inject"] !== "false")
    err(where, 'needs the annotation sidecar.istio.io/inject: "false" (a sidecar keeps a Job from completing)');

  // Hardened like the services (k8s-checks.mjs).
  const psc = spec.securityContext ?? {};
  if (psc.runAsNonRoot !== true || psc.runAsUser !== 10001 || psc.seccompProfile?.type !== "RuntimeDefault")
    err(where, "pod securityContext needs runAsNonRoot, runAsUser 10001, seccompProfile RuntimeDefault");
  const sc = c.securityContext ?? {};
  if (sc.readOnlyRootFilesystem !== true || sc.allowPrivilegeEscalation !== false || JSON.stringify(sc.capabilities?.drop) !== '["ALL"]')
    err(where, "container securityContext needs readOnlyRootFilesystem, allowPrivilegeEscalation false, capabilities drop ALL");
  for (const k of ["cpu", "memory"])
    if (!c.resources?.requests?.[k] || !c.resources?.limits?.[k]) err(where, `resources.requests and limits need ${k}`);
  if (spec.automountServiceAccountToken !== false) err(where, "automountServiceAccountToken must be false");
  return errs;
}

async function gatewaysIn(root) {
  const dir = path.join(root, "istio", "gateway-api");
  if (!existsSync(dir)) return { gateways: [], prefixes: [] };
  const files = readdirSync(dir).filter((f) => f.endsWith(".yaml")).map((f) => path.join(dir, f));
  const docs = await loadDocuments(files);
  const gateways = docs
    .filter((d) => d.doc?.kind === "Gateway" && d.doc.apiVersion?.startsWith("gateway.networking.k8s.io/"))
    .map((d) => ({ name: d.doc.metadata.name, ports: (d.doc.spec?.listeners ?? []).map((l) => l.port) }));
  return { gateways, prefixes: routedPrefixes(docs) };
}

export async function checkLoadTest(root) {
  const errors = [];
  const k8s = path.join(root, "load-test", "k8s");
  const wrkDir = path.join(root, "load-test", "wrk");
  const scenarios = scenarioNames(readFileSync(path.join(wrkDir, "scenarios.lua"), "utf8"));
  const luaFiles = Object.fromEntries(
    readdirSync(wrkDir).filter((f) => f.endsWith(".lua")).map((f) => [f, readFileSync(path.join(wrkDir, f), "utf8")]),
  );
  const requests = requestsOf(luaFiles["microshop.lua"] ?? "", readFileSync(path.join(root, "load-test", "run.sh"), "utf8"));
  if (requests.length < 5) errors.push("load-test/wrk/microshop.lua: no STEP_LABEL requests found");
  const dockerfile = readFileSync(path.join(root, "Dockerfile"), "utf8");
  const { gateways, prefixes } = await gatewaysIn(root);
  const [edgeDoc] = await loadDocuments([path.join(root, "istio", "mesh", "authorization-edge.yaml")]);
  const overlays = readdirSync(k8s, { withFileTypes: true })
    .filter((d) => d.isDirectory() && d.name !== "base" && existsSync(path.join(k8s, d.name, "kustomization.yaml")))
    .map((d) => d.name)
    .sort();
  for (const s of scenarios) if (!overlays.includes(s)) errors.push(`load-test/k8s: no overlay for scenario ${s}`);
  for (const scenario of overlays) {
    const rel = `load-test/k8s/${scenario}`;
    let docs;
    try {
      docs = renderKustomize(path.join(root, rel));
    } catch (e) {
      errors.push(e.message);
      continue;
    }
    for (const d of docs) d.file = `${rel} (kustomize)`;
    const schemaErrs = await validateDocuments(docs);
    const crossErrs = checkOverlay(docs, {
      scenario, label: rel, scenarios, luaFiles, dockerfile, gateways, edge: edgeDoc?.doc, prefixes, requests,
    });
    console.log(`${rel}: ${docs.length} documents rendered; schema errors ${schemaErrs.length}, cross-file errors ${crossErrs.length}`);
    errors.push(...schemaErrs, ...crossErrs);
  }
  return errors;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = process.argv[2];
  if (!root) {
    console.error("usage: node tests/deploy/lib/load-checks.mjs ROOT");
    process.exit(2);
  }
  const errors = await checkLoadTest(path.resolve(root));
  for (const e of errors) console.log(`  ${e}`);
  console.log(errors.length ? `FAIL: ${errors.length} problem(s) in ${root}/load-test/k8s` : `ok: ${root}/load-test/k8s`);
  process.exit(errors.length ? 1 : 0);
}
