#!/usr/bin/env node
// Proves that tests/deploy/semantics.mjs catches what issue 10 found: plants one violation at a
// time in a copy of the tree (the mistake as it was, or the way it would come back) and expects
// checkSemantics to fail with the given rule and message. Every rule has at least one.
//   node tests/deploy/semantics-violations.mjs [--root DIR]
import { cpSync, existsSync, mkdirSync, readdirSync } from "node:fs";
import path from "node:path";
import { plantEach } from "./lib/plant.mjs";
import { RULES, checkSemantics } from "./semantics.mjs";

const argv = process.argv.slice(2);
const root = path.resolve(argv[0] === "--root" && argv[1] ? argv[1] : ".");

// rule, file, what to replace (first match) and by what, the message expected (a RegExp).
const V = [
  ["edge-fault", "istio/faults/product-abort.yaml", /      route:\n/, "      timeout: 0.5s\n      route:\n", /http\[0\]: a fault with a timeout beside it/],
  ["edge-fault", "istio/faults/edge-product-delay.yaml", /- product-v2\.ecommerce\.svc\.cluster\.local\n  http:/, "- product\n  http:", /no file in istio\/faults delays every backend the edge sends \/products to/],
  ["edge-fault", "istio/faults/edge-product-delay.yaml", /context: SIDECAR_INBOUND/, "context: SIDECAR_OUTBOUND", /no file in istio\/faults delays every backend/],
  ["edge-fault", "istio/faults/edge-product-delay.yaml", /fixed_delay: 2s/, "fixed_delay: 0.4s", /does not exceed the edge's 500 ms timeout/],
  ["edge-fault", "istio/gateway-api/httproutes.yaml", /      timeouts:\n        request: 500ms\n/, "", /the \/products rule has no timeouts.request/],
  ["edge-fault", "istio/mesh/destination-rules.yaml", /maxEjectionPercent: 50\n(?![\s\S]*name: product-v2\n)/, "maxEjectionPercent: 100\n", /product-v2: maxEjectionPercent 100/],
  ["chaos-probes", "chaos/chaos-mesh/network-delay.yaml", /  target:\n[\s\S]*?(?=  duration)/, "", /network-delay.yaml: NetworkChaos\/product-delay spec: a 2100 ms delay with no target/],
  ["chaos-probes", "chaos/chaos-mesh/network-loss.yaml", /  target:\n[\s\S]*?(?=  duration)/, "", /loss with no target shapes every packet/],
  ["chaos-probes", "chaos/chaos-mesh/workflow.yaml", /        target:\n          mode: all\n          selector:\n            namespaces:\n              - ecommerce\n            expressionSelectors:[\s\S]*?microshop-gateway\]\n/, "", /template product-latency: a 2000 ms delay with no target/],
  ["chaos-probes", "chaos/chaos-mesh/network-delay.yaml", /values: \[microshop-gateway\]/, "values: [microshop-gateway, waypoint]", /targets the waypoint, which in ambient mode also carries/],
  ["ambient-netpol", "k8s/base/network-policies.yaml", /gateway\.networking\.k8s\.io\/gateway-name: waypoint/, "app: waypoint", /NetworkPolicy postgres-clients: does not admit the waypoint \(waypoint\) on 15008/],
  ["ambient-netpol", "k8s/base/network-policies.yaml", /cidr: 169\.254\.7\.127\/32/, "cidr: 169.254.7.128/32", /postgres-clients: does not admit 169\.254\.7\.127\/32/],
  ["ambient-netpol", "istio/gateway-api/gateway.yaml", /istio\.io\/dataplane-mode: none/, "istio.io/dataplane-mode: ambient", /microshop-gateway: its pods are not labelled istio.io\/dataplane-mode=none/],
  ["lab-sequence", "chaos/chaos-mesh/pod-failure.yaml", /mode: one/, "mode: all", /pod-failure with mode: all leaves no replica/],
  ["lab-sequence", "docs/labs/07-kubernetes-istio.md", /kubectl delete -f chaos\/chaos-mesh\/pod-failure\.yaml[^\n]*\n/, "", /lab 7: .* (is applied while|runs while) chaos\/chaos-mesh\/pod-failure\.yaml|pod-failure\.yaml is never deleted/],
  ["lab-sequence", "docs/labs/07-kubernetes-istio.md", /kubectl apply -f chaos\/chaos-mesh\/pod-failure\.yaml\nsleep 15\n[\s\S]*?kubectl delete/, "kubectl apply -f chaos/chaos-mesh/pod-failure.yaml\nsleep 15\nkubectl -n ecommerce exec deploy/order -c istio-proxy -- pilot-agent request GET stats | grep ejections\nkubectl delete", /needs an istio-proxy container, which ambient pods do not have/],
  ["stress-limit", "chaos/chaos-mesh/stress-chaos.yaml", /size: 32MB/, "size: 128MB", /1 x 128MB of stress \+ the service's 16 MiB exceed order\/order's 128Mi limit/],
  ["stress-limit", "chaos/chaos-mesh/stress-chaos.yaml", /so nothing scales out/, "so the Deployment scales out", /says the Deployment scales out, but order has no HorizontalPodAutoscaler/],
  ["stress-limit", "chaos/chaos-mesh/stress-chaos.yaml", /  containerNames:\n    - order\n/, "", /no containerNames/],
  ["litmus", "chaos/litmus/product-pod-delete.yaml", /product-v1\.ecommerce/, "product.ecommerce", /probe product-ready checks product\.ecommerce\.svc\.cluster\.local, whose pods include product-v2/],
  ["litmus", "scripts/lab/kind-up.sh", /litmus-operator-v\$LITMUS_VERSION\.yaml/, "litmus-getting-started.yaml", /does not install the Litmus operator/],
  ["one-fault", "chaos/chaos-mesh/http-delay.yaml", /microshop\.dev\/mesh: none/, "microshop.dev/mesh: any", /HTTPChaos\/product-delay-http: HTTPChaos reads plaintext HTTP/],
  ["one-fault", "chaos/chaos-mesh/http-delay.yaml", /  delay: 1s\n/, "  delay: 1s\n  abort: true\n", /http-delay.yaml: 2 faults in one file/],
  ["one-fault", "istio/faults/edge-product-delay.yaml", /numerator: 50/, "numerator: 40", /edge-product-delay.yaml: 2 faults in one file/],
  ["retry-budget", "istio/mesh/virtual-services.yaml", /attempts: 1\n        perTryTimeout: 0\.25s/, "attempts: 2\n        perTryTimeout: 0.25s", /3 tries x 250 ms = 750 ms exceed the 500 ms timeout/],
  ["retry-budget", "istio/mesh/virtual-services.yaml", /        perTryTimeout: 0\.5s\n/, "", /VirtualService\/cart http\[0\] \(reads\): retries on .*5xx without perTryTimeout/],
  ["retry-budget", "k8s/base/cart.yaml", /value: "600"/, 'value: "300"', /cart: PRODUCT_TIMEOUT_MS 300 does not outlast the mesh's 500 ms timeout for product/],
  ["retry-budget", "k8s/base/order.yaml", /name: INVENTORY_RETRIES\n              value: "0"/, 'name: INVENTORY_RETRIES\n              value: "2"', /order: 3 tries of its own x 3 of the mesh = 9 requests to inventory/],
  ["vip-edge-only", "istio/mesh/virtual-services.yaml", /    - name: canary-split\n/, "    - name: vip\n      match:\n        - headers:\n            x-user-type:\n              exact: vip\n      route:\n        - destination:\n            host: product\n            subset: v2\n      timeout: 0.5s\n      retries:\n        attempts: 1\n        perTryTimeout: 0.25s\n        retryOn: 5xx\n    - name: canary-split\n", /matches header x-user-type, which the services do not forward/],
  ["content-tags", "scripts/lab/kind-up.sh", /image="localhost\/microshop\/\$svc:\$tag"/, 'image="localhost/microshop/$svc:latest"', /kind-up.sh loads product as :latest, not by content/],
  ["content-tags", "scripts/lab/kind-up.sh", /    set_content_images\n/, "", /does not point deployment\/product at product:CONTENT-ID/],
  ["tracing", "istio/mesh/telemetry.yaml", /- name: otel-tracing/, "- name: otel", /provider otel is not declared by kind-up.sh/],
  ["tracing", "scripts/lab/kind-up.sh", /TRACING_PORT=4317/, "TRACING_PORT=4319", /sends to jaeger-collector.istio-system.svc.cluster.local:4319, which no Service of istio\/addons serves/],
  ["tracing", "istio/mesh/telemetry.yaml", /    - providers:\n        - name: otel-tracing\n      randomSamplingPercentage/, "    - randomSamplingPercentage", /tracing names no provider/],
];

// The parts of the tree the rules read.
const PARTS = ["istio", "chaos", "k8s", "scripts", "docs/labs", "common/src/trace.c"];
function copyTree(dir) {
  for (const p of PARTS) if (existsSync(path.join(root, p))) cpSync(path.join(root, p), path.join(dir, p), { recursive: true });
  for (const s of readdirSync(path.join(root, "services"))) {
    const main = path.join(root, "services", s, "main.c");
    if (!existsSync(main)) continue;
    mkdirSync(path.join(dir, "services", s), { recursive: true });
    cpSync(main, path.join(dir, "services", s, "main.c"));
  }
}

const control = await checkSemantics(root);
if (control.problems.length) {
  console.log(`FAIL the unmodified tree already fails (${control.problems.length} problems): run tests/deploy/semantics.mjs`);
  process.exit(1);
}
const cases = V.map(([rule, file, from, to, expect]) => ({
  name: rule, file, from, to, expect: (p) => p.startsWith(`[${rule}]`) && expect.test(p), opts: { kBase: file.startsWith("k8s/") },
}));
const { passed, failed, caught } = await plantEach(root, cases, {
  what: "planted violation",
  copy: copyTree,
  check: async (dir, { kBase }) => (await checkSemantics(dir, { base: kBase ? undefined : control.base })).problems,
});
let uncovered = 0;
for (const rule of Object.keys(RULES))
  if (!caught.some((c) => c.name === rule)) {
    uncovered++;
    console.log(`FAIL rule [${rule}] has no planted violation that it catches`);
  }
console.log(`planted violations: ${passed} caught, ${failed + uncovered} failed`);
process.exit(failed + uncovered ? 1 : 0);
