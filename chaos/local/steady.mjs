// A steady load until SIGTERM, for the rolling restart (tests/system/rolling-restart.test.sh):
// through the gateway (every route, GETs and POSTs, kept-alive connections) and on every
// instance directly (kept-alive, and a new connection per request). Any answer that is not a
// 2xx is a failure here, as is no answer. On SIGTERM it stops, waits for the answers due, writes
// the figures as JSON to --out and exits.
//
//   node chaos/local/steady.mjs --gateway URL --direct name=URL,... --out FILE
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { json, request } from './lib/http.mjs';
import { Load, sleep } from './lib/load.mjs';
import { summary } from './lib/stats.mjs';

const { values: opt } = parseArgs({
  options: { gateway: { type: 'string' }, direct: { type: 'string', default: '' }, out: { type: 'string' } },
});
const gw = opt.gateway;
const direct = opt.direct ? opt.direct.split(',').map((x) => x.split('=')) : [];
const rand = (n) => Math.floor(Math.random() * n);

async function setUp() {
  const u = await request(`${gw}/users`, {
    method: 'POST',
    body: { email: `steady-${Date.now()}-${process.pid}@example.com`, name: 'Steady Load' },
  });
  const user = json(u.body)?.id;
  if (u.status !== 201 || !user) throw new Error(`POST /users: ${u.status} ${u.body}`);
  const c = await request(`${gw}/cart/${user}`, { method: 'POST', body: { product_id: 1, quantity: 1 } });
  if (c.status !== 200) throw new Error(`POST /cart: ${c.status} ${c.body}`);
  return user;
}

const PATHS = {
  product: () => `/products/${1 + rand(27)}`,
  cart: (u) => `/cart/${u}`,
  order: (u) => `/orders?user_id=${u}`,
  user: (u) => `/users/${u}`,
  inventory: () => `/inventory/${1 + rand(27)}`,
  notification: (u) => `/notifications?user_id=${u}`,
};

async function main() {
  const user = await setUp();
  const load = new Load({ timeoutMs: 10000 });
  let orders = 0;
  const get = (name, rate, url) => load.add({ name, rate, touches: [], make: () => ({ url: url() }) });
  get('gw-product', 40, () => `${gw}/products/${1 + rand(27)}`);
  get('gw-list', 5, () => `${gw}/products?limit=20`);
  get('gw-cart', 10, () => `${gw}/cart/${user}`);
  get('gw-user', 5, () => `${gw}/users/${user}`);
  get('gw-inventory', 5, () => `${gw}/inventory/${1 + rand(27)}`);
  get('gw-orders', 5, () => `${gw}/orders?user_id=${user}`);
  get('gw-notifications', 5, () => `${gw}/notifications?user_id=${user}`);
  load.add({
    name: 'gw-cart-add', rate: 5, touches: [],
    make: () => ({ url: `${gw}/cart/${user}`, method: 'POST', body: { product_id: 2 + rand(3), quantity: 1 } }),
  });
  load.add({
    name: 'gw-order', rate: 3, touches: [],
    make: () => ({
      url: `${gw}/orders`, method: 'POST', headers: { 'Idempotency-Key': `steady-${process.pid}-${++orders}` },
      body: { user_id: user, items: [{ product_id: 1 + rand(26), quantity: 1 }] },
    }),
  });
  for (const [name, url] of direct) {
    const service = name === 'product-v2' ? 'product' : name;
    const path = PATHS[service] || (() => '/health');
    load.add({ name: `direct-${name}`, rate: 15, touches: [], make: () => ({ url: url + path(user) }) });
    load.add({ name: `fresh-${name}`, rate: 10, touches: [], make: () => ({ url: url + path(user), fresh: true }) });
  }
  load.start();
  console.log('steady: load running');
  await new Promise((resolve) => process.once('SIGTERM', resolve));
  await load.stop(12000);
  const bad = load.records.filter((r) => !(r.status >= 200 && r.status < 300));
  const streams = {};
  for (const s of load.streams) streams[s.name] = summary(load.records.filter((r) => r.stream === s.name));
  const all = summary(load.records);
  writeFileSync(opt.out, JSON.stringify({
    requests: all.n,
    failed: bad.length,
    p99: all.p99,
    byStatus: all.byStatus,
    streams,
    failures: bad.slice(0, 20).map((r) => ({ t: new Date(r.t).toISOString(), stream: r.stream, status: r.status, tag: r.tag })),
  }, null, 1));
  await sleep(10);
  process.exit(0);
}

main().catch((e) => {
  console.error(e.stack || String(e));
  process.exit(1);
});
