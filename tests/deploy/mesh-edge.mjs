#!/usr/bin/env node
// A service's place at the edge and in the mesh, as make generate writes it from its service.json:
// tests/deploy/mesh.mjs passes on the tree, and each planted violation makes it fail naming the
// service: its nginx location removed from gateway/edge-routes.conf, its HTTPRoute removed, its
// identity removed from the AuthorizationPolicy of a service it calls (sidecar and ambient).
// Run by tests/deploy/new-service.test.sh on the copy with the scaffolded service.
//   node tests/deploy/mesh-edge.mjs --root DIR NAME
import { cpSync, existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { INPUTS, checkTree } from "./mesh.mjs";
import { plantEach } from "./lib/plant.mjs";

const argv = process.argv.slice(2);
const root = path.resolve(argv[0] === "--root" && argv[1] ? argv[1] : ".");
const name = argv[0] === "--root" ? argv[2] : argv[0];
if (!name || !existsSync(path.join(root, "services", name, "service.json"))) {
  console.log(`usage: mesh-edge.mjs --root DIR NAME (a service of DIR/services): got '${name ?? ""}'`);
  process.exit(2);
}
const svc = JSON.parse(readFileSync(path.join(root, "services", name, "service.json"), "utf8"));
const first = svc.edge?.paths?.[0];
if (!first) {
  console.log(`FAIL services/${name}/service.json has no edge paths`);
  process.exit(1);
}
const esc = (s) => s.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&");
const route = first.prefix ?? first.exact;

const control = await checkTree(root);
if (control.problems.length) {
  for (const p of control.problems) console.log(`FAIL ${p}`);
  console.log(`FAIL mesh.mjs fails on the tree with ${name} (${control.problems.length} problems)`);
  process.exit(1);
}
console.log(`ok   mesh.mjs passes with ${name}: ${control.checked.length} checks`);

const location = first.prefix ? `location ~ ^${route}(/|$) {` : `location = ${route} {`;
const cases = [
  {
    name: `${name}'s edge location missing`,
    file: "gateway/edge-routes.conf",
    from: new RegExp(`${esc(location)}[^}]*\\}`),
    to: "",
    expect: new RegExp(`no proxy_read_timeout in the location for ${esc(route)} \\(${name}\\)`),
  },
  {
    name: `${name}'s HTTPRoute missing`,
    file: "istio/gateway-api/httproutes.yaml",
    from: new RegExp(`---\\n(#[^\\n]*\\n)*apiVersion: gateway.networking.k8s.io/v1\\nkind: HTTPRoute\\nmetadata:\\n  name: ${name}\\n(?:(?!---)[^\\n]*\\n)*`),
    to: "",
    expect: new RegExp(`HTTPRoutes: no route for ${esc(route)}`),
  },
];
// Its identity taken out of the policy of each service it calls, in either mode.
for (const callee of svc.calls)
  for (const mode of ["sidecar", "ambient"])
    cases.push({
      name: `${callee}'s ${mode} policy missing its caller ${name}`,
      file: `istio/${mode}/authorization-policy.yaml`,
      from: new RegExp(`(\\n  name: ${callee}\\n(?:(?!---)[^\\n]*\\n)*?) +- cluster\\.local/ns/ecommerce/sa/${name}\\n`),
      to: "$1",
      expect: new RegExp(`istio/${mode}: ${callee} admits the ServiceAccounts \\[[^\\]]*\\], expected \\[[^\\]]*\\b${name}\\b`),
    });

const { failed } = await plantEach(root, cases, {
  what: "planted",
  copy: (dir) => {
    for (const top of INPUTS)
      cpSync(path.join(root, top), path.join(dir, top), { recursive: true });
  },
  check: async (dir) => (await checkTree(dir, { base: control.base, kustomize: false })).problems,
});
process.exit(failed ? 1 : 0);
