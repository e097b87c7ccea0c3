// docker-compose.yml's generated parts (compose has no include that every engine here reads:
// podman-compose 1.0 knows neither `include` nor override files): the anchors that list every
// service (who the gateway and Prometheus wait for, the databases PostgreSQL creates) and one
// entry per service and canary.
import { comment } from "./k8s.mjs";

const STARTED = "# Not a readiness need: called per request, through timeouts and breakers.";

function dependsOn(s) {
  const stores = s.stores.includes("postgres") && s.stores.includes("redis");
  const lines = [];
  if (stores && !s.calls.length) return "    depends_on: *stores";
  if (stores) lines.push("      <<: *stores");
  else for (const st of s.stores) lines.push(`      ${st}:`, "        condition: service_healthy");
  if (s.calls.length) lines.push(`      ${STARTED}`);
  for (const c of s.calls) lines.push(`      ${c}:`, "        condition: service_started");
  return lines.length ? `    depends_on:\n${lines.join("\n")}` : "";
}

function entry(s, { byName, suite }, canary) {
  const name = canary ? `${s.name}-${s.canary.version}` : s.name;
  const env = [`      <<: *service-env`];
  if (canary) env.push(`      SERVICE_VERSION: ${s.canary.version}`);
  env.push(`      PORT: "${s.port}"`);
  if (s.database) env.push(`      DATABASE_URL: ${suite.compose.databaseUrl}${s.database}`);
  if (s.stores.includes("redis")) env.push(`      REDIS_URL: ${suite.compose.redisUrl}`);
  for (const c of s.calls) env.push(`      ${c.toUpperCase()}_URL: http://${c}:${byName.get(c).port}`);
  const hostPort = canary ? `\${${s.canary.portVar}:-${s.canary.composeHostPort}}` : `\${${s.portVar}:-${s.port}}`;
  const head = canary
    ? `The canary: the same image, SERVICE_VERSION=${s.canary.version}${s.canary.note ? ` (${s.canary.note})` : ""}; the gateway sends it ${s.canary.percent} %.`
    : `${s.name}: ${s.summary}`;
  return [
    comment(head, "  "),
    `  ${name}:`,
    "    <<: *service",
    `    image: \${MS_REGISTRY:-localhost/microshop}/${s.name}:\${MS_TAG:-latest}`,
    `    build: {context: ., target: ${s.name}}`,
    "    environment:",
    ...env,
    `    ports: ["127.0.0.1:${hostPort}:${s.port}"]`,
    dependsOn(s),
  ]
    .filter(Boolean)
    .join("\n");
}

// The entries under services:, one per service and canary, in start order.
export function composeServices(facts) {
  const out = [];
  for (const s of facts.services) {
    out.push(entry(s, facts, false));
    if (s.canary) out.push(entry(s, facts, true));
  }
  return `${out.join("\n\n")}\n`;
}

// The top-level anchors: every instance as the gateway (healthy) and Prometheus (started) wait
// for them, and the databases the PostgreSQL container creates on first start.
export function composeAnchors({ services }) {
  const names = services.flatMap((s) => (s.canary ? [s.name, `${s.name}-${s.canary.version}`] : [s.name]));
  const wait = (cond) => names.map((n) => `  ${n}: {condition: ${cond}}`).join("\n");
  const dbs = services.filter((s) => s.database).map((s) => s.database);
  return `# Every service and canary: the gateway waits for them healthy (nginx resolves its upstream
# names at start), Prometheus started.
x-services-healthy: &services-healthy
${wait("service_healthy")}
x-services-started: &services-started
${wait("service_started")}
# The databases of the services (docker/postgres/init-databases.sh creates them).
x-databases: &databases "${dbs.join(" ")}"
`;
}
