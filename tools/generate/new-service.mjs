#!/usr/bin/env node
// make new-service NAME=<name> [UPSTREAM=<service>]: a new service on the common library in
// services/<name>/ (service.json, main.c, routes.c, <name>.h, CMakeLists.txt), its integration
// test (tests/integration/test_<name>.c) and its API reference (docs/api/<name>.yaml), from
// the templates in tools/generate/scaffold/. Then `make generate` makes it part of every way of
// running the shop, the edge (/<name> through the gateway) and the mesh's policies included. The
// service answers GET /<name> and GET /<name>/upstream (one resilient call to UPSTREAM, default
// frontend, which needs no store), beside /health, /ready and /metrics.
//   node tools/generate/new-service.mjs NAME [UPSTREAM] [--root DIR]
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { loadSuite } from "./services.mjs";

const HERE = path.dirname(fileURLToPath(import.meta.url));

// Template → destination, relative to the root ("@NAME@" in a destination is the name).
const FILES = {
  "main.c.in": "services/@NAME@/main.c",
  "routes.c.in": "services/@NAME@/routes.c",
  "svc.h.in": "services/@NAME@/@NAME@.h",
  "CMakeLists.txt.in": "services/@NAME@/CMakeLists.txt",
  "test.c.in": "tests/integration/test_@NAME@.c",
  "api.yaml.in": "docs/api/@NAME@.yaml",
};

function fill(text, vars) {
  return text.replace(/@([A-Z]+)@/g, (m, k) => {
    if (!(k in vars)) throw new Error(`template placeholder ${m} has no value`);
    return vars[k];
  });
}

// The next free port after the services' own (3000 and up), skipping every port the suite uses.
function freePort({ services, suite }) {
  const used = new Set([...services.map((s) => s.port), ...services.filter((s) => s.canary).map((s) => s.canary.nativePort)]);
  for (const [k, v] of Object.entries(suite)) if (k.endsWith("Port")) used.add(v);
  let port = Math.max(...services.map((s) => s.port)) + 1;
  while (used.has(port)) port++;
  return port;
}

// The path the scaffold's upstream call asks for: one the mesh admits from a caller (a concrete
// GET path of the upstream's edge.allow) and that answers without the upstream's stores (the
// generated test starts the upstream alone); else /health, which only works off the mesh.
function upstreamPath(up) {
  if (up.stores.length) return "/health";
  const paths = (up.edge?.allow ?? []).filter((o) => o.methods.includes("GET")).flatMap((o) => o.paths);
  return paths.find((p) => !p.endsWith("*")) ?? "/health";
}

// The longest timeout of the mesh's routes to upstream up (ms): its hand-written VirtualService
// in istio/mesh/virtual-services.yaml, or the 1 s of the defaults make generate writes.
function meshTimeoutMs(root, up) {
  if (up.meshTraffic !== "hand-written") return 1000;
  const text = readFileSync(path.join(root, "istio/mesh/virtual-services.yaml"), "utf8");
  const doc = text.split(/^---$/m).find((d) => /^kind: VirtualService$/m.test(d) && new RegExp(`^  name: ${up.name}$`, "m").test(d));
  const ms = [...(doc ?? "").matchAll(/^ +timeout: ([0-9.]+)(ms|s)$/gm)].map((m) => Number(m[1]) * (m[2] === "s" ? 1000 : 1));
  if (!ms.length) throw new Error(`istio/mesh/virtual-services.yaml: no VirtualService ${up.name} with a timeout`);
  return Math.max(...ms);
}

// On Kubernetes only the mesh retries, and the service's deadline outlasts the mesh's timeout
// (as order's env says, and tests/deploy/semantics.mjs checks).
function upstreamEnv(root, up) {
  const u = up.name.toUpperCase();
  return [
    { name: `${u}_TIMEOUT_MS`, value: String(meshTimeoutMs(root, up) + 100) },
    { name: `${u}_RETRIES`, value: "0" },
  ];
}

// What the gateway routes to the new service and what it admits, from the edge and its callers.
function edge(name) {
  return {
    paths: [{ prefix: `/${name}` }],
    timeout: "5s",
    allow: [{ methods: ["GET", "HEAD"], paths: [`/${name}`, `/${name}/*`] }],
  };
}

function scaffold(root, name, upstream) {
  const facts = loadSuite(root);
  if (!/^[a-z][a-z0-9]{1,30}$/.test(name)) throw new Error(`NAME "${name}": lower-case letters and digits, 2 to 31, a letter first`);
  if (existsSync(path.join(root, "services", name))) throw new Error(`services/${name} exists already`);
  if (!facts.services.some((s) => s.name === upstream)) throw new Error(`UPSTREAM "${upstream}" is no service of services/*/service.json`);
  const summary = `A new service (make new-service): replace this line with what it does.`;
  const up = facts.services.find((s) => s.name === upstream);
  const vars = {
    NAME: name,
    UNAME: name.toUpperCase(),
    UPSTREAM: upstream,
    UUPSTREAM: upstream.toUpperCase(),
    UPSTREAMPATH: upstreamPath(up),
    SUMMARY: summary,
  };
  const json = {
    name,
    summary,
    order: Math.max(...facts.services.map((s) => s.order)) + 1,
    port: freePort(facts),
    portVar: `${vars.UNAME}_PORT`,
    database: null,
    stores: [],
    calls: [upstream],
    edge: edge(name),
    kubernetes: { env: upstreamEnv(root, up) },
  };
  const out = { [`services/${name}/service.json`]: `${JSON.stringify(json, null, 2)}\n` };
  for (const [tpl, dest] of Object.entries(FILES))
    out[fill(dest, vars)] = fill(readFileSync(path.join(HERE, "scaffold", tpl), "utf8"), vars);
  for (const [rel, text] of Object.entries(out)) {
    const file = path.join(root, rel);
    if (existsSync(file)) throw new Error(`${rel} exists already`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, text);
    console.log(`new-service: wrote ${rel}`);
  }
  // A name's length moves line breaks: the C files are formatted as make format would.
  const c = Object.keys(out).filter((rel) => /\.[ch]$/.test(rel));
  try {
    execFileSync("clang-format", ["-i", ...c], { cwd: root, stdio: "inherit" });
  } catch {
    console.error("new-service: clang-format failed or is missing: run make format before make lint");
  }
  if (vars.UPSTREAMPATH === "/health")
    console.log(`new-service: note: on Kubernetes the mesh lets ${name} call ${upstream} only on ${upstream}'s edge.allow operations: make routes.c call one of them`);
  console.log(`new-service: ${name} on port ${json.port}, at the edge on /${name}; now run: make generate && make build`);
}

const args = process.argv.slice(2);
const at = args.indexOf("--root");
const root = path.resolve(at >= 0 ? args.splice(at, 2)[1] : path.join(HERE, "..", ".."));
try {
  if (!args[0]) throw new Error("usage: make new-service NAME=<name> [UPSTREAM=<service>]");
  scaffold(root, args[0], args[1] || "frontend");
} catch (e) {
  console.error(`error: ${e.message}`);
  process.exitCode = 2;
}
