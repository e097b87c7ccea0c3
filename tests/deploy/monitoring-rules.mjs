#!/usr/bin/env node
// Generates monitoring/k8s/prometheusrule.yaml from monitoring/rules/alerts.yml, so Kubernetes runs
// exactly the rules that compose and `make up` run and that alerts.test.yml tests.
//   node tests/deploy/monitoring-rules.mjs --write   rewrite the PrometheusRule
//   node tests/deploy/monitoring-rules.mjs --check   exit 1 if it is not what --write would write,
//                                                    or if its spec is not alerts.yml's groups
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { isDeepStrictEqual } from "node:util";
import { parse, parseAllDocuments, stringify } from "yaml";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const RULES = "monitoring/rules/alerts.yml";
const OUT = "monitoring/k8s/prometheusrule.yaml";

function render(rulesText) {
  const rules = parse(rulesText, { version: "1.1" });
  const rule = {
    apiVersion: "monitoring.coreos.com/v1",
    kind: "PrometheusRule",
    metadata: {
      name: "microshop",
      namespace: "ecommerce",
      labels: {
        "app.kubernetes.io/part-of": "microshop",
        release: "kube-prometheus-stack",
      },
    },
    spec: { groups: rules.groups },
  };
  return (
    `# GENERATED from ${RULES} by tests/deploy/monitoring-rules.mjs --write: do not edit.\n` +
    `# The same recording and alerting rules as compose and \`make up\` load; see that file.\n` +
    stringify(rule, { lineWidth: 110 })
  );
}

const mode = process.argv[2];
const rulesText = readFileSync(path.join(root, RULES), "utf8");
const want = render(rulesText);
if (mode === "--write") {
  writeFileSync(path.join(root, OUT), want);
  console.log(`wrote ${OUT}`);
} else if (mode === "--check") {
  const have = readFileSync(path.join(root, OUT), "utf8");
  const docs = parseAllDocuments(have, { version: "1.1" }).map((d) => d.toJS());
  const groups = parse(rulesText, { version: "1.1" }).groups;
  if (docs.length !== 1 || !isDeepStrictEqual(docs[0]?.spec?.groups, groups)) {
    console.log(`FAIL: ${OUT}: spec.groups differ from the groups of ${RULES}`);
    console.log("  run: node tests/deploy/monitoring-rules.mjs --write");
    process.exit(1);
  }
  if (have !== want) {
    console.log(`FAIL: ${OUT} is not what monitoring-rules.mjs --write generates from ${RULES}`);
    process.exit(1);
  }
  console.log(`ok: ${OUT} spec.groups are exactly the ${groups.length} groups of ${RULES}`);
} else {
  console.error("usage: node tests/deploy/monitoring-rules.mjs --write|--check");
  process.exit(2);
}
