#!/usr/bin/env node
// Validates Kubernetes YAML files offline: node tests/deploy/validate.mjs FILE...
// (core kinds through kubernetes-models, custom resources through tests/deploy/schemas/).
// A directory argument holding a kustomization.yaml is rendered with `kubectl kustomize` first.
// Prints one line per error and exits 1 if there is any, 2 on a usage or parse error.
import { existsSync, statSync } from "node:fs";
import path from "node:path";
import { loadDocuments, renderKustomize, validateDocuments } from "./lib/validate.mjs";

const args = process.argv.slice(2);
if (args.length === 0 || args.includes("-h") || args.includes("--help")) {
  console.error("usage: node tests/deploy/validate.mjs FILE.yaml|KUSTOMIZE_DIR...");
  process.exit(2);
}
let docs = [];
try {
  for (const a of args) {
    if (existsSync(a) && statSync(a).isDirectory()) {
      if (!existsSync(path.join(a, "kustomization.yaml"))) throw new Error(`${a}: directory without kustomization.yaml`);
      docs.push(...renderKustomize(a));
    } else {
      docs.push(...(await loadDocuments([a])));
    }
  }
} catch (e) {
  console.error(`error: ${e.message}`);
  process.exit(2);
}
const errors = await validateDocuments(docs);
for (const e of errors) console.log(e);
console.log(`${errors.length ? "FAIL" : "ok"}: ${docs.length} documents in ${args.length} argument(s), ${errors.length} error(s)`);
process.exit(errors.length ? 1 : 0);
