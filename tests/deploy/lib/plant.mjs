// Proves a check fails when it should: plants one change at a time in a fresh copy of the tree
// and expects the check to report a matching problem. Shared by tests/deploy/mesh-typos.mjs and
// tests/deploy/semantics-violations.mjs.
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";

// cases: [{name, file, from, to, expect, opts}] (expect: a RegExp or a predicate on a problem);
// copy(dir): builds the tree to change in dir; check(dir, opts): resolves to a list of problems.
// Prints one "ok"/"FAIL" line per case; resolves to {passed, failed, caught} (caught: the cases
// that were caught as expected).
export async function plantEach(root, cases, { copy, check, what = "planted change" }) {
  const work = mkdtempSync(path.join(os.tmpdir(), "ms-plant-"));
  const caught = [];
  let failed = 0;
  try {
    for (const c of cases) {
      if (!existsSync(path.join(root, c.file))) {
        console.log(`skip ${what} '${c.name}': ${c.file} does not exist`);
        continue;
      }
      const dir = path.join(work, "tree");
      rmSync(dir, { recursive: true, force: true });
      copy(dir);
      const target = path.join(dir, c.file);
      const text = readFileSync(target, "utf8");
      const changed = text.replace(c.from, c.to);
      const matches = typeof c.expect === "function" ? c.expect : (p) => c.expect.test(p);
      let verdict;
      if (changed === text) verdict = `FAIL ${what} '${c.name}': ${c.from} not found in ${c.file}`;
      else {
        writeFileSync(target, changed);
        const problems = await check(dir, c.opts ?? {});
        const hit = problems.find(matches);
        if (!problems.length) verdict = `FAIL ${what} '${c.name}' in ${c.file}: not caught`;
        else if (!hit) verdict = `FAIL ${what} '${c.name}' in ${c.file}: failed without ${c.expect}: ${problems.slice(0, 3).join(" | ")}`;
        else {
          verdict = `ok   ${what} '${c.name}' in ${c.file}: ${hit.replace(/\s+/g, " ").slice(0, 160)}`;
          caught.push(c);
        }
      }
      if (!verdict.startsWith("ok")) failed++;
      console.log(verdict);
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return { passed: caught.length, failed, caught };
}
