// The size limits of the suite's shell, the shell's counterpart of clang-tidy's
// readability-function-size for the C (.clang-tidy). `node scripts/shell-size.mjs FILE...`
// parses each file with shfmt (a real shell parser, so braces in strings, here-documents and
// nested functions are read as bash reads them) and prints one line per problem; exit 1 if any.
//
// The rules:
//   - A function body spans at most 40 lines, counted as clang-tidy counts a C body: the line of
//     its closing brace minus the line of its opening one, blank lines and comments included
//     (`f()\n{\n  40 lines\n}` is 41, one too many). Nested functions count on their own too.
//   - Code outside functions (a script's implicit main) spans at most 40 lines: the lines of the
//     top-level statements, from each one's first line to its last, leaving out function
//     definitions, and assignments of literal data (no command or process substitution, as a
//     C file's static tables). Comments and blank lines between statements do not count. In a
//     script with top-level `ms_section` calls (a test), each section, from one call to the next,
//     is held to the limit on its own: a section is one test case, as a Check test function is.
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

const LIMIT = 40;

// parse(file): the file's syntax tree, as shfmt's typed JSON; throws with shfmt's message.
function parse(file) {
  const out = spawnSync("shfmt", ["--to-json", "-ln", "bash", "--filename", file], {
    input: readFileSync(file),
    maxBuffer: 1 << 30,
  });
  if (out.error) throw new Error(`shfmt: ${out.error.message} (is Debian's shfmt installed?)`);
  if (out.status !== 0) throw new Error(out.stderr.toString().trim());
  return JSON.parse(out.stdout);
}

// Calls visit(node) for every syntax node under node (positions are not nodes).
function walk(node, visit) {
  if (Array.isArray(node)) return node.forEach((n) => walk(n, visit));
  if (!node || typeof node !== "object") return;
  if (node.Type) visit(node);
  for (const [key, value] of Object.entries(node)) {
    if (key !== "Pos" && key !== "End" && typeof value === "object") walk(value, visit);
  }
}

// Every function over the limit, nested ones included; the body is the braces (or parentheses).
function functionProblems(file, tree) {
  const problems = [];
  walk(tree, (node) => {
    if (node.Type !== "FuncDecl") return;
    const name = node.Name.Value;
    const lines = node.Body.End.Line - node.Body.Pos.Line;
    if (lines > LIMIT) {
      problems.push(`${file}:${node.Pos.Line}: function ${name} is ${lines} lines (limit ${LIMIT})`);
    }
  });
  return problems;
}

// Literal data: only assignments, none running a command.
function isData(cmd) {
  if (cmd.Type !== "CallExpr" && cmd.Type !== "DeclClause") return false;
  if (cmd.Type === "CallExpr" && cmd.Args?.length) return false;
  let runs = false;
  walk(cmd, (node) => {
    runs ||= node.Type === "CmdSubst" || node.Type === "ProcSubst";
  });
  return !runs;
}

// A top-level `ms_section` call opens a test's next section.
function isSection(cmd) {
  return cmd.Type === "CallExpr" && cmd.Args?.[0]?.Parts?.[0]?.Value === "ms_section";
}

// The top-level code over the limit: the whole script, or each section of a test.
function topLevelProblems(file, tree) {
  const sections = [{ line: 1, lines: 0 }];
  for (const stmt of tree.Stmts ?? []) {
    const cmd = stmt.Cmd ?? {};
    if (cmd.Type === "FuncDecl" || isData(cmd)) continue;
    if (isSection(cmd)) sections.push({ line: stmt.Pos.Line, lines: 0 });
    sections.at(-1).lines += stmt.End.Line - stmt.Pos.Line + 1;
  }
  return sections
    .filter((s) => s.lines > LIMIT)
    .map((s) => `${file}:${s.line}: top-level code ${s.line > 1 ? "of the section here " : ""}is ${s.lines} lines (limit ${LIMIT})`);
}

// The problems of one file, or why it cannot be read.
function check(file) {
  let tree;
  try {
    tree = parse(file);
  } catch (err) {
    return [`${file}: cannot parse: ${err.message}`];
  }
  return [...functionProblems(file, tree), ...topLevelProblems(file, tree)];
}

const files = process.argv.slice(2);
const problems = files.flatMap(check);
problems.forEach((p) => console.error(p));
if (problems.length) {
  console.error(`shell-size: ${problems.length} problem(s); split the code into named steps`);
  process.exit(1);
}
console.log(`shell-size: ${files.length} files, every function and script body within ${LIMIT} lines`);
