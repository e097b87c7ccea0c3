#!/usr/bin/env node
// Proves that tests/deploy/docs.mjs fails when it should: plants one violation at a time in a
// copy of the tree (the documents and the Makefile copied, everything else linked) and expects
// checkDocs to report it with the given message.
//   node tests/deploy/docs-violations.mjs [--root DIR]
import { copyFileSync, mkdirSync, readdirSync, symlinkSync } from "node:fs";
import path from "node:path";
import { checkDocs } from "./docs.mjs";
import { plantEach } from "./lib/plant.mjs";

const argv = process.argv.slice(2);
const root = path.resolve(argv[0] === "--root" && argv[1] ? argv[1] : ".");

// name, file, what to replace (first match) and by what, the message expected.
const V = [
  ["broken link", "README.md", "(docs/operations.md)", "(docs/operation.md)", /^README\.md: broken link docs\/operation\.md: .* does not exist/],
  ["broken anchor", "docs/architecture.md", "## The rules of the architecture\n", "## Rules\n",
    /^README\.md: broken link docs\/architecture\.md#the-rules-of-the-architecture: .* no heading/],
  ["broken anchor in the same page", "docs/api.md", "(#what-every-service-has)", "(#what-every-service-haz)", /^docs\/api\.md: broken link #what-every-service-haz/],
  ["missing make target", "Makefile", /^doctor:/m, "diagnose:", /`make doctor`: the Makefile has no target doctor/],
  ["unknown make target in a code block", "docs/development.md", "make fuzz       #", "make fuzzing    #", /^docs\/development\.md: `make fuzzing`: the Makefile has no target/],
  ["undocumented variable", "docs/configuration.md", /^\| `CART_TTL_S` \|.*\n/m, "", /^docs\/configuration\.md: CART_TTL_S is read by the services/],
  ["undocumented upstream setting", "docs/configuration.md", /^\| `<UPSTREAM>_RETRIES` \|.*\n/m, "", /<UPSTREAM>_RETRIES is read by the services/],
  ["a variable nothing reads", "docs/configuration.md", /$/, "| `CART_MAX_LINES` | `50` | cart: different products in one cart |\n",
    /^docs\/configuration\.md: CART_MAX_LINES is documented but nothing in the code or scripts reads it/],
  ["a long page without a table of contents", "docs/operations.md", /^- \[[\s\S]*?\n\n/m, "",
    /^docs\/operations\.md: \d+ lines and no table of contents/],
  ["README over 200 lines", "README.md", /$/, "More text.\n".repeat(60), /^README\.md: 2\d\d lines, more than 200/],
];

// The copy: README.md, CONTRIBUTING.md, docs/*.md and the Makefile as files, the rest linked.
function copy(dir) {
  mkdirSync(path.join(dir, "docs"), { recursive: true });
  const own = new Set(["README.md", "CONTRIBUTING.md", "Makefile"]);
  for (const e of readdirSync(root)) {
    if (e === ".git" || e === "docs") continue;
    if (own.has(e)) copyFileSync(path.join(root, e), path.join(dir, e));
    else symlinkSync(path.join(root, e), path.join(dir, e));
  }
  for (const e of readdirSync(path.join(root, "docs"))) {
    const from = path.join(root, "docs", e);
    if (e.endsWith(".md")) copyFileSync(from, path.join(dir, "docs", e));
    else symlinkSync(from, path.join(dir, "docs", e));
  }
}

const cases = V.map(([name, file, from, to, expect]) => ({ name, file, from, to, expect }));
const { passed, failed } = await plantEach(root, cases, {
  copy,
  check: (dir) => checkDocs(dir).problems,
  what: "planted violation",
});
console.log(`${passed} of ${cases.length} planted violations caught`);
process.exit(failed || passed !== cases.length ? 1 : 0);
