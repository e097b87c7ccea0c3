// Offline validation of Kubernetes documents: core kinds through kubernetes-models (plus an
// unknown-field check the models lack), custom resources through the vendored CRD schemas in
// tests/deploy/schemas/ converted as tests/deploy/schemas/README.md explains, and an index for
// cross-file checks. Every checker under tests/deploy/ imports this one module.
import { readFileSync } from "node:fs";
import { readFile, readdir } from "node:fs/promises";
import { execFileSync } from "node:child_process";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { parseAllDocuments } from "yaml";
import Ajv from "ajv";
import addFormats from "ajv-formats";

const here = path.dirname(fileURLToPath(import.meta.url));
const SCHEMA_DIR = path.resolve(here, "..", "schemas");

/* ------------------------------------------------------------------ loading */

// Parses YAML text (multi-document, YAML 1.1 as Kubernetes reads it); throws on a syntax error
// with the file name. Null documents (a lone "---") are skipped.
export function parseDocuments(text, file) {
  const out = [];
  for (const d of parseAllDocuments(text, { version: "1.1" })) {
    if (d.errors.length > 0)
      throw new Error(`${file}: ${d.errors.map((e) => e.message).join("; ")}`);
    const doc = d.toJS({ maxAliasCount: 100 });
    if (doc !== null && doc !== undefined) out.push({ file, doc });
  }
  return out;
}

// Reads every YAML file in paths; returns [{file, doc}] in file order.
export async function loadDocuments(paths) {
  const out = [];
  for (const p of paths) out.push(...parseDocuments(await readFile(p, "utf8"), p));
  return out;
}

// Renders a kustomization directory offline (`kubectl kustomize DIR`); returns [{file, doc}]
// with file set to "DIR (kustomize)". Throws with kubectl's message when rendering fails.
export function renderKustomize(dir) {
  let text;
  try {
    text = execFileSync("kubectl", ["kustomize", dir], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
      maxBuffer: 64 << 20,
    });
  } catch (e) {
    throw new Error(`kubectl kustomize ${dir} failed: ${(e.stderr || e.message).trim()}`);
  }
  return parseDocuments(text, `${dir} (kustomize)`);
}

/* ------------------------------------------------------------- core kinds */

// Group/version of a core apiVersion → kubernetes-models folder ("v1" → "v1", "apps/v1" → "apps/v1").
async function coreModel(apiVersion, kind) {
  if (!/^([a-z0-9.-]+\/)?v[0-9]+((alpha|beta)[0-9]+)?$/.test(apiVersion) || !/^[A-Z][A-Za-z0-9]*$/.test(kind))
    return null;
  try {
    const mod = await import(`kubernetes-models/${apiVersion}/${kind}`);
    return mod[kind] ?? null;
  } catch {
    return null;
  }
}

// Fields allowed at the top of spec for the core kinds where a typo is most costly; the
// models accept unknown fields, the API server (strict field validation) does not.
// strictCore below walks the whole object with the models' TypeScript declarations; this list
// stays as a second, explicit guard on the fields the cross-file checks rely on.
export const SPEC_FIELDS = {
  Service: ["allocateLoadBalancerNodePorts", "clusterIP", "clusterIPs", "externalIPs", "externalName",
    "externalTrafficPolicy", "healthCheckNodePort", "internalTrafficPolicy", "ipFamilies", "ipFamilyPolicy",
    "loadBalancerClass", "loadBalancerIP", "loadBalancerSourceRanges", "ports", "publishNotReadyAddresses",
    "selector", "sessionAffinity", "sessionAffinityConfig", "trafficDistribution", "type"],
  Deployment: ["minReadySeconds", "paused", "progressDeadlineSeconds", "replicas", "revisionHistoryLimit",
    "selector", "strategy", "template"],
  StatefulSet: ["minReadySeconds", "ordinals", "persistentVolumeClaimRetentionPolicy", "podManagementPolicy",
    "replicas", "revisionHistoryLimit", "selector", "serviceName", "template", "updateStrategy",
    "volumeClaimTemplates"],
  PodDisruptionBudget: ["maxUnavailable", "minAvailable", "selector", "unhealthyPodEvictionPolicy"],
  HorizontalPodAutoscaler: ["behavior", "maxReplicas", "metrics", "minReplicas", "scaleTargetRef",
    "targetCPUUtilizationPercentage"],
};

function closest(word, candidates) {
  let best = null;
  let bestD = Infinity;
  for (const c of candidates) {
    const d = levenshtein(word.toLowerCase(), c.toLowerCase());
    if (d < bestD) [best, bestD] = [c, d];
  }
  if (bestD <= Math.max(2, Math.floor(word.length / 3))) return best;
  // A shortened name ("initialDelay" for "initialDelaySeconds").
  return candidates.find((c) => word.length >= 4 && c.toLowerCase().startsWith(word.toLowerCase())) ?? null;
}

function levenshtein(a, b) {
  const row = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let prev = row[0];
    row[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const cur = row[j];
      row[j] = Math.min(row[j] + 1, row[j - 1] + 1, prev + (a[i - 1] === b[j - 1] ? 0 : 1));
      prev = cur;
    }
  }
  return row[b.length];
}

function unknownField(pathStr, name, allowed) {
  const hint = closest(name, allowed);
  return `${pathStr} unknown field "${name}"${hint ? ` (did you mean "${hint}"?)` : ""}`;
}

function strictSpec(doc) {
  const allowed = SPEC_FIELDS[doc.kind];
  if (!allowed || !isObject(doc.spec)) return [];
  return Object.keys(doc.spec)
    .filter((k) => !allowed.includes(k))
    .map((k) => unknownField("/spec", k, allowed));
}

function isObject(v) {
  return v !== null && typeof v === "object" && !Array.isArray(v);
}

/* ------------------------------------------------------ custom resources */

let crdIndex = null; // "group/version/Kind" → openAPIV3Schema (raw)
const compiled = new Map(); // same key → ajv validate function
let ajv = null;

async function yamlFiles(dir) {
  const out = [];
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...(await yamlFiles(p)));
    else if (/\.ya?ml$/.test(e.name)) out.push(p);
  }
  return out.sort();
}

async function loadCrds() {
  if (crdIndex) return crdIndex;
  crdIndex = new Map();
  for (const { doc } of await loadDocuments(await yamlFiles(SCHEMA_DIR))) {
    if (doc?.kind !== "CustomResourceDefinition") continue;
    for (const v of doc.spec.versions ?? []) {
      const schema = v.schema?.openAPIV3Schema;
      if (schema) crdIndex.set(`${doc.spec.group}/${v.name}/${doc.spec.names.kind}`, schema);
    }
  }
  return crdIndex;
}

// The custom resource kinds with a vendored schema, as "group/version/Kind".
export async function knownCustomKinds() {
  return [...(await loadCrds()).keys()].sort();
}

// Converts a CRD's OpenAPI v3 schema into one ajv 8 compiles and that rejects unknown fields
// (tests/deploy/schemas/README.md, "How to validate").
export function convertSchema(schema, inBranch = false) {
  if (Array.isArray(schema)) return schema.map((s) => convertSchema(s, inBranch));
  if (!isObject(schema)) return schema;
  const out = {};
  for (const [k, v] of Object.entries(schema)) {
    if (k.startsWith("x-kubernetes-")) continue;
    if (k === "properties" || k === "patternProperties" || k === "definitions") {
      out[k] = Object.fromEntries(Object.entries(v).map(([n, s]) => [n, convertSchema(s, false)]));
    } else if (k === "anyOf" || k === "oneOf" || k === "allOf") {
      out[k] = v.map((s) => convertSchema(s, true));
    } else if (k === "not") {
      out[k] = convertSchema(v, true);
    } else if (k === "items" || k === "additionalProperties") {
      out[k] = isObject(v) || Array.isArray(v) ? convertSchema(v, false) : v;
    } else {
      out[k] = v;
    }
  }
  if (schema["x-kubernetes-int-or-string"] === true) {
    delete out.type;
    if (!out.anyOf && !out.oneOf) out.anyOf = [{ type: "integer" }, { type: "string" }];
  }
  for (const [b, n] of [["exclusiveMinimum", "minimum"], ["exclusiveMaximum", "maximum"]]) {
    if (typeof out[b] === "boolean") {
      if (out[b] && typeof out[n] === "number") {
        out[b] = out[n];
        delete out[n];
      } else delete out[b];
    }
  }
  if (out.properties && out.additionalProperties === undefined && !inBranch &&
      schema["x-kubernetes-preserve-unknown-fields"] !== true)
    out.additionalProperties = false;
  return out;
}

function getAjv() {
  if (ajv) return ajv;
  ajv = new Ajv({
    allErrors: true,
    strict: false,
    verbose: true,
    code: { regExp: goRegExp },
  });
  addFormats(ajv);
  return ajv;
}

// Patterns are Go RE2: a leading "(?i)" (also right after "^", as prometheus-operator writes
// it) becomes the JS "i" flag; everything else in the vendored schemas compiles as is.
function goRegExp(pattern, flags) {
  const m = /^(\^?)\(\?i\)/.exec(pattern);
  if (m) return new RegExp(m[1] + pattern.slice(m[0].length), `${flags}i`);
  return new RegExp(pattern, flags);
}

async function crdValidator(apiVersion, kind) {
  const key = `${apiVersion}/${kind}`;
  if (compiled.has(key)) return compiled.get(key);
  const raw = (await loadCrds()).get(key);
  if (!raw) return null;
  const schema = convertSchema(raw);
  schema.properties = {
    apiVersion: { type: "string" },
    kind: { type: "string" },
    metadata: { type: "object" },
    ...schema.properties,
  };
  const fn = getAjv().compile(schema);
  compiled.set(key, fn);
  return fn;
}

/* ------------------------------------------------------------- validation */

function formatAjvError(e) {
  const where = e.instancePath || "/";
  if (e.keyword === "additionalProperties") {
    const name = e.params.additionalProperty;
    const allowed = Object.keys(e.parentSchema?.properties ?? {});
    return unknownField(where, name, allowed);
  }
  if (e.keyword === "enum") return `${where} ${e.message}: ${e.params.allowedValues.join(", ")}`;
  return `${where} ${e.message}`;
}

// Drops the noise of anyOf/oneOf (the branch errors repeat the single useful one).
function usefulErrors(errors) {
  const out = errors.filter((e) => e.keyword !== "anyOf" && e.keyword !== "oneOf");
  return out.length ? out : errors;
}

// Kubernetes decodes "byte" fields with Go's base64, which ignores line breaks; kustomize's
// secretGenerator wraps long values at 70 columns. Join the lines before the format check.
function base64Lines(doc) {
  const field = doc.kind === "Secret" ? "data" : doc.kind === "ConfigMap" ? "binaryData" : null;
  if (!field || !isObject(doc[field])) return doc;
  const joined = Object.fromEntries(
    Object.entries(doc[field]).map(([k, v]) => [k, typeof v === "string" ? v.replace(/[\r\n]/g, "") : v]),
  );
  return { ...doc, [field]: joined };
}

// Validates one document; returns error strings without the "file: Kind/name:" prefix.
export async function validateDocument(doc) {
  if (!isObject(doc)) return ["/ document is not a mapping"];
  const { apiVersion, kind } = doc;
  if (typeof apiVersion !== "string" || typeof kind !== "string") return ["/ apiVersion and kind are required"];
  if (kind === "Kustomization" || kind === "Component")
    return [`/ a kustomize ${kind} is not a Kubernetes object: validate renderKustomize(dir) instead`];
  const named = (v) => typeof v === "string" && v !== "";
  if (!isObject(doc.metadata) || !(named(doc.metadata.name) || named(doc.metadata.generateName)))
    return ["/metadata/name (or generateName) is required"];
  const Model = await coreModel(apiVersion, kind);
  if (Model) {
    const errs = [];
    try {
      new Model(base64Lines(doc)).validate();
    } catch (e) {
      if (!e.errors) throw e;
      errs.push(...usefulErrors(e.errors).map(formatAjvError));
    }
    errs.push(...strictSpec(doc), ...strictCore(doc));
    return [...new Set(errs)];
  }
  const fn = await crdValidator(apiVersion, kind);
  if (!fn) return [`/ unknown apiVersion/kind ${apiVersion} ${kind} (no core model and no vendored CRD schema)`];
  if (fn(doc)) return [];
  return [...new Set(usefulErrors(fn.errors).map(formatAjvError))];
}

// Validates [{file, doc}]; returns "file: Kind/name: path message" strings (empty when valid).
export async function validateDocuments(docs) {
  const out = [];
  for (const { file, doc } of docs) {
    const id = `${doc?.kind ?? "?"}/${doc?.metadata?.name ?? doc?.metadata?.generateName ?? "?"}`;
    for (const e of await validateDocument(doc)) out.push(`${file}: ${id}: ${e}`);
  }
  return out;
}

/* ----------------------------------------- unknown fields in core objects */

// kubernetes-models validates types but accepts unknown fields. Its TypeScript declarations list
// every field of every type, so they serve as the allow-lists: parse the interface of a .d.ts
// file (property names and the interface each one refers to) and walk the document with it.
const MODELS_DIR = path.resolve(here, "..", "node_modules");
const dtsCache = new Map(); // .d.ts path → Map(field → {file, many, map}) or null (leaf type)

function parseDts(file) {
  if (dtsCache.has(file)) return dtsCache.get(file);
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch {
    dtsCache.set(file, null);
    return null;
  }
  const imports = new Map();
  for (const m of text.matchAll(/^import \{ (\w+) \} from "([^"]+)";$/gm)) {
    const spec = m[2];
    const target = spec.startsWith(".")
      ? path.resolve(path.dirname(file), spec.replace(/\.js$/, ".d.ts"))
      : path.join(MODELS_DIR, `${spec}.d.ts`);
    imports.set(m[1], target);
  }
  const body = /^export interface \w+(?: extends [\w, ]+)? \{\n([\s\S]*?)^\}/m.exec(text);
  if (!body) {
    dtsCache.set(file, null);
    return null;
  }
  const fields = new Map();
  const lines = body[1].split("\n");
  for (let i = 0; i < lines.length; i++) {
    const m = /^ {4}"([^"]+)"\??: (.*)$/.exec(lines[i]);
    if (!m) continue;
    let type = m[2];
    while (!type.endsWith(";") && i + 1 < lines.length) type += ` ${lines[++i].trim()}`;
    const ref = /^(Array<)?(\{ \[key: string\]: )?(I\w+)/.exec(type);
    const target = ref && imports.get(ref[3]);
    fields.set(m[1], target ? { file: target, many: Boolean(ref[1]), map: Boolean(ref[2]) } : null);
  }
  dtsCache.set(file, fields);
  return fields;
}

function walkStrict(value, file, where, out) {
  if (!isObject(value)) return;
  const fields = parseDts(file);
  if (!fields) return;
  for (const [k, v] of Object.entries(value)) {
    if (!fields.has(k)) {
      out.push(unknownField(where || "/", k, [...fields.keys()]));
      continue;
    }
    const f = fields.get(k);
    if (!f || v === null) continue;
    const at = `${where}/${k}`;
    if (f.many && Array.isArray(v)) v.forEach((e, i) => walkStrict(e, f.file, `${at}/${i}`, out));
    else if (f.map && isObject(v)) for (const [mk, mv] of Object.entries(v)) walkStrict(mv, f.file, `${at}/${mk}`, out);
    else if (!f.many && !f.map) walkStrict(v, f.file, at, out);
  }
}

// Unknown fields anywhere in a core object, with a "did you mean" hint.
function strictCore(doc) {
  const out = [];
  walkStrict(doc, path.join(MODELS_DIR, "kubernetes-models", doc.apiVersion, `${doc.kind}.d.ts`), "", out);
  return out;
}

/* ------------------------------------------------------------------ index */

// Indexes documents for cross-file checks.
//   get(kind, name), all(kind) → docs; services: [{name, namespace, selector, ports, doc, file}];
//   workloads: Deployments/StatefulSets as [{kind, name, podLabels, podSpec, containers, doc, file}];
//   serviceAccounts: Set of names; selects(selector, labels) helper.
export function index(docs) {
  const byKey = new Map();
  const byKind = new Map();
  for (const d of docs) {
    const { kind, metadata } = d.doc ?? {};
    if (!kind || !metadata?.name) continue;
    byKey.set(`${kind}/${metadata.name}`, d);
    if (!byKind.has(kind)) byKind.set(kind, []);
    byKind.get(kind).push(d);
  }
  const all = (kind) => byKind.get(kind) ?? [];
  const workloads = ["Deployment", "StatefulSet", "DaemonSet"].flatMap((k) =>
    all(k).map(({ file, doc }) => ({
      kind: k,
      name: doc.metadata.name,
      namespace: doc.metadata.namespace,
      podLabels: doc.spec?.template?.metadata?.labels ?? {},
      selector: doc.spec?.selector?.matchLabels ?? {},
      podSpec: doc.spec?.template?.spec ?? {},
      containers: doc.spec?.template?.spec?.containers ?? [],
      doc,
      file,
    })),
  );
  const services = all("Service").map(({ file, doc }) => ({
    name: doc.metadata.name,
    namespace: doc.metadata.namespace,
    selector: doc.spec?.selector ?? {},
    ports: doc.spec?.ports ?? [],
    doc,
    file,
  }));
  return {
    docs,
    get: (kind, name) => byKey.get(`${kind}/${name}`)?.doc ?? null,
    all: (kind) => all(kind).map((d) => d.doc),
    entries: all,
    services,
    workloads,
    deployments: workloads.filter((w) => w.kind === "Deployment"),
    serviceAccounts: new Set(all("ServiceAccount").map((d) => d.doc.metadata.name)),
    selects,
    // Workloads whose pod labels the given selector (matchLabels-style map) selects.
    selected: (selector) => workloads.filter((w) => selects(selector, w.podLabels)),
  };
}

// True when every key=value of selector is in labels (an empty selector selects nothing).
export function selects(selector, labels) {
  const entries = Object.entries(selector ?? {});
  return entries.length > 0 && entries.every(([k, v]) => labels?.[k] === v);
}
