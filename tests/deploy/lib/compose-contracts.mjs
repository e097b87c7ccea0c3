// node tests/deploy/lib/compose-contracts.mjs ROOT SERVICE...: the contracts of ROOT's
// docker-compose.yml and docker-compose.ci.yml (tests/deploy/compose.test.sh, static checks):
// every container has a healthcheck and `restart: unless-stopped`, every depends_on names a
// service and a condition, every service variable is documented, every bind mount exists, the
// CI override only swaps images. Prints the problems and exits 1 if any.
import { readFileSync, existsSync } from 'node:fs';
import { createRequire } from 'node:module';
const [root, ...services] = process.argv.slice(2);
const require = createRequire(`${root}/tests/deploy/package.json`);
const YAML = require('yaml');
const load = (f) => YAML.parse(readFileSync(`${root}/${f}`, 'utf8'), { merge: true, uniqueKeys: true });
const base = load('docker-compose.yml');
const ci = load('docker-compose.ci.yml');
const config = readFileSync(`${root}/docs/configuration.md`, 'utf8');
const errors = [];
const err = (m) => errors.push(m);
// Variables docs/configuration.md documents: every `NAME` in it, and <UPSTREAM>_URL.
const documented = new Set([...config.matchAll(/`([A-Z][A-Z0-9_]+)`/g)].map((m) => m[1]));
const names = Object.keys(base.services);
const want = [...services, 'product-v2', 'postgres', 'redis', 'gateway', 'prometheus', 'grafana'];
for (const n of want) if (!names.includes(n)) err(`docker-compose.yml has no service ${n}`);
for (const [name, svc] of Object.entries(base.services)) {
  if (svc.restart !== 'unless-stopped') err(`${name}: restart is not unless-stopped`);
  const test = svc.healthcheck?.test;
  if (!Array.isArray(test) || !['CMD', 'CMD-SHELL'].includes(test[0]) || test.length < 2)
    err(`${name}: no healthcheck test`);
  for (const [dep, cond] of Object.entries(svc.depends_on ?? {})) {
    if (!names.includes(dep)) err(`${name}: depends_on unknown service ${dep}`);
    if (!['service_healthy', 'service_started'].includes(cond?.condition))
      err(`${name}: depends_on ${dep} without a condition`);
  }
  for (const v of svc.volumes ?? []) {
    const src = String(v).split(':')[0];
    if (src.startsWith('.') && !existsSync(`${root}/${src}`)) err(`${name}: mounts missing ${src}`);
  }
  const own = name === 'product-v2' ? 'product' : name;
  if (!services.includes(own)) continue;
  if (svc.image !== `\${MS_REGISTRY:-localhost/microshop}/${own}:\${MS_TAG:-latest}`) err(`${name}: image ${svc.image}`);
  if (svc.build?.target !== own) err(`${name}: build target ${svc.build?.target}`);
  if (svc.healthcheck.test[1] !== '/usr/local/bin/healthcheck') err(`${name}: not the image's healthcheck`);
  const env = svc.environment ?? {};
  for (const k of Object.keys(env))
    if (!documented.has(k) && !/^[A-Z]+_URL$/.test(k)) err(`${name}: ${k} is not a documented variable (docs/configuration.md)`);
  for (const k of ['PORT', 'BIND_ADDRESS', 'SERVICE_VERSION', 'ADMIN_ENABLED', 'SHUTDOWN_DELAY_MS'])
    if (!(k in env)) err(`${name}: ${k} is not set`);
  for (const k of Object.keys(env).filter((x) => /^[A-Z]+_URL$/.test(x) && x !== 'REDIS_URL' && x !== 'DATABASE_URL'))
    if (!services.includes(k.slice(0, -4).toLowerCase())) err(`${name}: ${k} names no service`);
}
if (base.services['product-v2']?.environment?.SERVICE_VERSION !== 'v2') err('product-v2: SERVICE_VERSION is not v2');
const gw = base.services.gateway ?? {};
if (!(gw.ports ?? []).some((p) => String(p).endsWith(':8080'))) err('gateway: port 8080 is not published');
for (const s of services) if (!gw.depends_on?.[s]) err(`gateway: does not wait for ${s}`);
for (const [name, svc] of Object.entries(ci.services ?? {})) {
  if (!names.includes(name)) err(`docker-compose.ci.yml: ${name} is not in docker-compose.yml`);
  const extra = Object.keys(svc).filter((k) => !['image', 'build', 'command', 'environment'].includes(k));
  if (extra.length) err(`docker-compose.ci.yml: ${name} overrides ${extra.join(', ')}`);
  if (!String(svc.image).startsWith('localhost/microshop-ci/')) err(`docker-compose.ci.yml: ${name} image ${svc.image}`);
  if (!existsSync(`${root}/${svc.build}/Dockerfile`)) err(`docker-compose.ci.yml: ${name} has no ${svc.build}/Dockerfile`);
  if (svc.command && base.services[name]?.command) err(`docker-compose.ci.yml: ${name} command would be appended`);
}
if (errors.length) { console.error(errors.join('\n')); process.exit(1); }
