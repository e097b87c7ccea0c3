// The OpenAPI 3.1 documents of docs/api: loading them, following their $refs (local and
// relative, "common.yaml#/..."), listing their operations, checking the structure the checks
// and the API page rely on, and compiling their schemas with Ajv2020 (JSON Schema 2020-12, the
// dialect of OpenAPI 3.1). Used by tests/deploy/openapi.mjs (the static check) and
// tests/system/openapi.mjs (answers of a running stack validated against the documents).
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import Ajv2020 from "ajv/dist/2020.js";

export const METHODS = ["get", "put", "post", "delete", "patch", "options", "head", "trace"];
// The document of the parts every service shares; the others are one per service.
export const COMMON = "common.yaml";
// Ajv needs an absolute base to resolve "common.yaml#/..." against; nothing is fetched.
const BASE = "https://microshop.invalid/api/";

// Every *.yaml in dir, parsed: a Map from file name to document. Throws on a syntax error.
export function loadDocs(dir) {
  const docs = new Map();
  for (const f of readdirSync(dir).filter((n) => n.endsWith(".yaml")).sort()) {
    docs.set(f, parse(readFileSync(path.join(dir, f), "utf8"), { prettyErrors: true }));
  }
  return docs;
}

function unescapePointer(s) {
  return decodeURIComponent(s).replace(/~1/g, "/").replace(/~0/g, "~");
}

// The node ref names, read from document base: {node, base} (base: the document it is in).
// Throws when the document or the pointer does not exist.
export function resolveRef(docs, base, ref) {
  const [file, pointer = ""] = (ref.startsWith(BASE) ? ref.slice(BASE.length) : ref).split("#");
  const target = file === "" ? base : file;
  let node = docs.get(target);
  if (node === undefined) throw new Error(`${base}: $ref ${ref}: no document ${target}`);
  for (const part of pointer.split("/").slice(1)) {
    const key = unescapePointer(part);
    if (node === null || typeof node !== "object" || !(key in node))
      throw new Error(`${base}: $ref ${ref} names nothing`);
    node = node[key];
  }
  return { node, base: target };
}

// node with its $ref chain followed (an object without $ref is returned as it is).
export function deref(docs, base, node) {
  let cur = { node, base };
  for (let hops = 0; cur.node && typeof cur.node.$ref === "string"; hops++) {
    if (hops > 10) throw new Error(`${base}: $ref loop at ${node.$ref}`);
    cur = resolveRef(docs, cur.base, cur.node.$ref);
  }
  return cur;
}

// The operations of one document: [{method: "GET", path, op, base, params}] where base is the
// document the operation is written in (a path item may be a $ref to common.yaml) and params
// the path item's and the operation's parameters, resolved.
export function operations(docs, name) {
  const out = [];
  for (const [p, raw] of Object.entries(docs.get(name).paths || {})) {
    const item = deref(docs, name, raw);
    for (const m of METHODS) {
      const op = item.node[m];
      if (!op) continue;
      const params = [...(item.node.parameters || []), ...(op.parameters || [])].map(
        (x) => deref(docs, item.base, x));
      out.push({ method: m.toUpperCase(), path: p, op, base: item.base, params });
    }
  }
  return out;
}

// The responses an operation documents: a Map from status ("200") to {node, base}.
export function responses(docs, operation) {
  const out = new Map();
  for (const [status, r] of Object.entries(operation.op.responses || {}))
    out.set(status, deref(docs, operation.base, r));
  return out;
}

// The documents with every $ref made absolute (BASE + file + pointer), so that any schema taken
// out of them compiles on its own, its refs found among the documents Ajv holds.
function absolute(docs) {
  const fix = (name, node) => {
    if (Array.isArray(node)) return node.map((x) => fix(name, x));
    if (!node || typeof node !== "object") return node;
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k,
      k === "$ref" && typeof v === "string" && !v.startsWith(BASE)
        ? BASE + (v.startsWith("#") ? name : "") + v : fix(name, v)]));
  };
  return new Map([...docs].map(([name, doc]) => [name, fix(name, doc)]));
}

// An Ajv2020 instance holding every document under its own $id, and the documents it holds
// (refs made absolute): {ajv, docs, validator(schema)}. strict is off: the documents hold
// OpenAPI keywords (paths, components, description) beside the schemas.
export function makeAjv(docs) {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: false });
  const abs = absolute(docs);
  for (const [name, doc] of abs) ajv.addSchema({ ...doc, $id: BASE + name });
  const cache = new WeakMap();
  const validator = (schema) => {
    if (!cache.has(schema)) cache.set(schema, ajv.compile(schema));
    return cache.get(schema);
  };
  return { ajv, docs: abs, validator };
}

function pointerOf(parts) {
  return "#" + parts.map((p) => "/" + String(p).replace(/~/g, "~0").replace(/\//g, "~1")).join("");
}

/* ------------------------------------------------------------------ structure */

// The part of OpenAPI 3.1 the checks, the tests and the API page rely on. Not the whole
// specification: what these documents use, held strictly enough that a typo fails.
const ref = { type: "object", required: ["$ref"], properties: { $ref: { type: "string" } } };
const header = {
  anyOf: [ref, { type: "object", required: ["schema"], additionalProperties: false,
    properties: { description: { type: "string" }, required: { type: "boolean" },
      schema: { type: "object" } } }],
};
const mediaTypes = { type: "object", minProperties: 1,
  additionalProperties: { type: "object", required: ["schema"], additionalProperties: false,
    properties: { schema: { type: "object" } } } };
const response = {
  anyOf: [ref, { type: "object", required: ["description"], additionalProperties: false,
    properties: { description: { type: "string" },
      headers: { type: "object", additionalProperties: header },
      content: mediaTypes } }],
};
const parameter = {
  anyOf: [ref, { type: "object", required: ["name", "in", "schema"], additionalProperties: false,
    properties: { name: { type: "string", minLength: 1 },
      in: { enum: ["path", "query", "header", "cookie"] },
      description: { type: "string" }, required: { type: "boolean" },
      schema: { type: "object" } } }],
};
const operation = {
  type: "object", required: ["responses"], additionalProperties: false,
  properties: {
    operationId: { type: "string", pattern: "^[A-Za-z][A-Za-z0-9]*$" },
    summary: { type: "string" }, description: { type: "string" },
    tags: { type: "array", items: { type: "string" } },
    parameters: { type: "array", items: parameter },
    requestBody: { type: "object", required: ["content"], additionalProperties: false,
      properties: { required: { type: "boolean" }, description: { type: "string" },
        content: mediaTypes } },
    responses: { type: "object", minProperties: 1, propertyNames: { pattern: "^[1-5][0-9][0-9]$" },
      additionalProperties: response },
  },
};
const pathItem = {
  anyOf: [{ type: "object", required: ["$ref"], additionalProperties: false,
    properties: { $ref: { type: "string" } } },
  { type: "object", additionalProperties: false,
    properties: { description: { type: "string" }, summary: { type: "string" },
      parameters: { type: "array", items: parameter },
      ...Object.fromEntries(METHODS.map((m) => [m, operation])) } }],
};
const documentSchema = {
  type: "object", required: ["openapi", "info", "paths"], additionalProperties: false,
  properties: {
    openapi: { type: "string", pattern: "^3\\.1\\.[0-9]+$" },
    info: { type: "object", required: ["title", "version"], additionalProperties: false,
      properties: { title: { type: "string" }, version: { type: "string" },
        description: { type: "string" } } },
    servers: { type: "array", items: { type: "object", required: ["url"],
      additionalProperties: false, properties: { url: { type: "string" },
        description: { type: "string" } } } },
    paths: { type: "object", propertyNames: { pattern: "^/" }, additionalProperties: pathItem },
    components: { type: "object", additionalProperties: false,
      properties: { schemas: { type: "object", additionalProperties: { type: "object" } },
        responses: { type: "object", additionalProperties: response },
        parameters: { type: "object", additionalProperties: parameter },
        headers: { type: "object", additionalProperties: header } } },
  },
};

// Every $ref anywhere in node: [ref string].
function refsIn(node, out = []) {
  if (Array.isArray(node)) node.forEach((x) => refsIn(x, out));
  else if (node && typeof node === "object")
    for (const [k, v] of Object.entries(node)) {
      if (k === "$ref" && typeof v === "string") out.push(v);
      else refsIn(v, out);
    }
  return out;
}

let validateDocument = null; // compiled once: compiling is most of the check's time

// Checks one document's structure; returns a list of problems (empty when it is good).
export function structureProblems(docs, name) {
  const problems = [];
  validateDocument ||= new Ajv2020({ strict: false, allErrors: true }).compile(documentSchema);
  const valid = validateDocument(docs.get(name));
  if (!valid)
    for (const e of validateDocument.errors.slice(0, 10)) problems.push(`${name}${e.instancePath}: ${e.message}`);
  for (const r of refsIn(docs.get(name))) {
    try {
      resolveRef(docs, name, r);
    } catch (e) {
      problems.push(e.message);
    }
  }
  if (!valid || problems.length) return problems;
  const ids = new Set();
  for (const o of operations(docs, name)) {
    const where = `${name}: ${o.method} ${o.path}`;
    const templated = [...o.path.matchAll(/\{([^}]+)\}/g)].map((m) => m[1]).sort();
    const declared = o.params.filter((p) => p.node.in === "path");
    const names = declared.map((p) => p.node.name).sort();
    if (templated.join() !== names.join())
      problems.push(`${where}: path parameters [${names}] do not match the template [${templated}]`);
    for (const p of declared)
      if (p.node.required !== true) problems.push(`${where}: path parameter ${p.node.name} must be required`);
    if (o.op.operationId && o.base === name) {
      if (ids.has(o.op.operationId)) problems.push(`${where}: operationId ${o.op.operationId} twice`);
      ids.add(o.op.operationId);
    }
  }
  return problems;
}

// Compiles every schema of every document (bodies, parameters, headers, components): a schema
// Ajv cannot compile (an unknown type, a bad pattern) is a problem.
export function schemaProblems(docs) {
  const problems = [];
  const { docs: abs, validator } = makeAjv(docs);
  const compile = (name, node, parts) => {
    try {
      validator(node);
    } catch (e) {
      problems.push(`${name} ${pointerOf(parts)}: ${e.message}`);
    }
  };
  // every "schema" of a parameter, header or media type, and every components.schemas entry
  const walk = (name, node, parts) => {
    if (Array.isArray(node)) return node.forEach((x, i) => walk(name, x, [...parts, i]));
    if (!node || typeof node !== "object") return;
    const isSchemas = parts.length === 2 && parts[0] === "components" && parts[1] === "schemas";
    for (const [k, v] of Object.entries(node)) {
      if (isSchemas || (k === "schema" && v && typeof v === "object")) compile(name, v, [...parts, k]);
      else walk(name, v, [...parts, k]);
    }
  };
  for (const [name, doc] of abs) walk(name, doc, []);
  return problems;
}
