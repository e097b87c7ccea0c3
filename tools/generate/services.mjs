// The facts of the suite's services, read from services/*/service.json (one file per service) and
// tools/generate/suite.json (the ports that belong to no service), checked once here so every
// generator and every test reads the same, valid facts.
import { existsSync, readdirSync, readFileSync } from "node:fs";
import path from "node:path";

const NAME_RE = /^[a-z][a-z0-9]{1,30}$/;
const VAR_RE = /^[A-Z][A-Z0-9_]*_PORT$/;
const STORES = new Set(["postgres", "redis"]);

function fail(file, msg) {
  throw new Error(`${file}: ${msg}`);
}

function checkPort(file, what, port) {
  if (!Number.isInteger(port) || port < 1024 || port > 65535) fail(file, `${what} ${port} is not a port from 1024 to 65535`);
}

const METHODS = new Set(["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]);
const PATH_RE = /^\/[A-Za-z0-9._~\/-]*$/;
const DURATION_RE = /^([0-9]{1,5}(h|m|s|ms)){1,4}$/; // Gateway API's, which nginx reads too

// Operations an AuthorizationPolicy allows: methods and paths ("/x/*": below /x).
function checkOperations(file, what, ops) {
  if (!Array.isArray(ops) || !ops.length) fail(file, `${what}: a list of {methods, paths}`);
  for (const o of ops) {
    if (!Array.isArray(o.methods) || !o.methods.length || o.methods.some((m) => !METHODS.has(m)))
      fail(file, `${what}: methods are some of ${[...METHODS].join(", ")}`);
    if (!Array.isArray(o.paths) || !o.paths.length || o.paths.some((p) => !PATH_RE.test(p.replace(/\/\*$/, "/"))))
      fail(file, `${what}: paths are absolute paths, "/x/*" for what is below /x`);
  }
}

// "edge": the paths the gateway routes to the service ({"prefix": "/x"}: /x and below; {"exact":
// "/x"}), the edge's timeout for them, the operations the service admits from the edge gateway and
// its callers ("allow") and, if narrower, from outside ("edgeAllow").
function checkEdge(file, e) {
  if (!Array.isArray(e.paths) || !e.paths.length) fail(file, "edge.paths: a list of {prefix} or {exact}");
  for (const p of e.paths) {
    const v = p.prefix ?? p.exact;
    if (Object.keys(p).length !== 1 || typeof v !== "string" || !PATH_RE.test(v) || (p.prefix && (v === "/" || v.endsWith("/"))))
      fail(file, `edge.paths: ${JSON.stringify(p)} is not {"prefix": "/x"} or {"exact": "/x"}`);
  }
  if (!DURATION_RE.test(e.timeout ?? "")) fail(file, `edge.timeout "${e.timeout}" is not a duration like 500ms or 5s`);
  checkOperations(file, "edge.allow", e.allow);
  if (e.edgeAllow !== undefined) checkOperations(file, "edge.edgeAllow", e.edgeAllow);
}

function checkMesh(file, s) {
  if (s.edge !== undefined) checkEdge(file, s.edge);
  if (s.readyCallers !== undefined && (!Array.isArray(s.readyCallers) || s.readyCallers.some((x) => !/^[a-z0-9-]+$/.test(x))))
    fail(file, "readyCallers: ServiceAccount names");
  if (s.meshTraffic !== undefined && s.meshTraffic !== "hand-written") fail(file, 'meshTraffic: "hand-written" or absent');
}

function checkService(file, s, dir) {
  if (s.name !== dir) fail(file, `name "${s.name}" is not its folder's name "${dir}"`);
  if (!NAME_RE.test(s.name)) fail(file, `name "${s.name}" is not lower-case letters and digits`);
  if (typeof s.summary !== "string" || !s.summary) fail(file, "summary missing");
  if (!Number.isInteger(s.order)) fail(file, "order (the start order) missing");
  checkPort(file, "port", s.port);
  if (!VAR_RE.test(s.portVar)) fail(file, `portVar "${s.portVar}" is not an upper-case *_PORT variable`);
  if (s.database !== null && !NAME_RE.test(s.database)) fail(file, `database "${s.database}" is not a name (or null)`);
  if (!Array.isArray(s.stores) || s.stores.some((x) => !STORES.has(x))) fail(file, `stores: only ${[...STORES].join(", ")}`);
  if (s.database !== null && !s.stores.includes("postgres")) fail(file, "a database needs postgres among its stores");
  if (!Array.isArray(s.calls)) fail(file, "calls (the services it calls) missing");
  checkMesh(file, s);
  if (s.canary) {
    if (!/^v[0-9]+$/.test(s.canary.version)) fail(file, `canary.version "${s.canary.version}" is not v<N>`);
    checkPort(file, "canary.nativePort", s.canary.nativePort);
    if (!VAR_RE.test(s.canary.portVar)) fail(file, `canary.portVar "${s.canary.portVar}" is not a *_PORT variable`);
    if (!Number.isInteger(s.canary.percent) || s.canary.percent < 1 || s.canary.percent > 99)
      fail(file, `canary.percent ${s.canary.percent} is not the canary's default share, 1 to 99 (%)`);
  }
}

// Every service, in start order, and the suite's own ports; throws on a bad or clashing fact.
export function loadSuite(root) {
  const dir = path.join(root, "services");
  const services = [];
  for (const name of readdirSync(dir).sort()) {
    const file = path.join("services", name, "service.json");
    if (!existsSync(path.join(root, file))) continue;
    const s = JSON.parse(readFileSync(path.join(root, file), "utf8"));
    checkService(file, s, name);
    services.push(s);
  }
  services.sort((a, b) => a.order - b.order || a.name.localeCompare(b.name));
  const suite = JSON.parse(readFileSync(path.join(root, "tools/generate/suite.json"), "utf8"));
  const seen = new Map();
  const claim = (port, who) => {
    if (seen.has(port)) throw new Error(`port ${port}: both ${seen.get(port)} and ${who}`);
    seen.set(port, who);
  };
  for (const [k, v] of Object.entries(suite)) if (k.endsWith("Port")) claim(v, `suite.json ${k}`);
  const names = new Set(services.map((s) => s.name));
  const paths = new Map();
  for (const s of services)
    for (const p of s.edge?.paths ?? []) {
      const v = p.prefix ?? p.exact;
      if (paths.has(v)) throw new Error(`edge path ${v}: both ${paths.get(v)} and ${s.name}`);
      paths.set(v, s.name);
    }
  for (const s of services) {
    claim(s.port, s.name);
    if (s.canary) claim(s.canary.nativePort, `${s.name} ${s.canary.version}`);
    for (const c of s.calls) if (!names.has(c)) throw new Error(`services/${s.name}/service.json: calls unknown service "${c}"`);
    // The mesh admits a caller on the operations of the callee's edge.allow, and on nothing else.
    for (const c of s.calls)
      if (!services.find((x) => x.name === c).edge)
        throw new Error(`services/${s.name}/service.json: calls "${c}", which has no edge.allow (what its callers may do)`);
  }
  return { services, suite };
}
