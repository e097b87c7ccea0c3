// node tests/deploy/lib/user-type.mjs NGINX_CONF ISTIO_DIR: nginx and the mesh route x-user-type
// alike (tests/deploy/gateway.test.sh, user_type_agrees, says how). Prints the one value matched;
// exit 1 with the problems otherwise.
import { readFileSync, readdirSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';
const [conf, dir] = process.argv.slice(2);
const values = new Set();
const problems = [];
const walk = (node, file) => {
  if (Array.isArray(node)) return node.forEach((n) => walk(n, file));
  if (!node || typeof node !== 'object') return;
  // Gateway API: headers: [{type, name, value}] (type defaults to Exact)
  if (String(node.name).toLowerCase() === 'x-user-type' && 'value' in node) {
    if ((node.type ?? 'Exact') !== 'Exact') problems.push(`${file}: x-user-type matched by ${node.type}`);
    values.add(String(node.value));
  }
  for (const [k, v] of Object.entries(node)) {
    // Istio: headers: {x-user-type: {exact: value}}
    if (k.toLowerCase() === 'x-user-type' && v && typeof v === 'object' && !Array.isArray(v)) {
      const kinds = Object.keys(v);
      if (kinds.length !== 1 || kinds[0] !== 'exact') problems.push(`${file}: x-user-type matched by ${kinds}`);
      values.add(String(v.exact ?? v[kinds[0]]));
    }
    walk(v, file);
  }
};
for (const f of readdirSync(dir, { recursive: true }).filter((x) => /\.ya?ml$/.test(x)))
  for (const doc of parseAllDocuments(readFileSync(`${dir}/${f}`, 'utf8'))) walk(doc.toJS(), f);
if (values.size !== 1) problems.push(`istio/ matches x-user-type against ${values.size} values: ${[...values]}`);
const text = readFileSync(conf, 'utf8').replace(/#.*$/gm, '');
const map = text.match(/map\s+\$http_x_user_type\s+\$\w+\s*\{([^}]*)\}/);
if (!map) problems.push('nginx.conf has no map of $http_x_user_type');
else {
  const keys = map[1].split(';').map((l) => l.trim()).filter(Boolean)
    .map((l) => l.split(/\s+/)[0].replace(/^"(.*)"$/, '$1')).filter((k) => k !== 'default');
  const want = `~^${[...values][0]}$`;
  if (keys.length !== 1 || keys[0] !== want)
    problems.push(`nginx maps x-user-type keys ${JSON.stringify(keys)}, want only ${JSON.stringify(want)} (case-sensitive)`);
}
if (problems.length) { console.error(problems.join('\n')); process.exit(1); }
console.log([...values][0]);
