#!/usr/bin/env node
// Calls every documented route of a running stack, with valid and invalid input, and validates
// every answer against the service's OpenAPI document (docs/api): the status must be one the
// operation documents (and the one the call expects), every documented header that is required
// must be there and match its schema, the Content-Type must be a documented media type and a
// JSON body must validate (Ajv2020); a request body the service accepted must validate against
// the operation's requestBody schema. Every operation of every service document must get at
// least one success and, when it documents a 4xx, at least one 4xx: a route added to a document
// without a call here fails.
//
//   node tests/system/openapi.mjs [--docs DIR] [--only SERVICE]
// The stack's base URLs come from MS_API_URLS ("product=http://127.0.0.1:P,cart=...,
// product-v2=...,gateway=..."), as tests/system/openapi.test.sh sets it. --only runs the calls
// of one service and skips the coverage rule (for the planted violations).
// Exit status: 0 all good, 1 a check failed, 2 usage.
import path from "node:path";
import { COMMON, deref, loadDocs, makeAjv, operations, responses } from "../deploy/lib/openapi.mjs";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
const SERVICES = ["product", "user", "cart", "inventory", "order", "notification", "frontend"];

function args(argv) {
  const out = { docs: path.join(ROOT, "docs/api"), only: null };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--docs") out.docs = path.resolve(argv[++i]);
    else if (argv[i] === "--only") out.only = argv[++i];
    else throw new Error(`usage: node tests/system/openapi.mjs [--docs DIR] [--only SERVICE] (${argv[i]}?)`);
  }
  return out;
}

function urls() {
  const out = {};
  for (const pair of (process.env.MS_API_URLS || "").split(",").filter(Boolean)) {
    const [k, v] = pair.split("=");
    out[k] = v;
  }
  for (const s of [...SERVICES, "product-v2", "gateway"])
    if (!out[s]) throw new Error(`MS_API_URLS has no URL for ${s}`);
  return out;
}

/* ------------------------------------------------------------------ validation */

// The operation of document doc that serves METHOD on a concrete path: [op] (literal segments
// beat parameters, as in common/src/router.c).
function findOperation(ops, method, concrete) {
  const segs = concrete.split("?")[0].split("/").filter(Boolean);
  let best = null;
  let bestScore = -1;
  for (const o of ops) {
    if (o.method !== method) continue;
    const pat = o.path.split("/").filter(Boolean);
    if (pat.length !== segs.length) continue;
    let score = 0;
    let fits = true;
    pat.forEach((p, i) => {
      if (p.startsWith("{")) return;
      if (p === segs[i]) score++;
      else fits = false;
    });
    if (fits && score > bestScore) [best, bestScore] = [o, score];
  }
  return best;
}

function makeValidator(docs) {
  const { docs: abs, validator } = makeAjv(docs);
  const opsOf = new Map([...abs.keys()].map((n) => [n, operations(abs, n)]));
  const explain = (v) => v.errors.map((e) => `${e.instancePath ? e.instancePath + " " : ""}${e.message}`).join("; ");

  // Problems with one answer (and the request body sent, if any), as a list of strings; op is
  // the operation it was matched to. A body the service accepted must be one the document
  // allows, so a request schema stricter than the code fails too.
  return function check(docName, method, concrete, answer, sent) {
    const problems = [];
    const op = findOperation(opsOf.get(docName), method, concrete);
    if (!op) return { op: null, problems: [`${method} ${concrete}: no such operation in ${docName}`] };
    const request = op.op.requestBody && op.op.requestBody.content["application/json"];
    if (request && sent !== undefined && answer.status < 300) {
      const v = validator(request.schema);
      if (!v(JSON.parse(sent))) problems.push(`the service accepted a request body the document rejects: ${explain(v)}`);
    }
    const documented = responses(abs, op);
    const r = documented.get(String(answer.status));
    if (!r) {
      problems.push(`status ${answer.status} is not documented (documented: ${[...documented.keys()].join(", ")})`);
      return { op, problems };
    }
    for (const [name, h] of Object.entries(r.node.headers || {})) {
      const header = deref(abs, r.base, h).node;
      const value = answer.headers.get(name);
      if (value === null) {
        if (header.required) problems.push(`header ${name} is missing`);
        continue;
      }
      const v = validator(header.schema);
      if (!v(value)) problems.push(`header ${name}: ${JSON.stringify(value)} ${explain(v)}`);
    }
    const content = r.node.content || {};
    const type = answer.headers.get("content-type");
    if (Object.keys(content).length === 0) {
      if (answer.text !== "") problems.push(`a body where none is documented: ${answer.text.slice(0, 80)}`);
      return { op, problems };
    }
    if (!(type in content)) {
      problems.push(`Content-Type ${type} is not documented (documented: ${Object.keys(content).join(", ")})`);
      return { op, problems };
    }
    let body = answer.text;
    if (type.startsWith("application/json")) {
      try {
        body = JSON.parse(answer.text);
      } catch (e) {
        problems.push(`the body is not JSON: ${answer.text.slice(0, 80)}`);
        return { op, problems };
      }
    }
    const v = validator(content[type].schema);
    if (!v(body)) problems.push(`body: ${explain(v)}`);
    return { op, problems };
  };
}

/* ------------------------------------------------------------------ the calls */

// A run: call() sends one request, checks the status it expects and validates the answer;
// coverage records which operations got a success and an error.
function makeRun(base, check) {
  const failures = [];
  const coverage = new Map(); // "doc METHOD path" -> {ok, error}
  let calls = 0;

  async function call(service, method, target, opts = {}) {
    const { body, raw, headers = {}, expect, doc = `${service}.yaml` } = opts;
    const init = { method, headers: { ...headers }, signal: AbortSignal.timeout(10000) };
    if (raw !== undefined || body !== undefined) {
      init.body = raw !== undefined ? raw : JSON.stringify(body);
      init.headers["content-type"] = "application/json";
    }
    const res = await fetch(base[service] + target, init);
    const answer = { status: res.status, headers: res.headers, text: await res.text() };
    calls++;
    const { op, problems } = check(doc, method, target, answer, init.body);
    if (expect !== undefined && answer.status !== expect)
      problems.unshift(`expected ${expect}, got ${answer.status}: ${answer.text.slice(0, 160)}`);
    if (op) {
      const key = `${doc} ${op.method} ${op.path}`;
      const c = coverage.get(key) || { ok: false, error: false };
      if (answer.status < 400) c.ok = true;
      else if (answer.status < 500) c.error = true;
      coverage.set(key, c);
    }
    for (const p of problems) failures.push(`${service} ${method} ${target}: ${p}`);
    let json = null;
    try {
      json = JSON.parse(answer.text);
    } catch {
      /* not JSON: the caller does not need it */
    }
    return { ...answer, json };
  }
  return { call, failures, coverage, calls: () => calls };
}

const uniq = `${process.pid}-${Date.now()}`;

async function probes(call, service) {
  for (const p of ["/health", "/ready", "/metrics"]) await call(service, "GET", p, { expect: 200 });
  await call(service, "GET", "/admin/faults", { expect: 200 });
  await call(service, "PUT", "/admin/faults", { body: { delay_ms: 0 }, expect: 200 });
  await call(service, "PUT", "/admin/faults", { body: { abort_status: 42 }, expect: 400 });
  await call(service, "PUT", "/admin/faults", { raw: "{not json", expect: 400 });
  await call(service, "DELETE", "/admin/faults", { expect: 200 });
}

const flows = {
  async product(call) {
    const page = await call("product", "GET", "/products?limit=5&category=", { expect: 200 });
    await call("product", "GET", "/products?ids=1,2,3", { expect: 200 });
    await call("product", "GET", "/products?limit=0", { expect: 400 });
    await call("product", "GET", "/products?categroy=x", { expect: 400 });
    await call("product", "GET", "/products/1", { expect: 200 });
    await call("product-v2", "GET", "/products/1", { expect: 200, doc: "product.yaml" });
    await call("gateway", "GET", "/products/2", { expect: 200, doc: "product.yaml" });
    await call("product", "GET", "/products/abc", { expect: 400 });
    await call("product", "GET", "/products/999999", { expect: 404 });
    return page.json && page.json.items[0] && page.json.items[0].image_url;
  },

  async user(call, state) {
    const email = `openapi-${uniq}@example.com`;
    const made = await call("user", "POST", "/users", { body: { email, name: "Ada" }, expect: 201 });
    state.userId = made.json && made.json.id;
    state.email = email;
    await call("user", "POST", "/users", { body: { email: email.toUpperCase(), name: "Ada" }, expect: 409 });
    await call("user", "POST", "/users", { body: { email: "no-at-sign", name: "Ada" }, expect: 400 });
    await call("user", "POST", "/users", { raw: "[1,", expect: 400 });
    await call("user", "POST", "/users", { raw: JSON.stringify({ email, name: "x".repeat(9000) }), expect: 413 });
    await call("user", "GET", `/users?email=${encodeURIComponent(email)}`, { expect: 200 });
    await call("user", "GET", "/users?email=nobody-" + uniq + "%40example.com", { expect: 404 });
    await call("user", "GET", "/users?email=bad", { expect: 400 });
    await call("user", "GET", `/users/${state.userId}`, { expect: 200 });
    await call("user", "GET", "/users/0", { expect: 400 });
    await call("user", "GET", "/users/2147483000", { expect: 404 });
  },

  async cart(call, state) {
    const u = state.userId;
    await call("cart", "POST", `/cart/${u}`, { body: { product_id: 1, quantity: 2 }, expect: 200 });
    await call("cart", "POST", `/cart/${u}`, { body: { product_id: 1, quantity: 100 }, expect: 400 });
    await call("cart", "POST", `/cart/${u}`, { body: { product_id: 999999, quantity: 1 }, expect: 404 });
    await call("cart", "POST", `/cart/${u}`, { raw: JSON.stringify({ product_id: 1, quantity: 1, pad: "x".repeat(2000) }), expect: 413 });
    await call("cart", "GET", `/cart/${u}`, { expect: 200 });
    await call("cart", "GET", "/cart/0", { expect: 400 });
    await call("cart", "DELETE", `/cart/${u}/1`, { expect: 200 });
    await call("cart", "DELETE", `/cart/${u}/1`, { expect: 404 });
    await call("cart", "DELETE", `/cart/${u}/x`, { expect: 400 });
    await call("cart", "POST", `/cart/${u}`, { body: { product_id: 2, quantity: 3 }, expect: 200 });
    await call("cart", "POST", `/cart/${u}/checkout`,
      { body: { order_id: `openapi-${uniq}`, items: [{ product_id: 2, quantity: 1 }] }, expect: 204 });
    await call("cart", "POST", `/cart/${u}/checkout`, { body: { order_id: "", items: [] }, expect: 400 });
    await call("cart", "DELETE", `/cart/${u}`, { expect: 204 });
    await call("cart", "DELETE", "/cart/abc", { expect: 400 });
    // a 503 as a dependency outage answers it (an injected abort shares its envelope and header)
    await call("cart", "PUT", "/admin/faults", { body: { abort_status: 503, abort_percent: 100 }, expect: 200 });
    await call("cart", "GET", `/cart/${u}`, { expect: 503 });
    await call("cart", "DELETE", "/admin/faults", { expect: 200 });
  },

  async inventory(call) {
    const r1 = `openapi-${uniq}-a`;
    const r2 = `openapi-${uniq}-b`;
    const items = [{ product_id: 2, quantity: 1 }];
    await call("inventory", "GET", "/inventory/1", { expect: 200 });
    await call("inventory", "GET", "/inventory/x", { expect: 400 });
    await call("inventory", "GET", "/inventory/999999", { expect: 404 });
    await call("inventory", "PUT", "/inventory/27", { body: { available: 100 }, expect: 200 });
    await call("inventory", "PUT", "/inventory/27", { body: { available: -1 }, expect: 400 });
    await call("inventory", "POST", "/inventory/reservations", { body: { reservation_id: r1, items }, expect: 201 });
    await call("inventory", "POST", "/inventory/reservations", { body: { reservation_id: r1, items }, expect: 201 });
    await call("inventory", "POST", "/inventory/reservations",
      { body: { reservation_id: r2, items: [{ product_id: 3, quantity: 1000 }] }, expect: 409 });
    await call("inventory", "POST", "/inventory/reservations",
      { body: { reservation_id: r2, items: [{ product_id: 999999, quantity: 1 }] }, expect: 404 });
    await call("inventory", "POST", "/inventory/reservations", { body: { reservation_id: r2, items: [] }, expect: 400 });
    await call("inventory", "GET", `/inventory/reservations/${r1}`, { expect: 200 });
    await call("inventory", "GET", "/inventory/reservations/a%20b", { expect: 400 });
    await call("inventory", "GET", `/inventory/reservations/${r2}`, { expect: 404 });
    await call("inventory", "POST", `/inventory/reservations/${r1}/commit`, { expect: 200 });
    await call("inventory", "POST", `/inventory/reservations/${r1}/release`, { expect: 409 });
    await call("inventory", "POST", "/inventory/reservations", { body: { reservation_id: r2, items }, expect: 201 });
    await call("inventory", "POST", `/inventory/reservations/${r2}/release`, { expect: 200 });
    await call("inventory", "POST", `/inventory/reservations/${r2}/commit`, { expect: 409 });
    await call("inventory", "POST", "/inventory/reservations/a%20b/commit", { expect: 400 });
    // a release of a reservation never made leaves a tombstone; a late reserve answers it
    await call("inventory", "POST", `/inventory/reservations/no-${uniq}/release`, { expect: 200 });
    await call("inventory", "POST", "/inventory/27/restock", { body: { add: 5 }, expect: 200 });
    await call("inventory", "POST", "/inventory/27/restock", { body: { add: 0 }, expect: 400 });
    await call("inventory", "POST", "/inventory/27/restock", { body: { add: 1000000 }, expect: 409 });
  },

  async order(call, state) {
    const u = state.userId;
    const key = `openapi-${uniq}`;
    const body = { user_id: u, items: [{ product_id: 4, quantity: 1 }] };
    const made = await call("order", "POST", "/orders", { body, headers: { "Idempotency-Key": key }, expect: 201 });
    state.orderId = made.json && made.json.id;
    const replay = await call("order", "POST", "/orders", { body, headers: { "Idempotency-Key": key }, expect: 201 });
    if (replay.headers.get("idempotent-replayed") !== "true")
      throw new Error("order: a replay without Idempotent-Replayed: true");
    await call("order", "POST", "/orders", { body: { ...body, items: [{ product_id: 5, quantity: 1 }] },
      headers: { "Idempotency-Key": key }, expect: 422 });
    await call("order", "POST", "/orders", { body: { user_id: 0 }, expect: 400 });
    await call("order", "POST", "/orders", { body: { user_id: u }, expect: 400 }); // the cart is empty
    await call("order", "POST", "/orders", { body: { user_id: 2147483000, items: body.items }, expect: 404 });
    await call("order", "GET", `/orders?user_id=${u}`, { expect: 200 });
    await call("order", "GET", "/orders", { expect: 400 });
    await call("order", "GET", `/orders/${state.orderId}`, { expect: 200 });
    await call("order", "GET", "/orders/not-a-uuid", { expect: 400 });
    await call("order", "GET", "/orders/00000000-0000-4000-8000-000000000000", { expect: 404 });
  },

  async notification(call, state) {
    await call("notification", "GET", `/notifications?order_id=${state.orderId}`, { expect: 200 });
    await call("notification", "GET", `/notifications?user_id=${state.userId}`, { expect: 200 });
    await call("notification", "GET", "/notifications", { expect: 400 });
    await call("notification", "GET", "/notifications?order_id=a&user_id=1", { expect: 400 });
  },

  async frontend(call, state) {
    const page = await call("frontend", "GET", "/", { expect: 200 });
    await call("frontend", "GET", "/", { headers: { "If-None-Match": page.headers.get("etag") }, expect: 304 });
    await call("frontend", "GET", "/index.html", { expect: 200 });
    await call("frontend", "GET", "/index.html", { headers: { "If-None-Match": "*" }, expect: 304 });
    const api = await call("frontend", "GET", "/api.html", { expect: 200 });
    await call("frontend", "GET", "/api.html", { headers: { "If-None-Match": api.headers.get("etag") }, expect: 304 });
    await call("frontend", "GET", "/api/product.yaml", { expect: 200 });
    await call("frontend", "GET", "/api/no-such.yaml", { expect: 404 });
    await call("frontend", "GET", "/assets/app.js", { expect: 200 });
    await call("frontend", "GET", "/assets/style.css?v=old", { expect: 200 });
    await call("frontend", "GET", "/assets/..%2findex.html", { expect: 404 });
    await call("frontend", "GET", state.imageUrl || "/images/products/missing", { expect: 200 });
    await call("frontend", "GET", "/images/products/no-such.svg", { expect: 404 });
    await call("frontend", "GET", "/config.json", { expect: 200 });
  },

  async gateway(call) {
    await call("gateway", "GET", "/healthz", { expect: 200 });
  },
};

function uncovered(docs, coverage, only) {
  const out = [];
  for (const name of docs.keys()) {
    if (name === COMMON || (only && name !== `${only}.yaml`)) continue;
    for (const o of operations(docs, name)) {
      const c = coverage.get(`${name} ${o.method} ${o.path}`) || { ok: false, error: false };
      const has4xx = Object.keys(o.op.responses).some((s) => s.startsWith("4"));
      if (!c.ok) out.push(`${name} ${o.method} ${o.path}: no call got a success`);
      if (has4xx && !c.error) out.push(`${name} ${o.method} ${o.path}: no call got a 4xx`);
    }
  }
  return out;
}

async function main() {
  const opts = args(process.argv.slice(2));
  const docs = loadDocs(opts.docs);
  const run = makeRun(urls(), makeValidator(docs));
  const state = {};
  const started = Date.now();
  // --only runs one service's calls, after those it needs the state of (a user, an order)
  const needs = { cart: ["user"], order: ["user"], notification: ["user", "order"], frontend: ["product"] };
  const all = ["product", "user", "cart", "inventory", "order", "notification", "frontend", "gateway"];
  const wanted = opts.only ? [...(needs[opts.only] || []), opts.only] : all;
  for (const service of wanted) {
    if (!flows[service]) throw new Error(`no calls for ${service}`);
    const result = await flows[service](run.call, state);
    if (service === "product") state.imageUrl = result;
    if (SERVICES.includes(service) && !(opts.only && service !== opts.only)) await probes(run.call, service);
  }
  const problems = [...run.failures];
  if (!opts.only) problems.push(...uncovered(docs, run.coverage, null));
  for (const p of problems) console.error(`FAIL ${p}`);
  if (problems.length) return 1;
  console.log(`ok: ${run.calls()} calls, every answer valid against docs/api, every operation ` +
    `covered (${run.coverage.size} operations) in ${Date.now() - started} ms`);
  return 0;
}

main().then((rc) => {
  process.exitCode = rc;
}, (e) => {
  console.error(`FAIL ${e.stack || e.message}`);
  process.exitCode = 1;
});
