// The documentation against the tree it describes:
//   node tests/deploy/docs.mjs [ROOT]          (checkDocs(root) for the planted violations)
// - README.md is at most 200 lines;
// - every relative link in README.md, CONTRIBUTING.md and docs/*.md names a file or folder that
//   exists, and a #anchor in it names a heading of the Markdown file it points to;
// - each of them longer than 80 lines opens with a table of contents: before its second
//   heading, links to at least two of its own headings;
// - every `make TARGET` they name (in code, inline or fenced) is a target of the Makefile;
// - every variable docs/configuration.md names is read somewhere in the code or scripts, and
//   every variable the services read by name (ms_config_* or getenv in common/ and services/)
//   is named in docs/configuration.md.
// Prints one line per problem and exits 1 if there is any.
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

const README_MAX_LINES = 200;
const TOC_FROM_LINES = 80;
// The tree checked and its problems: set by checkDocs for one run.
let root;
let errors;
const err = (file, msg) => errors.push(`${file}: ${msg}`);
const read = (rel) => readFileSync(path.join(root, rel), "utf8");

function docFiles() {
  const docs = readdirSync(path.join(root, "docs")).filter((f) => f.endsWith(".md")).map((f) => `docs/${f}`);
  return ["README.md", "CONTRIBUTING.md", ...docs.sort()].filter((f) => existsSync(path.join(root, f)));
}

// The text outside fenced code blocks and inline code, and the code alone.
function split(text) {
  const prose = [];
  const code = [];
  let fenced = false;
  for (const line of text.split("\n")) {
    if (/^\s*(```|~~~)/.test(line)) {
      fenced = !fenced;
      continue;
    }
    (fenced ? code : prose).push(line);
  }
  const joined = prose.join("\n");
  for (const m of joined.matchAll(/`([^`]+)`/g)) code.push(m[1]);
  return { prose: joined.replace(/`[^`]*`/g, "``"), code: code.join("\n") };
}

// GitHub's anchors: lower case, punctuation dropped, spaces to hyphens, repeats numbered.
function anchors(markdown) {
  const seen = new Map();
  const out = new Set();
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (/^\s*(```|~~~)/.test(line)) fenced = !fenced;
    const m = !fenced && /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line);
    if (!m) continue;
    const text = m[1].replace(/!?\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/<[^>]+>/g, "");
    const slug = text.toLowerCase().replace(/[^\p{L}\p{N}\s_-]/gu, "").replace(/\s/g, "-");
    const n = seen.get(slug) ?? 0;
    seen.set(slug, n + 1);
    out.add(n ? `${slug}-${n}` : slug);
  }
  return out;
}

function checkLinks(file, prose) {
  for (const m of prose.matchAll(/!?\[(?:[^\]]|\][^(])*?\]\(\s*<?([^)\s>]+)>?(?:\s+"[^"]*")?\s*\)/g)) {
    const target = m[1];
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // http:, https:, mailto:
    const [rel, anchor] = target.split("#");
    const dest = rel ? path.normalize(path.join(path.dirname(file), decodeURIComponent(rel))) : file;
    if (dest.startsWith("..")) {
      err(file, `link ${target} leaves the repository`);
      continue;
    }
    if (!existsSync(path.join(root, dest))) {
      err(file, `broken link ${target}: ${dest} does not exist`);
      continue;
    }
    if (anchor === undefined || !dest.endsWith(".md") || statSync(path.join(root, dest)).isDirectory()) continue;
    if (!anchors(read(dest)).has(anchor)) err(file, `broken link ${target}: ${dest} has no heading #${anchor}`);
  }
}

// A page longer than TOC_FROM_LINES lists its sections before its first section.
function checkToc(file, text) {
  const lines = text.split("\n");
  if (lines.length <= TOC_FROM_LINES) return;
  const second = lines.findIndex((l, i) => i > 0 && /^#{2,6}\s/.test(l));
  const head = lines.slice(0, second < 0 ? lines.length : second).join("\n");
  const own = anchors(text);
  const listed = [...head.matchAll(/\]\(#([^)\s]+)\)/g)].filter((m) => own.has(m[1]));
  if (listed.length < 2) err(file, `${lines.length} lines and no table of contents before its first section`);
}

function makeTargets() {
  const targets = new Set();
  for (const line of read("Makefile").split("\n")) {
    const m = /^([A-Za-z0-9_.-]+(?:\s+[A-Za-z0-9_.-]+)*)\s*:(?!=)/.exec(line);
    if (m) for (const t of m[1].split(/\s+/)) targets.add(t);
  }
  return targets;
}

function checkMake(file, code, targets) {
  for (const m of code.matchAll(/(?:^|[\s;&|(])make\s+((?:[A-Z_][A-Z0-9_]*=\S*\s+)*)([a-z][a-z0-9_-]*)/gm)) {
    if (!targets.has(m[2])) err(file, `\`make ${m[2]}\`: the Makefile has no target ${m[2]}`);
  }
}

// Every file of the code and scripts the variables may be read in, as one text.
function codeText(dirs, exts) {
  const parts = [];
  const walk = (rel) => {
    const abs = path.join(root, rel);
    if (!existsSync(abs)) return;
    const st = statSync(abs);
    if (st.isFile()) {
      parts.push(readFileSync(abs, "utf8"));
      return;
    }
    for (const e of readdirSync(abs, { withFileTypes: true })) {
      if (["node_modules", "schemas", "corpus", ".git"].includes(e.name)) continue;
      const sub = path.join(rel, e.name);
      if (e.isDirectory()) walk(sub);
      else if (exts.test(e.name) || !e.name.includes(".")) parts.push(readFileSync(path.join(root, sub), "utf8"));
    }
  };
  dirs.forEach(walk);
  return parts.join("\n");
}

function checkConfiguration() {
  const file = "docs/configuration.md";
  if (!existsSync(path.join(root, file))) return err(file, "missing");
  // A variable is a whole inline code span, `NAME` or `NAME=value`.
  const documented = new Set([...read(file).matchAll(/`([A-Z][A-Z0-9_]{2,})(?:=[^`]*)?`/g)].map((m) => m[1]));
  const everywhere = codeText(
    ["common", "services", "tools", "scripts", "bin", "load-test", "bench", "chaos", "gateway", "docker",
      "Makefile", "docker-compose.yml", "Dockerfile"],
    /\.(c|h|sh|mjs|js|lua|conf|ya?ml|cmake|txt)$/,
  );
  const services = codeText(["common", "services"], /\.(c|h)$/);
  // An upstream's settings are named at run time, <UPSTREAM>_<SUFFIX> (ms_upstream_config_from_env):
  // the suffixes are the string literals it passes to var() and its table of int settings.
  const depconfig = read("common/src/depconfig.c");
  const suffixes = new Set([...depconfig.matchAll(/\bvar\([^;]*?"([A-Z][A-Z0-9_]*)"\)|\{"([A-Z][A-Z0-9_]*)",/g)].map((m) => m[1] ?? m[2]));
  const upstreams = readdirSync(path.join(root, "services"), { withFileTypes: true })
    .filter((e) => e.isDirectory()).map((e) => e.name.toUpperCase());
  const isUpstreamSetting = (v) => upstreams.some((u) => v.startsWith(`${u}_`) && suffixes.has(v.slice(u.length + 1)));
  for (const v of documented) {
    if (!new RegExp(`\\b${v}\\b`).test(everywhere) && !isUpstreamSetting(v))
      err(file, `${v} is documented but nothing in the code or scripts reads it`);
  }
  const read_ = new Set([...services.matchAll(/\b(?:ms_config_[a-z]+|getenv)\s*\(\s*"([A-Z][A-Z0-9_]*)"/g)].map((m) => m[1]));
  for (const v of [...read_].sort()) {
    if (!documented.has(v)) err(file, `${v} is read by the services (common/ or services/) but not documented here`);
  }
  const text = read(file);
  for (const sfx of [...suffixes].sort()) {
    if (!text.includes(`\`<UPSTREAM>_${sfx}\``)) err(file, `<UPSTREAM>_${sfx} is read by the services (common/src/depconfig.c) but not documented here`);
  }
  return read_.size + suffixes.size;
}

// The problems of the tree at dir, one string each ("FILE: what"), and a summary line.
export function checkDocs(dir) {
  root = path.resolve(dir);
  errors = [];
  const lines = read("README.md").replace(/\n$/, "").split("\n").length;
  if (lines > README_MAX_LINES) err("README.md", `${lines} lines, more than ${README_MAX_LINES}`);
  const targets = makeTargets();
  const files = docFiles();
  for (const f of files) {
    const { prose, code } = split(read(f));
    checkLinks(f, prose);
    checkMake(f, code, targets);
    if (f !== "README.md") checkToc(f, read(f));
  }
  const nread = checkConfiguration();
  const summary = `README.md ${lines} lines; links, anchors and make targets of ${files.length} files; ` +
    `docs/configuration.md against ${nread} variables the services read`;
  return { problems: errors, summary };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { problems, summary } = checkDocs(process.argv[2] ?? path.join(path.dirname(fileURLToPath(import.meta.url)), "../.."));
  for (const p of problems) console.log(`FAIL: ${p}`);
  if (problems.length) process.exit(1);
  console.log(`ok: ${summary}`);
}
