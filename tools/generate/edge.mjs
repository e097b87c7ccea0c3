// The edge and the mesh from services/*/service.json: what each service exposes through the
// gateway ("edge": its paths, the edge's timeout, the operations allowed) and who may call it
// (the services listing it in "calls"; the edge gateway for the operations of "edge.allow").
//   gateway/edge-names.conf     the maps naming a request's service and route (http level)
//   gateway/edge-routes.conf    a location per edge path (server level)
//   istio/gateway-api/httproutes.yaml, istio/mesh/authorization-edge.yaml,
//   istio/{sidecar,ambient}/authorization-policy.yaml, istio/mesh/{virtual-services,
//   destination-rules}.yaml: the generated blocks.
// What is particular to one service stays hand-written outside the blocks: a service with a
// canary keeps its edge location and HTTPRoute by hand (the split, the x-user-type rule), and one
// with "meshTraffic": "hand-written" its tuned VirtualService and DestinationRule.
import { comment } from "./k8s.mjs";

const NS = "ecommerce";
const GATEWAY_SA = "microshop-gateway-istio";
const principal = (sa) => `cluster.local/ns/${NS}/sa/${sa}`;
// The head of an object of service s in the shop's namespace, labelled with its app.
const head = (apiVersion, kind, s) => `apiVersion: ${apiVersion}
kind: ${kind}
metadata:
  name: ${s.name}
  namespace: ${NS}
  labels:
    app: ${s.name}`;
const flow = (list) => `[${list.map((x) => `"${x}"`).join(", ")}]`;

// Documents of a multi-document YAML file, each after its own "---": a block placed after a
// hand-written document, empty when there is none.
const documents = (docs) => docs.map((d) => `---\n${d}`).join("\n");

const edged = (services) => services.filter((s) => s.edge);
// Services whose edge routes are generated (a canary's split is written by hand).
const routed = (services) => edged(services).filter((s) => !s.canary);

// The route label of the gateway's metrics: the first path's name when it is a prefix
// (/products -> products), else the service's name.
function routeName(s) {
  const p = s.edge.paths[0];
  return p.prefix ? p.prefix.slice(1).replace(/\//g, "_") : s.name;
}

const reEscape = (p) => p.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
const uriRegex = (p) => (p.prefix ? `^${reEscape(p.prefix)}(/|$)` : `^${reEscape(p.exact)}$`);

// ---- gateway/edge-names.conf ----

export function nginxNames({ services }, header) {
  const rows = edged(services).flatMap((s) => s.edge.paths.map((p) => [`"~${uriRegex(p)}"`, s.name]));
  const w = Math.max(...rows.map((r) => r[0].length)) + 1;
  const routes = edged(services)
    .filter((s) => routeName(s) !== s.name)
    .map((s) => [s.name, routeName(s)]);
  const w2 = Math.max(7, ...routes.map((r) => r[0].length)) + 1;
  return `# ${header}.
# Included by gateway/nginx.conf at http level, next to it (as upstreams.conf).
# The service a request is for, named in the gateway's own error answers and in the log: every
# path of every service's "edge".
map $uri $ms_service {
${rows.map(([k, v]) => `    ${k.padEnd(w)}${v};`).join("\n")}
    ${"default".padEnd(w)}gateway;
}

# The gateway location a request went to, as the edge metrics name it (route="..."): the first
# path's name, or the service's.
map $ms_service $ms_route {
${routes.map(([k, v]) => `    ${k.padEnd(w2)}${v};`).join("\n")}
    ${"gateway".padEnd(w2)}other;
    ${"default".padEnd(w2)}$ms_service;
}
`;
}

// ---- gateway/edge-routes.conf ----

function location(s, p) {
  const head = p.prefix ? `location ~ ${uriRegex(p)}` : `location = ${p.exact}`;
  return `    ${head} {
        proxy_read_timeout ${s.edge.timeout};
        proxy_next_upstream_timeout ${s.edge.timeout};
        proxy_pass http://${s.name};
    }`;
}

export function nginxRoutes({ services }, header) {
  const blocks = routed(services).map((s) => {
    const note = comment(`${s.name}: ${s.edge.note ?? `the edge waits ${s.edge.timeout}.`}`, "    ");
    return `${note}\n${s.edge.paths.map((p) => location(s, p)).join("\n\n")}`;
  });
  return `# ${header}.
# Included by gateway/nginx.conf inside its server, next to it (as upstreams.conf): a location
# for each path of each service's "edge", its proxy_read_timeout the edge's timeout for it (the
# same as its HTTPRoute's timeouts.request). A service with a canary has its location in
# nginx.conf (the split). Retries and what counts as a failure: nginx.conf, for all of them.
${blocks.join("\n\n")}
`;
}

// ---- istio/gateway-api/httproutes.yaml ----

function httpRoute(s, port) {
  const matches = s.edge.paths.map((p) => `        - path:
            type: ${p.prefix ? "PathPrefix" : "Exact"}
            value: ${p.prefix ?? p.exact}`);
  const note = s.edge.note ? `${comment(`${s.name}: ${s.edge.note}`)}\n` : "";
  return `${note}${head("gateway.networking.k8s.io/v1", "HTTPRoute", s)}
spec:
  parentRefs:
    - name: microshop-gateway
      sectionName: http
  rules:
    - matches:
${matches.join("\n")}
      backendRefs:
        - name: ${s.name}
          port: ${port}
      timeouts:
        request: ${s.edge.timeout}`;
}

export function httpRoutes({ services }) {
  return documents(routed(services).map((s) => httpRoute(s, s.port)));
}

// ---- istio/mesh/authorization-edge.yaml: what the edge admits from anyone ----

function operations(ops, indent) {
  return ops
    .map(
      (o) => `${indent}- operation:
${indent}    methods: ${flow(o.methods)}
${indent}    paths: ${flow(o.paths)}`,
    )
    .join("\n");
}

export function edgeOperations({ services }) {
  return operations(
    edged(services).flatMap((s) => s.edge.edgeAllow ?? s.edge.allow),
    "        ",
  );
}

// ---- istio/{sidecar,ambient}/authorization-policy.yaml: who may call each service ----

// The ServiceAccounts of a service's pods: its own and its canary's.
const accounts = (s) => (s.canary ? [s.name, `${s.name}-${s.canary.version}`] : [s.name]);

function principals(list, indent) {
  if (list.length === 1) return `${indent}principals: ["${principal(list[0])}"]`;
  return `${indent}principals:\n${list.map((sa) => `${indent}  - ${principal(sa)}`).join("\n")}`;
}

// The policy's head: a selector with sidecars (the pods), targetRefs in ambient (the Services,
// enforced by the waypoint).
function target(mode, name, services) {
  if (mode === "sidecar")
    return `  selector:
    matchLabels:
      app: ${name}`;
  return `  targetRefs:
${services
  .map(
    (svc) => `    - kind: Service
      group: ""
      name: ${svc}`,
  )
  .join("\n")}`;
}

function policy(mode, name, targets, rules) {
  return `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata:
  name: ${name}
  namespace: ${NS}
spec:
${target(mode, name, targets)}
  action: ALLOW
  rules:
${rules.join("\n")}`;
}

function rule(sas, to) {
  return `    - from:
        - source:
${principals(sas, "            ")}
      to:
${to}`;
}

// A service: the edge gateway (when it has an edge) and its callers, on the operations of
// edge.allow; the identities of "readyCallers" (chaos probes) on GET /ready.
function servicePolicy(mode, s, services) {
  const callers = services.filter((c) => c.calls.includes(s.name)).flatMap(accounts);
  const sas = [...(s.edge ? [GATEWAY_SA] : []), ...callers];
  const rules = [];
  if (sas.length) rules.push(rule(sas, operations(s.edge?.allow ?? [], "        ")));
  if (s.readyCallers?.length) rules.push(rule(s.readyCallers, operations([{ methods: ["GET"], paths: ["/ready"] }], "        ")));
  if (!rules.length) return null; // nobody may call it: allow-nothing covers it
  const targets = s.canary ? [s.name, `${s.name}-v1`, `${s.name}-${s.canary.version}`] : [s.name];
  return policy(mode, s.name, targets, rules);
}

// A data store: TCP only, the identities of the services that use it, on its port.
function storePolicy(mode, store, port, services) {
  const sas = services.filter((s) => s.stores.includes(store)).flatMap(accounts);
  return policy(mode, store, [store], [
    rule(
      sas,
      `        - operation:
            ports: ["${port}"]`,
    ),
  ]);
}

export function servicePolicies(mode, { services }) {
  const docs = services.map((s) => servicePolicy(mode, s, services)).filter(Boolean);
  docs.push(`# The data stores speak TCP: the rules are identities and ports only.
${storePolicy(mode, "postgres", 5432, services)}`);
  docs.push(storePolicy(mode, "redis", 6379, services));
  return documents(docs);
}

// ---- istio/mesh/{virtual-services,destination-rules}.yaml: the defaults of a new service ----

const untuned = (services) => services.filter((s) => s.meshTraffic !== "hand-written");

// The file's conventions: GET and HEAD retried on 5xx and resets within the timeout; other
// methods only when the request never reached the service.
export function defaultVirtualServices({ services }) {
  return documents(
    untuned(services).map(
      (s) => `# ${s.name}: the defaults of a service whose routes nobody tuned yet.
${head("networking.istio.io/v1", "VirtualService", s)}
spec:
  hosts:
    - ${s.name}
  http:
    - name: reads
      match:
        - method:
            exact: GET
        - method:
            exact: HEAD
      route:
        - destination:
            host: ${s.name}
      timeout: 1s
      retries:
        attempts: 1
        perTryTimeout: 0.5s
        retryOn: connect-failure,refused-stream,reset,5xx
    - name: writes
      route:
        - destination:
            host: ${s.name}
      timeout: 1s
      retries:
        attempts: 2
        retryOn: connect-failure,refused-stream`,
    ),
  );
}

export function defaultDestinationRules({ services }) {
  return documents(
    untuned(services).map(
      (s) => `${head("networking.istio.io/v1", "DestinationRule", s)}
spec:
  host: ${s.name}
  trafficPolicy:
    tls:
      mode: ISTIO_MUTUAL
    connectionPool:
      tcp:
        maxConnections: 16
        connectTimeout: 200ms
      http:
        http1MaxPendingRequests: 8
        http2MaxRequests: 32
        maxRetries: 4
    outlierDetection:
      consecutive5xxErrors: 5
      interval: 5s
      baseEjectionTime: 30s
      maxEjectionPercent: 50`,
    ),
  );
}
