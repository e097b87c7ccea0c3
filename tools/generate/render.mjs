#!/usr/bin/env node
// The configurations `make up` starts nginx and Prometheus with, for the ports it uses now:
// what make generate writes for the default ports (gateway/upstreams.native.conf,
// monitoring/prometheus/prometheus.native.yml), written again with every port its variable
// moves (PRODUCT_PORT, PRODUCT_V2_PORT, ..., MS_GATEWAY_EXPORTER_PORT: service.json's portVar,
// suite.json's portVars), and gateway/nginx.conf listening on MS_BIND_ADDRESS:MS_GATEWAY_PORT
// with its metrics on 127.0.0.1:MS_GATEWAY_METRICS_PORT.
//   node tools/generate/render.mjs gateway DEST      DEST/nginx.conf, DEST/upstreams.conf and the
//                                                    edge's DEST/edge-{names,routes}.conf
//   node tools/generate/render.mjs prometheus DEST   DEST/prometheus.yml, its rules by absolute path
// A variable that holds no port, or a nginx.conf without exactly one listen line for each
// default port: an error naming it, exit 1, nothing written.
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { nginxNames, nginxRoutes } from "./edge.mjs";
import { HEADER, prometheus, upstreams } from "./generate.mjs";
import { loadSuite } from "./services.mjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");

// The port in variable name, or fallback when it is unset or empty (as scripts/lib.sh reads them).
function portFrom(name, fallback) {
  const v = process.env[name];
  if (v === undefined || v === "") return fallback;
  if (!/^[0-9]+$/.test(v) || Number(v) < 1 || Number(v) > 65535) throw new Error(`${name}='${v}' is not a port`);
  return Number(v);
}

// The facts with every port its variable overrides.
function factsNow() {
  const { services, suite } = loadSuite(ROOT);
  const now = { ...suite };
  for (const [key, name] of Object.entries(suite.portVars)) now[key] = portFrom(name, suite[key]);
  const moved = services.map((s) => ({
    ...s,
    port: portFrom(s.portVar, s.port),
    ...(s.canary && { canary: { ...s.canary, nativePort: portFrom(s.canary.portVar, s.canary.nativePort) } }),
  }));
  return { services: moved, suite: now, defaults: suite };
}

// nginx.conf with its one "listen <default port>;" line for each of the two servers moved.
function nginxConf({ suite, defaults }) {
  let text = readFileSync(path.join(ROOT, "gateway/nginx.conf"), "utf8");
  let bind = process.env.MS_BIND_ADDRESS || "127.0.0.1";
  if (bind.includes(":")) bind = `[${bind}]`;
  const moves = [
    [defaults.gatewayPort, `${bind}:${suite.gatewayPort}`],
    [defaults.gatewayMetricsPort, `127.0.0.1:${suite.gatewayMetricsPort}`],
  ];
  for (const [port, to] of moves) {
    const re = new RegExp(`^([ \\t]*listen[ \\t]+)${port};[ \\t]*$`, "gm");
    const n = (text.match(re) ?? []).length;
    if (n !== 1) throw new Error(`gateway/nginx.conf must have exactly one 'listen ${port};' line, it has ${n}`);
    text = text.replace(re, `$1${to};`);
  }
  return text;
}

function main([what, dest]) {
  if (!["gateway", "prometheus"].includes(what) || !dest) throw new Error("usage: render.mjs gateway|prometheus DEST_DIR");
  const facts = factsNow();
  const files =
    what === "gateway"
      ? {
          "nginx.conf": nginxConf(facts),
          "upstreams.conf": upstreams("native", facts),
          "edge-names.conf": nginxNames(facts, HEADER),
          "edge-routes.conf": nginxRoutes(facts, HEADER),
        }
      : { "prometheus.yml": prometheus("native", facts, path.join(ROOT, "monitoring/rules/alerts.yml")) };
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dest, name), text);
}

try {
  main(process.argv.slice(2));
} catch (e) {
  console.error(`error: ${e.message}`);
  process.exitCode = 1;
}
