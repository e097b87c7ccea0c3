#!/usr/bin/env node
// Proves that tests/deploy/mesh.mjs catches mistakes: plants one typo at a time in a copy of
// the tree (istio/ chaos/ k8s/ gateway/) and expects checkTree to fail with a given message.
// One process for all of them, so the CRD schemas are compiled once.
//   node tests/deploy/mesh-typos.mjs [--root DIR]
import { cpSync, existsSync } from "node:fs";
import path from "node:path";
import { plantEach } from "./lib/plant.mjs";
import { INPUTS, checkTree } from "./mesh.mjs";

const argv = process.argv.slice(2);
const root = path.resolve(argv[0] === "--root" && argv[1] ? argv[1] : ".");

// file, what to replace (first match) and by what, the message expected (a RegExp), and whether
// the kustomizations must be rendered to see it.
const MUTATIONS = [
  ["HTTPRoute weights not 100", "istio/gateway-api/httproutes.yaml", /weight: 90/, "weight: 80", /weights sum to 90, not 100/],
  ["HTTPRoute backend without Service", "istio/gateway-api/httproutes.yaml", /name: product-v2/, "name: product-v3", /backendRef product-v3 is no Service/],
  ["HTTPRoute port typo", "istio/gateway-api/httproutes.yaml", /port: 3002/, "port: 3020", /Service cart has no port 3020/],
  ["HTTPRoute vip to v1", "istio/gateway-api/httproutes.yaml", /- name: product-v2\n          port: 3001\n      timeouts/, "- name: product-v1\n          port: 3001\n      timeouts", /vip must go to product-v2 only/],
  ["HTTPRoute product timeout", "istio/gateway-api/httproutes.yaml", /request: 500ms/, "request: 600ms", /timeouts.request is 600ms, expected 500ms/],
  ["HTTPRoute duration syntax", "istio/gateway-api/httproutes.yaml", /request: 3s/, "request: 3 s", /timeouts\/request must match pattern/],
  ["VirtualService product timeout", "istio/mesh/virtual-services.yaml", /timeout: 0.5s/, "timeout: 5s", /timeout 5s, expected 0.5s/],
  ["VirtualService weight as string", "istio/mesh/virtual-services.yaml", /weight: 10/, 'weight: "10"', /weight must be integer/],
  ["VirtualService host typo", "istio/mesh/virtual-services.yaml", /- inventory\n/, "- inventroy\n", /host inventroy is no Service/],
  ["VirtualService port typo", "istio/mesh/virtual-services.yaml", /subset: v2\n/, "subset: v2\n            port:\n              number: 3010\n", /Service product has no port 3010/],
  ["VirtualService ambiguous port", "k8s/base/cart.yaml", /      appProtocol: http\n/, "      appProtocol: http\n    - name: admin\n      port: 3102\n      targetPort: http\n      protocol: TCP\n", /no destination port, and Service cart has 2 ports/],
  ["VirtualService unknown subset", "istio/mesh/virtual-services.yaml", /subset: v2/, "subset: canary", /subset canary is not defined/],
  ["DestinationRule subset label", "istio/mesh/destination-rules.yaml", /version: v2\n/, "version: v3\n", /subset v2 .* matches no pod/],
  ["DestinationRule field typo", "istio/mesh/destination-rules.yaml", /consecutive5xxErrors/, "consecutive5xxError", /unknown field "consecutive5xxError"/],
  ["PeerAuthentication permissive", "istio/mesh/peer-authentication.yaml", /STRICT/, "PERMISSIVE", /none STRICT/],
  ["AuthorizationPolicy principal typo", "istio/sidecar/authorization-policy.yaml", /sa\/cart\n/, "sa/carts\n", /principal cluster.local\/ns\/ecommerce\/sa\/carts is no ServiceAccount/],
  ["AuthorizationPolicy extra caller", "istio/ambient/authorization-policy.yaml", /sa\/cart\n/, "sa/notification\n", /product admits the ServiceAccounts \[notification,order\]/],
  ["AuthorizationPolicy selector typo", "istio/sidecar/authorization-policy.yaml", /app: inventory/, "app: inventory-v1", /selector .*inventory-v1.* matches no pod/],
  ["AuthorizationPolicy L7 at ztunnel", "istio/ambient/authorization-policy.yaml", /ports: \["3000"/, 'paths: ["/metrics"]\n            ports: ["3000"', /ztunnel enforces this policy/],
  ["Chaos Mesh selector typo", "chaos/chaos-mesh/network-partition.yaml", /app: inventory/, "app: inventroy", /labelSelectors .*inventroy.* match no Deployment/],
  ["Chaos Mesh namespace", "chaos/chaos-mesh/pod-kill.yaml", /- ecommerce/, "- default", /namespaces must be \[ecommerce\]/],
  ["Chaos Mesh schema typo", "chaos/chaos-mesh/network-delay.yaml", /latency:/, "laterncy:", /unknown field "laterncy"/],
  ["Chaos Mesh bad action", "chaos/chaos-mesh/network-delay.yaml", /action: delay/, "action: delays", /action must be equal to one of the allowed values/],
  ["HTTPChaos port", "chaos/chaos-mesh/http-delay.yaml", /port: 3001/, "port: 3002", /port 3002 is not a container port/],
  ["Workflow child missing", "chaos/chaos-mesh/workflow.yaml", /- order-cpu-stress\n/, "- order-cpu-stres\n", /child order-cpu-stres is no template/],
  ["Schedule selector typo", "chaos/chaos-mesh/schedule.yaml", /app: cart/, "app: carts", /labelSelectors .*carts.* match no Deployment/],
  ["Litmus applabel typo", "chaos/litmus/product-pod-delete.yaml", /applabel: app=product/, "applabel: app=prodcut", /appinfo deployment app=prodcut.* matches no Deployment/],
  ["Litmus probe port", "chaos/litmus/product-pod-delete.yaml", /cluster.local:3001/, "cluster.local:3010", /names no Service port/],
  ["Litmus service account", "chaos/litmus/product-pod-delete.yaml", /chaosServiceAccount: pod-delete-sa/, "chaosServiceAccount: litmus-admin", /chaosServiceAccount litmus-admin is not defined/],
  ["kustomization drops a file", "istio/mesh/kustomization.yaml", /  - telemetry.yaml\n/, "", /does not include istio\/mesh\/telemetry.yaml/, true],
  ["ambient waypoint name", "istio/ambient/namespace.yaml", /use-waypoint: waypoint/, "use-waypoint: waypiont", /use-waypoint=waypiont names no Gateway/, true],
  ["sidecar injection label", "istio/sidecar/namespace.yaml", /istio-injection: enabled/, "istio-injection: enable", /lacks istio-injection=enabled/, true],
  ["mesh layer drops a base label", "istio/sidecar/namespace.yaml", /    pod-security.kubernetes.io\/audit: restricted\n/, "", /lacks the label pod-security.kubernetes.io\/audit=restricted of k8s\/base/, true],
  ["YAML syntax", "istio/faults/inventory-delay.yaml", /  hosts:\n/, "  hosts: [\n", /yaml: .*inventory-delay.yaml/],
  // the canary's share moved in its one place (make generate rewrites canary.conf), the mesh's
  // hand-written weights left behind
  ["canary share moved, mesh weights not", "services/product/service.json", /"percent": 10/, '"percent": 20', /must split v1 80 \/ v2 20 \(canary.percent\), is v1:90,v2:10/],
  ["nginx product timeout", "gateway/nginx.conf", /proxy_read_timeout 500ms/, "proxy_read_timeout 800ms", /timeouts disagree for \/products.*proxy_read_timeout 800ms/],
];

const control = await checkTree(root);
if (control.problems.length) {
  console.log(`FAIL the unmodified tree already fails (${control.problems.length} problems): run tests/deploy/mesh.mjs`);
  process.exit(1);
}
// A typo in k8s/ needs k8s/base rendered from the copy; the others reuse the control's.
const cases = MUTATIONS.map(([name, file, from, to, expect, kustomize = false]) => ({
  name, file, from, to, expect, opts: { kustomize, ownBase: file.startsWith("k8s/") },
}));
const { passed, failed } = await plantEach(root, cases, {
  what: "planted typo",
  copy: (dir) => {
    for (const top of INPUTS)
      if (existsSync(path.join(root, top))) cpSync(path.join(root, top), path.join(dir, top), { recursive: true });
  },
  check: async (dir, { kustomize, ownBase }) =>
    (await checkTree(dir, { base: ownBase ? undefined : control.base, kustomize })).problems,
});
console.log(`planted typos: ${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
