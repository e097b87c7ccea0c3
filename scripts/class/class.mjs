#!/usr/bin/env node
// A class on one cluster (issue 11, item 7): the Kubernetes material rendered for each attendee,
// in a namespace of their own, and the cluster-wide part once.
//
//   node scripts/class/class.mjs render [--attendees 1-30,35] [--out DIR] [--listen ADDR] [--root REPO]
//   node scripts/class/class.mjs facts [N]       NAMESPACE=, NODE_PORT=, HOST_PORT=, EDGE_URL= lines
//   node scripts/class/class.mjs list 1-3,7      the attendee numbers, one a line
//   (make class-render ATTENDEES=1-30 OUT=class runs render)
//
// render writes, for each attendee N, DIR/attendee-N/: the same tree as this repository's
// k8s/, istio/{mesh,sidecar,ambient,gateway-api,faults}, chaos/{chaos-mesh,litmus},
// load-test/{k8s,wrk} with namespace shop-N everywhere the shop's namespace appears (object
// namespaces, chaos and monitor selectors, Istio identities cluster.local/ns/shop-N/sa/...,
// FQDN hosts, curl targets, comments) and the edge's node port 30080 + N; and DIR/shared/ once:
// the KIND cluster config with one port mapping per attendee (host 8080 + N -> node 30080 + N),
// istio/addons, and monitoring for the whole class (monitors in namespace monitoring selecting
// every attendee's namespace, one PrometheusRule, one set of dashboards). Without --attendees it
// writes today's material unchanged (namespace ecommerce, node port 30080) to DIR/default/.
//
// A program, not a text substitution: each YAML file is parsed, and only scalar values and
// comments are rewritten, in place, so every byte that does not name the namespace stays as it
// is. The edge node port is changed only in a NodePort Service's ports. Whatever still names the
// default namespace afterwards is an error (tests/deploy/class.test.sh checks the rest).
import { cpSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";
import path from "node:path";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");
const YAML = createRequire(path.join(ROOT, "tests/deploy/package.json"))("yaml");

// The namespace the material is written for, and the prefix of an attendee's.
export const DEFAULT_NAMESPACE = "ecommerce";
export const PREFIX = "shop-";
export const MAX_ATTENDEES = 99; // node ports 30081..30179, host ports 8081..8179
// Where the class-wide monitoring objects live (kube-prometheus-stack's namespace, kind-up.sh).
export const MONITORING_NAMESPACE = "monitoring";
// Per attendee: these trees, rendered. Cluster-wide: these, once (in shared/).
export const ATTENDEE_TREES = ["k8s", "istio/mesh", "istio/sidecar", "istio/ambient", "istio/gateway-api",
  "istio/faults", "chaos/chaos-mesh", "chaos/litmus", "load-test/k8s", "load-test/wrk"];
export const SHARED_TREES = ["istio/addons", "monitoring/k8s", "monitoring/grafana/dashboards", "monitoring/rules"];
const CLUSTER_CONFIG = "k8s/kind-cluster.yaml";

// The default edge: its node port (k8s/components/edge) and the host port KIND maps it to.
function defaultPorts(root = ROOT) {
  const edge = YAML.parse(readFileSync(path.join(root, "k8s/components/edge/edge-service.yaml"), "utf8"));
  const kind = YAML.parse(readFileSync(path.join(root, CLUSTER_CONFIG), "utf8"));
  const nodePort = edge.spec.ports[0].nodePort;
  const mapping = kind.nodes.flatMap((n) => n.extraPortMappings ?? []).find((m) => m.containerPort === nodePort);
  if (!mapping) throw new Error(`${CLUSTER_CONFIG} maps no host port to the edge's node port ${nodePort}`);
  return { nodePort, hostPort: mapping.hostPort };
}

// An attendee's facts; attendee null is today's single shop. LISTEN: the host address KIND
// publishes the edges on.
export function facts(attendee, root = ROOT, listen = "127.0.0.1") {
  const d = defaultPorts(root);
  const n = attendee ?? 0;
  const f = { attendee, namespace: attendee ? `${PREFIX}${attendee}` : DEFAULT_NAMESPACE,
    nodePort: d.nodePort + n, hostPort: d.hostPort + n };
  return { ...f, edgeUrl: `http://${listen === "127.0.0.1" ? "localhost" : listen}:${f.hostPort}` };
}

// "1-3,7" → [1, 2, 3, 7] (sorted, unique); throws on anything else.
export function parseAttendees(spec) {
  const out = new Set();
  for (const part of String(spec).split(",").map((s) => s.trim()).filter(Boolean)) {
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    if (!m) throw new Error(`attendees: '${part}' is not N or N-M`);
    const [a, b] = [Number(m[1]), Number(m[2] ?? m[1])];
    if (a < 1 || b > MAX_ATTENDEES || a > b) throw new Error(`attendees: '${part}' is outside 1-${MAX_ATTENDEES}`);
    for (let i = a; i <= b; i++) out.add(i);
  }
  if (!out.size) throw new Error("attendees: none given");
  return [...out].sort((x, y) => x - y);
}

// The shop's namespace as a whole DNS label ("ecommerce", not "ecommerce-x" or "xecommerce").
const TOKEN = new RegExp(`(?<![A-Za-z0-9-])${DEFAULT_NAMESPACE}(?![A-Za-z0-9-])`, "g");

function comments(tokens, found = []) {
  if (Array.isArray(tokens)) tokens.forEach((t) => comments(t, found));
  else if (tokens && typeof tokens === "object") {
    if (tokens.type === "comment") found.push(tokens);
    for (const v of Object.values(tokens)) if (typeof v === "object") comments(v, found);
  }
  return found;
}

// Rewrites one YAML text. rules.scalar(text, path, doc) returns the new source of a scalar (or
// undefined); rules.seq(node, path) the new source of a whole sequence; rules.comment(text).
export function rewriteYaml(text, rules) {
  const edits = [];
  for (const doc of YAML.parseAllDocuments(text)) {
    if (doc.errors.length) throw new Error(doc.errors[0].message);
    const js = doc.toJS();
    YAML.visit(doc, {
      Seq(_, node, ancestors) {
        const p = keyPath(ancestors, node);
        const src = rules.seq?.(node, p, js);
        if (src !== undefined) {
          edits.push([node.range[0], node.range[1], src]);
          return YAML.visit.SKIP;
        }
        return undefined;
      },
      Scalar(_, node, ancestors) {
        const src = text.slice(node.range[0], node.range[1]);
        const out = rules.scalar(src, keyPath(ancestors, node), js);
        if (out !== undefined && out !== src) edits.push([node.range[0], node.range[1], out]);
      },
    });
  }
  for (const c of comments([...new YAML.Parser().parse(text)])) {
    const out = rules.comment(c.source);
    if (out !== c.source) edits.push([c.offset, c.offset + c.source.length, out]);
  }
  edits.sort((a, b) => b[0] - a[0]);
  let result = text;
  for (const [from, to, src] of edits) result = result.slice(0, from) + src + result.slice(to);
  return result;
}

// The keys from the document's root to NODE ("spec.ports.0.nodePort").
function keyPath(ancestors, node) {
  const keys = [];
  let child = node;
  for (let i = ancestors.length - 1; i >= 0; i--) {
    const a = ancestors[i];
    if (YAML.isPair(a)) {
      if (a.key === child) return null; // a key, not a value
      keys.unshift(String(a.key?.value ?? a.key));
    } else if (YAML.isSeq(a)) keys.unshift(String(a.items.indexOf(child)));
    child = a;
  }
  return keys.join(".");
}

// The rules for attendee F: the namespace token everywhere, the edge node port in NodePort Services.
function attendeeRules(f, d) {
  const swap = (s) => s.replace(TOKEN, f.namespace);
  return {
    comment: swap,
    scalar(src, p, js) {
      if (p && /^spec\.ports\.\d+\.nodePort$/.test(p) && js?.kind === "Service" && Number(src) === d.nodePort)
        return String(f.nodePort);
      return swap(src);
    },
  };
}

// The rules for the class-wide monitoring: its objects in MONITORING_NAMESPACE, selecting every
// attendee's namespace; PromQL that names the namespace names all of them.
function sharedRules(namespaces) {
  const re = namespaces.join("|");
  return {
    comment: (s) => s.replace(TOKEN, "each attendee's namespace"),
    seq(node, p) {
      if (p && /(^|\.)namespaceSelector\.matchNames$/.test(p)) return `[${namespaces.join(", ")}]`;
      return undefined;
    },
    scalar(src, p) {
      if (p === "namespace" || p === "metadata.namespace") return src.replace(TOKEN, MONITORING_NAMESPACE);
      return promqlNamespaces(src, re);
    },
  };
}

// namespace="ecommerce" in PromQL (also JSON-escaped, in a dashboard) → namespace=~"a|b".
function promqlNamespaces(src, re) {
  return src.replace(new RegExp(`namespace=(\\\\?)"${DEFAULT_NAMESPACE}\\\\?"`, "g"), (_, q) => `namespace=~${q}"${re}${q}"`);
}

function filesUnder(root, rel) {
  const dir = path.join(root, rel);
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const r = path.join(rel, e.name);
    return e.isDirectory() ? filesUnder(root, r) : [r];
  });
}

// Copies the TREES of ROOT to OUT, each YAML file through RULES (JSON files through JSONRULE).
function renderTrees(root, out, trees, rules, jsonRule = (s) => s) {
  for (const tree of trees) {
    for (const rel of filesUnder(root, tree)) {
      const dst = path.join(out, rel);
      mkdirSync(path.dirname(dst), { recursive: true });
      const text = readFileSync(path.join(root, rel), "utf8");
      if (/\.ya?ml$/.test(rel)) writeFileSync(dst, rewriteYaml(text, rules));
      else if (rel.endsWith(".json")) writeFileSync(dst, jsonRule(text));
      else cpSync(path.join(root, rel), dst);
    }
  }
}

// The KIND config of the class: today's, plus one mapping per attendee on the same node, on
// LISTEN (loopback by default; the instructor's LAN address when attendees use their own laptops:
// then the API server listens there too, on 6443, for the attendees' kubeconfigs).
function classClusterConfig(root, attendees, listen) {
  const text = readFileSync(path.join(root, CLUSTER_CONFIG), "utf8");
  const doc = YAML.parseDocument(text);
  const node = doc.get("nodes").items.find((n) => n.get("extraPortMappings"));
  const maps = node.get("extraPortMappings");
  const model = maps.items[0].toJSON();
  for (const n of attendees) {
    const f = facts(n, root);
    maps.items.push(doc.createNode({ ...model, containerPort: f.nodePort, hostPort: f.hostPort, listenAddress: listen }));
  }
  if (listen !== model.listenAddress) doc.set("networking", doc.createNode({ apiServerAddress: listen, apiServerPort: 6443 }));
  doc.comment = ` Rendered by scripts/class/class.mjs for attendees ${attendees.join(",")}:` +
    ` attendee N's edge (node port 30080+N)\n is http://${listen}:(8080+N) of the host.`;
  return doc.toString({ lineWidth: 0 });
}

function leftovers(dir) {
  const once = new RegExp(TOKEN.source);
  return filesUnder(dir, ".").filter((rel) => once.test(readFileSync(path.join(dir, rel), "utf8"))).map((rel) => path.join(dir, rel));
}

// Writes the class to OUT (see the header). Returns the attendees' facts.
export function render(out, attendees, root = ROOT, listen = "127.0.0.1") {
  rmSync(out, { recursive: true, force: true });
  if (!attendees) {
    // The same rewriting with the default's facts: a byte-for-byte copy (class.test.sh diffs it).
    const f = facts(null, root);
    renderTrees(root, path.join(out, "default"), [...ATTENDEE_TREES, ...SHARED_TREES], attendeeRules(f, defaultPorts(root)));
    return [f];
  }
  const d = defaultPorts(root);
  const all = attendees.map((n) => facts(n, root, listen));
  for (const f of all) {
    const dir = path.join(out, `attendee-${f.attendee}`);
    renderTrees(root, dir, ATTENDEE_TREES, attendeeRules(f, d));
    rmSync(path.join(dir, CLUSTER_CONFIG), { force: true }); // cluster-wide: shared/
    writeFileSync(path.join(dir, "attendee.env"), envLines(f));
    mkdirSync(path.join(dir, "access"), { recursive: true });
    writeFileSync(path.join(dir, "access/attendee.yaml"), accessYaml(f));
  }
  const shared = path.join(out, "shared");
  const namespaces = all.map((f) => f.namespace);
  renderTrees(root, shared, SHARED_TREES, sharedRules(namespaces), (s) => promqlNamespaces(s, namespaces.join("|")));
  mkdirSync(path.join(shared, "k8s"), { recursive: true });
  writeFileSync(path.join(shared, CLUSTER_CONFIG), classClusterConfig(root, attendees, listen));
  const left = leftovers(out);
  if (left.length) {
    const msg = `still naming ${DEFAULT_NAMESPACE}: ${left.join(", ")}`;
    rmSync(out, { recursive: true, force: true }); // no half-isolated class left to apply
    throw new Error(msg);
  }
  return all;
}

// What an attendee may do in their own namespace, and nowhere else: Kubernetes' built-in "edit"
// role (workloads, Services, ConfigMaps, pods/exec, no RBAC) and, in a Role, the lab's custom
// resources (whether a chart aggregates them into "edit" is not relied on).
function accessYaml(f) {
  const groups = ["networking.istio.io", "security.istio.io", "telemetry.istio.io", "gateway.networking.k8s.io",
    "chaos-mesh.org", "litmuschaos.io", "monitoring.coreos.com"];
  const binding = (name, kind, role) => `apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: ${name}
  namespace: ${f.namespace}
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: ${kind}
  name: ${role}
subjects:
  - kind: ServiceAccount
    name: attendee
    namespace: ${f.namespace}
`;
  return `# ${f.namespace}'s identity for its attendee (docs/instructor/class-on-one-cluster.md):
#   kubectl apply -f access/attendee.yaml
#   kubectl -n ${f.namespace} create token attendee --duration=12h    # the token of their kubeconfig
apiVersion: v1
kind: ServiceAccount
metadata:
  name: attendee
  namespace: ${f.namespace}
---
${binding("attendee-edit", "ClusterRole", "edit")}---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: attendee-lab
  namespace: ${f.namespace}
rules:
  - apiGroups: [${groups.join(", ")}]
    resources: ["*"]
    verbs: [get, list, watch, create, update, patch, delete]
---
${binding("attendee-lab", "Role", "attendee-lab")}`;
}

export function envLines(f) {
  return `ATTENDEE=${f.attendee ?? ""}\nNAMESPACE=${f.namespace}\nNODE_PORT=${f.nodePort}\nHOST_PORT=${f.hostPort}\nEDGE_URL=${f.edgeUrl}\n`;
}

function main(argv) {
  const [cmd, ...rest] = argv;
  const opt = (name, dflt) => {
    const i = rest.indexOf(name);
    return i >= 0 ? rest[i + 1] : dflt;
  };
  const spec = opt("--attendees", process.env.ATTENDEES || "");
  if (cmd === "render") {
    const out = path.resolve(opt("--out", "class"));
    const listen = opt("--listen", process.env.CLASS_LISTEN || "127.0.0.1");
    if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(listen)) throw new Error(`--listen ${listen} is not an IPv4 address`);
    // --root: another checkout's material (class.test.sh renders a broken copy).
    const all = render(out, spec ? parseAttendees(spec) : null, path.resolve(opt("--root", ROOT)), listen);
    for (const f of all)
      console.log(`${f.attendee ? `attendee ${f.attendee}` : "default"}: namespace ${f.namespace}, node port ${f.nodePort}, edge ${f.edgeUrl}`);
    console.log(`written to ${out}`);
  } else if (cmd === "facts") {
    process.stdout.write(envLines(facts(rest[0] ? parseAttendees(rest[0])[0] : null)));
  } else if (cmd === "list") {
    console.log(parseAttendees(rest[0] ?? spec).join("\n"));
  } else {
    console.error("usage: class.mjs render [--attendees LIST] [--out DIR] | facts [N] | list LIST");
    return 2;
  }
  return 0;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  try {
    process.exitCode = main(process.argv.slice(2));
  } catch (e) {
    console.error(`class: ${e.message}`);
    process.exitCode = 2;
  }
}
