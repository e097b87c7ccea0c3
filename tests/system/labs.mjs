#!/usr/bin/env node
// Checks and runs the workshop labs (docs/labs/NN-*.md), so a lab that drifts from the code fails.
//
//   node tests/system/labs.mjs check LAB.md...   the static checks only
//   node tests/system/labs.mjs run LAB.md...     the static checks, then every runnable block
//
// The markup, readable as plain Markdown (docs/labs/README.md explains it to lab authors):
//   ```sh lab [timeout=S] [way=W]  a command block the test runs, in order, in one bash per lab;
//                              with way=W only when the stack under test is that way (LAB_WAY,
//                              default native: lab 1's `make up`)
//   ```text expected           right after a lab block: what its output looks like, for people;
//                              its lines must appear in the output, in order
//   <!-- lab-expect            right after an expected block, hidden when the Markdown is rendered:
//   LINE...                    the matchers that replace the shown lines for the test: "..." in a
//   -->                        line matches any text, a line ending in " (re)" is a regular
//                              expression for a whole line (counts, timings, ids that vary)
// (An expected block with no lab-expect comment may use "..." and " (re)" itself.)
// Every other block (```sh without "lab", ```yaml, ...) is shown, not run: the Kubernetes and
// compose parts. Of those, every repository path a lab names must exist, and every Kubernetes
// file or kustomize folder it applies must validate (tests/deploy/validate.mjs).
//
// run: the blocks see the environment of this process (the test sets the port variables,
// MS_DATA_DIR and MS_UP_NO_BUILD, so `make up` in a lab starts the stack of the test), and
// localhost:PORT / 127.0.0.1:PORT with one of make up's default ports is rewritten to the port
// in use (LAB_PORTS="3001=13001 8080=18080 ..."), in commands and in expected lines alike.
// Exit status: 0 all good, 1 a check or a block failed, 2 usage.
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../..");
const DEFAULT_TIMEOUT_S = 30;
// Folders whose files a lab may name; a path is a run of path characters starting with one.
const REPO_DIRS = ["k8s", "istio", "chaos", "monitoring", "load-test", "gateway", "scripts",
  "services", "common", "docs", "bench", "tests"];
const PATH_RE = new RegExp(`(?<![\\w./-])(?:${REPO_DIRS.join("|")})/[\\w./-]*[\\w/]`, "g");
// Sections every lab has, in this order (## headings).
const SECTIONS = ["Goal", "Steps", "What you should see", "Why it happens"];

// ---- parsing ---------------------------------------------------------------------------------

// Splits a lab into its headings and fenced blocks, each with the line it starts on.
export function parseLab(text) {
  const lines = text.split("\n");
  const blocks = [];
  const headings = [];
  let prose = false; // text since the last block
  for (let i = 0; i < lines.length; i++) {
    if (/^<!-- lab-expect\s*$/.test(lines[i])) {
      const start = i + 1;
      const body = [];
      for (i++; i < lines.length && lines[i].trim() !== "-->"; i++) body.push(lines[i]);
      if (i >= lines.length) throw new Error(`line ${start}: lab-expect comment never closed`);
      const last = blocks[blocks.length - 1];
      if (!last?.attrs.expected || prose || last.matchers)
        throw new Error(`line ${start}: a lab-expect comment must follow an expected block directly`);
      last.matchers = body.join("\n");
      continue;
    }
    const fence = /^(`{3,})(.*)$/.exec(lines[i]);
    if (!fence) {
      if (lines[i].trim() !== "") prose = true;
      const h = /^(#{1,6})\s+(.*?)\s*$/.exec(lines[i]);
      if (h) headings.push({ level: h[1].length, text: h[2], line: i + 1 });
      continue;
    }
    const [lang = "", ...words] = fence[2].trim().split(/\s+/);
    const start = i + 1;
    const body = [];
    for (i++; i < lines.length && !lines[i].startsWith(fence[1]); i++) body.push(lines[i]);
    if (i >= lines.length) throw new Error(`line ${start}: code block never closed`);
    const attrs = {};
    for (const w of words) {
      const [k, v] = w.split("=");
      attrs[k] = v ?? true;
    }
    blocks.push({ lang, attrs, text: body.join("\n"), line: start });
    prose = false;
  }
  return { headings, blocks, text };
}

// The runnable steps: each lab block with the expected block right after it (or none).
export function steps(lab) {
  const out = [];
  lab.blocks.forEach((b, i) => {
    if (b.attrs.expected && !(i > 0 && lab.blocks[i - 1].attrs.lab))
      throw new Error(`line ${b.line}: an expected block must follow a lab block`);
    if (!b.attrs.lab) return;
    if (b.attrs.way && b.attrs.way !== (process.env.LAB_WAY ?? "native")) return;
    const next = lab.blocks[i + 1];
    const timeout = Number(b.attrs.timeout ?? DEFAULT_TIMEOUT_S);
    if (!(timeout > 0 && timeout <= 600)) throw new Error(`line ${b.line}: bad timeout`);
    out.push({ block: b, expected: next?.attrs.expected ? next : null, timeout });
  });
  return out;
}

// ---- static checks ---------------------------------------------------------------------------

function staticProblems(file, lab) {
  const problems = [];
  const h2 = lab.headings.filter((h) => h.level === 2).map((h) => h.text);
  const seen = SECTIONS.filter((s) => h2.includes(s));
  if (seen.length !== SECTIONS.length || seen.some((s, i) => h2.indexOf(s) > h2.indexOf(SECTIONS[i + 1] ?? s)))
    problems.push(`needs the sections ${SECTIONS.map((s) => `"## ${s}"`).join(", ")} in that order (has: ${h2.join(", ")})`);
  if (!lab.headings.some((h) => h.level === 1)) problems.push("has no # title");
  problems.push(...expectedProblems(lab));
  for (const p of new Set(lab.text.match(PATH_RE) ?? [])) {
    if (!existsSync(path.join(ROOT, p))) problems.push(`names ${p}, which does not exist`);
  }
  return problems;
}

// Expected output is for people: no test markup in what the Markdown shows (it goes in a
// lab-expect comment), and the output shown must itself pass the comment's matchers.
export function expectedProblems(lab) {
  const problems = [];
  for (const b of lab.blocks.filter((x) => x.attrs.expected)) {
    const marked = b.text.split("\n").filter((l) => / \(re\)$/.test(l) || l.includes("..."));
    if (marked.length)
      problems.push(`line ${b.line}: the expected output shows test markup (${marked[0].trim()}); ` +
        "show real output and put the matchers in a <!-- lab-expect --> comment after it");
    const why = b.matchers === undefined ? null : compare(b.matchers, b.text);
    if (why) problems.push(`line ${b.line}: the output shown does not pass its lab-expect matchers: ${why}`);
  }
  return problems;
}

// The Kubernetes files and kustomize folders the shown blocks apply: kubectl apply/create/delete
// -f FILE and -k DIR, and kubectl kustomize DIR.
export function kubernetesTargets(lab) {
  const targets = new Set();
  for (const b of lab.blocks) {
    if (b.attrs.lab) continue;
    for (const line of b.text.split("\n")) {
      if (!/\bkubectl\b/.test(line)) continue;
      for (const m of line.matchAll(/(?:\s-[fk]\s+|\s--filename[= ]|\bkustomize\s+)([\w./-]+)/g)) {
        if (!m[1].startsWith("-") && !/^https?:/.test(m[1])) targets.add(m[1]);
      }
    }
  }
  return [...targets];
}

// The JSON patches the shown blocks apply: kubectl [-n NS] patch KIND NAME --type=json -p='[...]'.
export function kubernetesPatches(lab) {
  const patches = [];
  for (const b of lab.blocks) {
    if (b.attrs.lab) continue;
    for (const line of b.text.split("\n")) {
      const m = /\bkubectl\b.*?\bpatch\s+([\w.]+)\s+([\w.-]+)\s.*--type=json\s+-p='([^']*)'/.exec(line);
      if (m) patches.push({ kind: m[1].toLowerCase(), name: m[2], ops: m[3] });
    }
  }
  return patches;
}

// Applies RFC 6902 replace/add/remove/test operations to a copy of doc; throws on a path that
// is not there (kubectl would refuse it the same way).
export function applyJsonPatch(doc, ops) {
  const out = structuredClone(doc);
  for (const op of ops) {
    const keys = op.path.split("/").slice(1).map((k) => k.replace(/~1/g, "/").replace(/~0/g, "~"));
    const last = keys.pop();
    let parent = out;
    for (const k of keys) {
      if (parent === null || typeof parent !== "object" || !(k in parent)) throw new Error(`${op.op} ${op.path}: no such path`);
      parent = parent[k];
    }
    const has = parent !== null && typeof parent === "object" && last in parent;
    if (op.op === "add" && Array.isArray(parent)) parent.splice(last === "-" ? parent.length : Number(last), 0, op.value);
    else if (op.op === "add") parent[last] = op.value;
    else if (!has) throw new Error(`${op.op} ${op.path}: no such path`);
    else if (op.op === "replace") parent[last] = op.value;
    else if (op.op === "remove") Array.isArray(parent) ? parent.splice(Number(last), 1) : delete parent[last];
    else if (op.op === "test" && JSON.stringify(parent[last]) !== JSON.stringify(op.value)) throw new Error(`test ${op.path} failed`);
    else if (!["replace", "remove", "test"].includes(op.op)) throw new Error(`unsupported op ${op.op}`);
  }
  return out;
}

// Each patch must name one object of the repository's manifests (lab fault files aside), apply
// to it, and leave it valid.
async function patchProblems(patches) {
  if (patches.length === 0) return [];
  const lib = await import(path.join(ROOT, "tests/deploy/lib/validate.mjs"));
  const files = spawnSync("git", ["ls-files", "--", "k8s/*.yaml", "istio/*.yaml"], { cwd: ROOT, encoding: "utf8" })
    .stdout.split("\n").filter((f) => f && !f.includes("/faults/"));
  const docs = await lib.loadDocuments(files.map((f) => path.join(ROOT, f)));
  const problems = [];
  for (const p of patches) {
    const where = `kubectl patch ${p.kind} ${p.name}`;
    const targets = docs.filter((d) => d.doc?.kind?.toLowerCase() === p.kind && d.doc.metadata?.name === p.name);
    if (targets.length !== 1) {
      problems.push(`${where}: ${targets.length} objects of that kind and name in k8s/ and istio/, expected 1`);
      continue;
    }
    try {
      const patched = applyJsonPatch(targets[0].doc, JSON.parse(p.ops));
      const errors = await lib.validateDocuments([{ file: `${targets[0].file} (patched)`, doc: patched }]);
      problems.push(...errors.map((e) => `${where}: ${e}`));
    } catch (e) {
      problems.push(`${where}: ${e.message}`);
    }
  }
  return problems;
}

function validateKubernetes(files) {
  if (files.length === 0) return [];
  const missing = files.filter((f) => !existsSync(path.resolve(ROOT, f)));
  if (missing.length) return missing.map((f) => `applies ${f}, which does not exist`);
  const r = spawnSync("node", [path.join(ROOT, "tests/deploy/validate.mjs"), ...files], { cwd: ROOT, encoding: "utf8" });
  if (r.status === 0) return [];
  return [`the Kubernetes files it applies do not validate:\n${r.stdout}${r.stderr}`];
}

// ---- running ---------------------------------------------------------------------------------

function portMap() {
  const map = new Map();
  for (const pair of (process.env.LAB_PORTS ?? "").split(/\s+/).filter(Boolean)) {
    const [from, to] = pair.split("=");
    if (!/^\d+$/.test(from) || !/^\d+$/.test(to)) throw new Error(`LAB_PORTS: bad pair "${pair}"`);
    map.set(from, to);
  }
  return map;
}

// The lab as it runs against the test's stack: localhost:PORT and 127.0.0.1:PORT with a default
// port of make up get the port in use, and the data folder `.data/` becomes MS_DATA_DIR.
export function rewriteForStack(text, map, dataDir = process.env.MS_DATA_DIR) {
  const ported = text.replace(/\b(localhost|127\.0\.0\.1):(\d+)\b/g, (all, host, port) =>
    map.has(port) ? `${host}:${map.get(port)}` : all);
  return dataDir ? ported.replace(/(^|[\s'"=(:])\.data\//gm, `$1${dataDir}/`) : ported;
}

// Turns one expected line into a matcher for a whole output line.
export function lineMatcher(line) {
  const re = / \(re\)$/.test(line);
  if (re) return new RegExp(`^(?:${line.replace(/ \(re\)$/, "")})$`);
  // literal text, but "..." is any text and a run of blanks any run of blanks (column widths)
  const escaped = line.trim().split("...").map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/\s+/g, "\\s+"));
  return new RegExp(`^\\s*${escaped.join(".*")}\\s*$`);
}

// null when every expected line matches an output line, in order; else what is missing.
export function compare(expected, output) {
  const out = output.split("\n");
  let at = 0;
  for (const line of expected.split("\n").filter((l) => l.trim() !== "")) {
    const m = lineMatcher(line);
    const found = out.findIndex((o, i) => i >= at && m.test(o));
    if (found < 0) return `expected a line matching\n    ${line}\n  after output line ${at}`;
    at = found + 1;
  }
  return null;
}

// One bash per lab, so variables and the working directory carry from block to block as they
// do in a learner's terminal. Each block runs from a file, with its output in another file.
class Shell {
  constructor(dir) {
    this.dir = dir;
    this.proc = spawn("bash", ["--norc", "--noprofile"], { cwd: ROOT, stdio: ["pipe", "pipe", "inherit"], detached: true });
    this.buffer = "";
    this.waiter = null;
    this.proc.stdout.on("data", (d) => {
      this.buffer += d;
      this.waiter?.();
    });
  }

  run(n, text, timeoutS) {
    const script = path.join(this.dir, `block${n}.sh`);
    const output = path.join(this.dir, `block${n}.out`);
    writeFileSync(script, `${text}\n`);
    const marker = `__lab_block_${n}_done__`;
    this.proc.stdin.write(`source ${script} >${output} 2>&1 </dev/null; echo "${marker} $?"\n`);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.waiter = null;
        resolve({ status: null, output: readFileSync(output, "utf8") });
      }, timeoutS * 1000);
      this.waiter = () => {
        const m = new RegExp(`${marker} (\\d+)`).exec(this.buffer);
        if (!m) return;
        clearTimeout(timer);
        this.waiter = null;
        this.buffer = "";
        resolve({ status: Number(m[1]), output: readFileSync(output, "utf8") });
      };
      this.waiter();
    });
  }

  close() {
    try {
      process.kill(-this.proc.pid, "SIGKILL"); // the shell and whatever a block left running
    } catch {
      // already gone
    }
  }
}

async function runLab(file, lab, map) {
  const dir = mkdtempSync(path.join(tmpdir(), "lab-"));
  const shell = new Shell(dir);
  const failures = [];
  try {
    for (const [i, s] of steps(lab).entries()) {
      const started = Date.now();
      const { status, output } = await shell.run(i, rewriteForStack(s.block.text, map), s.timeout);
      const took = ((Date.now() - started) / 1000).toFixed(1);
      let why = null;
      if (status === null) why = `did not finish within ${s.timeout} s`;
      else if (status !== 0) why = `exited with status ${status}`;
      else if (s.expected) why = compare(rewriteForStack(s.expected.matchers ?? s.expected.text, map), output);
      if (!why) {
        console.log(`  ok   ${file}:${s.block.line} (${took} s)`);
        continue;
      }
      failures.push(`${file}:${s.block.line}: ${why}`);
      console.log(`  FAIL ${file}:${s.block.line} (${took} s): ${why}`);
      console.log(`  ---- the block:\n${s.block.text.replace(/^/gm, "    | ")}`);
      console.log(`  ---- its output:\n${output.replace(/^/gm, "    | ")}`);
      break; // later steps build on this one
    }
  } finally {
    shell.close();
    rmSync(dir, { recursive: true, force: true });
  }
  return failures;
}

// ---- main ------------------------------------------------------------------------------------

async function main() {
  const [mode, ...files] = process.argv.slice(2);
  if (!["check", "run"].includes(mode) || files.length === 0) {
    console.error("usage: node tests/system/labs.mjs check|run LAB.md...");
    return 2;
  }
  const map = portMap();
  let failed = 0;
  for (const file of files) {
    let lab;
    let problems;
    try {
      lab = parseLab(readFileSync(file, "utf8"));
      problems = [...staticProblems(file, lab), ...validateKubernetes(kubernetesTargets(lab)),
        ...(await patchProblems(kubernetesPatches(lab)))];
      steps(lab);
    } catch (e) {
      problems = [e.message];
    }
    const runnable = lab && problems.length === 0 ? steps(lab).length : 0;
    console.log(`${problems.length ? "FAIL" : "ok  "} ${file}: ${runnable} runnable blocks, ` +
      `${lab ? kubernetesTargets(lab).length : 0} Kubernetes targets and ` +
      `${lab ? kubernetesPatches(lab).length : 0} patches validated`);
    for (const p of problems) console.log(`  - ${p}`);
    failed += problems.length ? 1 : 0;
    if (mode === "run" && problems.length === 0 && runnable > 0) {
      failed += (await runLab(file, lab, map)).length ? 1 : 0;
    }
  }
  console.log(`${failed ? "FAIL" : "ok"}: ${files.length} labs, ${failed} failed`);
  return failed ? 1 : 0;
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = await main();
