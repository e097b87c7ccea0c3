#!/usr/bin/env node
// The static check of the API reference (docs/api, OpenAPI 3.1): every document has the
// structure the tests and the API page rely on and its schemas compile; every route of every
// service's route table (services/<name>/routes.c), and the routes common/src/builtin.c gives
// every service, is in that service's document, and the document names no route the code does
// not have; gateway.yaml names exactly the paths gateway/nginx.conf routes (/healthz as a path,
// the forwarded ones in the "It forwards" paragraph of its description); the storefront's own
// YAML reader (services/frontend/static/assets/yaml.js, which the API page uses) reads every
// document exactly as the `yaml` package does.
//
//   node tests/deploy/openapi.mjs [DOCS_DIR]     DOCS_DIR defaults to docs/api
// Exit status: 0 all good, 1 problems (each printed), 2 usage.
import { readFileSync, readdirSync, existsSync } from "node:fs";
import path from "node:path";
import vm from "node:vm";
import { isDeepStrictEqual } from "node:util";
import { COMMON, loadDocs, operations, schemaProblems, structureProblems } from "./lib/openapi.mjs";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
// The documents that are not a service's: what every service shares, and the gateway's.
const NOT_SERVICES = new Set([COMMON, "gateway.yaml"]);

// The routes of every `struct ms_route NAME[] = {...}` table in a C file: a Map from table name
// to ["GET /products/{id}", ...].
function routeTables(file) {
  const text = readFileSync(file, "utf8");
  const tables = new Map();
  for (const t of text.matchAll(/struct ms_route (\w+)\[\] = \{([\s\S]*?)\n\};/g)) {
    const routes = [...t[2].matchAll(/\{\s*"([A-Z]+)",\s*"([^"]+)"/g)].map((m) => `${m[1]} ${m[2]}`);
    tables.set(t[1], routes);
  }
  return tables;
}

// Each service's routes from its routes.c: a Map from service name to [route].
function serviceRoutes() {
  const out = new Map();
  for (const name of readdirSync(path.join(ROOT, "services")).sort()) {
    const file = path.join(ROOT, "services", name, "routes.c");
    if (!existsSync(file)) continue;
    const table = routeTables(file).get(`${name}_routes`);
    if (!table || table.length === 0) throw new Error(`${file}: no ${name}_routes table`);
    out.set(name, table);
  }
  return out;
}

// The routes every service gets: every table in common/src/builtin.c (the probes always, the
// admin routes when ADMIN_ENABLED; both are documented, the admin ones as conditional).
function builtinRoutes() {
  const tables = routeTables(path.join(ROOT, "common/src/builtin.c"));
  if (tables.size === 0) throw new Error("common/src/builtin.c: no route table found");
  return [...tables.values()].flat();
}

function documented(docs, name) {
  return operations(docs, name).map((o) => `${o.method} ${o.path}`);
}

// The paths the shop's server of gateway/nginx.conf (the one that listens on 8080) has a location
// for: "/products" for `~ ^/products(/|$)`, "/" for `= /`, "/assets" for `^~ /assets/`. Named
// locations, `internal` ones (nginx's own error pages) and the catch-all `location /` are not
// routes; the metrics server on 9145 is not the shop's API. The locations it includes from
// gateway/edge-routes.conf are each service's "edge" (make generate), not the gateway's own.
function gatewayPaths() {
  const text = readFileSync(path.join(ROOT, "gateway/nginx.conf"), "utf8");
  const shop = serverBlocks(text).find((b) => /^\s*listen\s+8080;/m.test(b));
  if (!shop) throw new Error("gateway/nginx.conf: no server listens on 8080");
  const out = [];
  for (const m of shop.matchAll(/^\s*location\s+(=|~|\^~)?\s*(\S+)\s*\{([^}]*)\}/gm)) {
    const [, mod, target, body] = m;
    if (target.startsWith("@") || !mod || /^\s*internal;/m.test(body)) continue;
    if (mod === "~") {
      const prefix = /^\^(\/[\w/.-]+)\(\/\|\$\)$/.exec(target);
      if (!prefix) throw new Error(`gateway/nginx.conf: location ~ ${target}: not a path prefix this check reads`);
      out.push(prefix[1]);
    } else {
      out.push(target.length > 1 ? target.replace(/\/$/, "") : target);
    }
  }
  return out;
}

// The text of every `server { ... }` block, braces matched (nginx.conf has no braces in strings
// around server blocks that would confuse the count).
function serverBlocks(text) {
  const blocks = [];
  for (const m of text.matchAll(/^\s*server\s*\{/gm)) {
    let depth = 0;
    for (let i = m.index + m[0].length - 1; i < text.length; i++) {
      if (text[i] === "{") depth++;
      else if (text[i] === "}" && --depth === 0) {
        blocks.push(text.slice(m.index, i + 1));
        break;
      }
    }
  }
  return blocks;
}

// What gateway.yaml says the gateway routes: its own paths, and the backquoted paths of the
// "It forwards" paragraph of its description ("/cart/..." read as "/cart").
function gatewayDocumented(doc) {
  const para = (doc.info.description || "").split(/\n\s*\n/).find((p) => p.includes("It forwards")) || "";
  const forwarded = [...para.matchAll(/`(\/[^`]*)`/g)].map((m) =>
    m[1].replace(/\/\.\.\.$/, "").replace(/(.)\/$/, "$1"));
  return [...new Set([...Object.keys(doc.paths || {}), ...forwarded])];
}

// Routes in want but not in have, and the other way round, as problems.
function compare(what, want, have, problems) {
  for (const r of want) if (!have.includes(r)) problems.push(`${what}: route ${r} is not documented`);
  for (const r of have) if (!want.includes(r)) problems.push(`${what}: documents ${r}, which the code does not have`);
}

// The API page's YAML reader, loaded as the browser does (a classic script defining msYaml).
function pageReader() {
  const file = path.join(ROOT, "services/frontend/static/assets/yaml.js");
  const ctx = {};
  vm.runInNewContext(readFileSync(file, "utf8"), ctx, { filename: file });
  if (!ctx.msYaml || typeof ctx.msYaml.parse !== "function") throw new Error(`${file}: no msYaml.parse`);
  return ctx.msYaml;
}

function main(argv) {
  if (argv.length > 1) {
    console.error("usage: node tests/deploy/openapi.mjs [DOCS_DIR]");
    return 2;
  }
  const dir = path.resolve(argv[0] || path.join(ROOT, "docs/api"));
  const docs = loadDocs(dir);
  const problems = [];
  for (const name of docs.keys()) problems.push(...structureProblems(docs, name));
  if (problems.length === 0) problems.push(...schemaProblems(docs));
  if (problems.length === 0) {
    const common = builtinRoutes();
    if (!docs.has(COMMON)) problems.push(`${dir}: no ${COMMON}`);
    else compare(COMMON, common, documented(docs, COMMON), problems);
    for (const [name, routes] of serviceRoutes()) {
      const doc = `${name}.yaml`;
      if (!docs.has(doc)) problems.push(`services/${name}: no document ${doc} in ${dir}`);
      else compare(doc, [...routes, ...common], documented(docs, doc), problems);
    }
    if (docs.has("gateway.yaml")) {
      const want = gatewayPaths();
      const have = gatewayDocumented(docs.get("gateway.yaml"));
      for (const p of want) if (!have.includes(p)) problems.push(`gateway.yaml: gateway/nginx.conf routes ${p}, the document does not say so`);
      for (const p of have) if (!want.includes(p)) problems.push(`gateway.yaml: names ${p}, which gateway/nginx.conf does not route`);
    } else {
      problems.push(`${dir}: no gateway.yaml`);
    }
    const services = new Set([...serviceRoutes().keys()].map((n) => `${n}.yaml`));
    for (const name of docs.keys())
      if (!NOT_SERVICES.has(name) && !services.has(name))
        problems.push(`${name}: no service services/${name.replace(/\.yaml$/, "")} has a route table`);
    const reader = pageReader();
    for (const [name, doc] of docs) {
      let mine;
      try {
        mine = reader.parse(readFileSync(path.join(dir, name), "utf8"));
      } catch (e) {
        problems.push(`${name}: the API page's YAML reader fails: ${e.message}`);
        continue;
      }
      if (!isDeepStrictEqual(JSON.parse(JSON.stringify(mine)), JSON.parse(JSON.stringify(doc))))
        problems.push(`${name}: the API page's YAML reader reads it differently from the yaml package`);
    }
  }
  for (const p of problems) console.error(`FAIL ${p}`);
  if (problems.length) return 1;
  console.log(`ok: ${docs.size} documents in ${path.relative(ROOT, dir) || dir}: every route of ` +
    "every route table documented, nothing else, structure and schemas good, readable by the API page");
  return 0;
}

try {
  process.exitCode = main(process.argv.slice(2));
} catch (e) {
  console.error(`FAIL ${e.message}`);
  process.exitCode = 1;
}
