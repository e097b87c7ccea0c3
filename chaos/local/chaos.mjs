// The local chaos experiments (chaos/local/README in chaos/README.md): against the stack that
// chaos/local/run.sh described in stack.json, each experiment holds a steady load, checks the
// steady state, injects a fault, measures, restores, checks again, and prints one verdict line
// per hypothesis (PASS/FAIL, the figures and the SLO). The invariants of the shop are checked
// after every experiment. Exit status 1 when any verdict failed.
//
//   node chaos/local/chaos.mjs --stack FILE [--short] [--only 1,2,...,n1,...,combined] [--check]
import { parseArgs } from 'node:util';
import { Checkout, Load, closeAgents, sleep } from './lib/load.mjs';
import { json, request } from './lib/http.mjs';
import { failed, ms, pct, percentile, select, statuses, summary } from './lib/stats.mjs';
import { loadStack, metric } from './lib/stack.mjs';
import { baseline, check, converge } from './lib/invariants.mjs';
import { networkExperiments } from './network.mjs';

const { values: opt } = parseArgs({
  options: {
    stack: { type: 'string' },
    short: { type: 'boolean', default: false },
    only: { type: 'string', default: '' },
    check: { type: 'boolean', default: false },
  },
});

// Windows and rates: the full run (make chaos) and the short one (CI).
const MODE = opt.short
  ? { name: 'short', steadyMs: 1500, killWindowMs: 1500, latencyMs: 3000, breakerMs: 8000, redisDownMs: 5000,
      pgDownMs: 2000, notificationOrders: 200, combinedMs: 20000, killEveryMs: [1500, 3500], checkoutRate: 8, netMs: 5000 }
  : { name: 'full', steadyMs: 2000, killWindowMs: 2000, latencyMs: 5000, breakerMs: 12000, redisDownMs: 10000,
      pgDownMs: 3000, notificationOrders: 200, combinedMs: 60000, killEveryMs: [2000, 5000], checkoutRate: 12, netMs: 10000 };

// The service level objectives, one place.
const SLO = {
  readyMs: 2000, // a killed process serves again within this
  // of all requests while each instance is killed in turn, those without an honest answer (no
  // answer, 502, 504, 500, a slow 503): the ones in flight and arriving while it is down. When a
  // kill makes a caller's breaker open (order's to user, product or inventory: 5 failed
  // attempts, retries included), calls on that path are refused at once with 503 until it
  // closes (5 s): counted and printed, and bounded by pathBackMs
  killErrorRatio: 0.03,
  pathBackMs: 8000, // after a kill, every request on its path succeeds again: ready + breaker open + 1 s
  steadyErrorRatio: 0.01, // before and after every experiment
  gatewayTimeoutMs: [450, 550], // the gateway's 504 for a product 2 s late (0.5 s +- 50 ms)
  degradedCartP99Ms: 1000, // a cart answers (degraded) while product is slow
  breakerFailFastP99Ms: 100, // orders refused while the inventory breaker is open
  breakerRecoveryExtraMs: 3000, // orders succeed within open_ms plus this after the fault clears
  cartRedisDownP99Ms: 250, // carts answer 503 this fast while Redis is down
  redisBackMs: 2000, // everything serves again within this of Redis returning
  pgBackMs: 5000, // every service ready again within this of PostgreSQL returning
  notifyMs: 15000, // all notifications delivered within this of notification's restart
};

const stack = loadStack(opt.stack);
const gw = stack.gateway;
const runId = `chaos-${Date.now().toString(36)}`;
const verdicts = [];
const started = Date.now();
let ctx; // users, cart users, scope, keys: set up once

// Verdicts that fail today because a defect is not fixed yet (chaos/README.md, "Known
// failures"): printed FAIL with the reason, counted apart, and left out of the exit status. One
// that passes says so (some fail only when a lost answer falls on the wrong call); take it off
// once its fix has landed and it passes run after run.
const KNOWN = [];
const knownReason = (id) => KNOWN.find(([re]) => re.test(id))?.[1];
// The summary names them "known failures (issue 12)", the issue the network experiments came with.

function verdict(id, pass, text) {
  const known = knownReason(id);
  verdicts.push({ id, pass, known: !pass && !!known });
  console.log(`${pass ? 'PASS' : 'FAIL'}  ${id.padEnd(22)} ${text}` +
    (known ? (pass ? ` [listed as a known failure, passed this run: ${known}]` : ` [known failure: ${known}]`) : ''));
}

function section(title) {
  console.log(`\n---- ${title} [${((Date.now() - started) / 1000).toFixed(0)} s] ----`);
}

const rand = (n) => Math.floor(Math.random() * n);
const pick = (xs) => xs[rand(xs.length)];

// ---- set-up: users, carts with items, stock, the baseline ----

const SCARCE = 27; // a product with little stock, so that orders compete for it
const SCARCE_STOCK = 25;

async function must(what, res, want) {
  if (!want.includes(res.status)) throw new Error(`${what}: HTTP ${res.status} ${res.error || res.body.slice(0, 200)}`);
  return json(res.body);
}

async function setUp() {
  const user = stack.instance('user');
  const cart = stack.instance('cart');
  const inventory = stack.instance('inventory');
  const users = [];
  for (let i = 0; i < 40; i++) {
    const doc = await must('POST /users', await request(`${user.url}/users`, {
      method: 'POST',
      body: { email: `${runId}-${i}@example.com`, name: `Chaos ${i}` },
    }), [201]);
    users.push(doc.id);
  }
  const cartUsers = users.slice(0, 8);
  for (const u of cartUsers)
    for (const p of [1, 2, 3])
      await must('POST /cart', await request(`${cart.url}/cart/${u}`, { method: 'POST', body: { product_id: p, quantity: 1 } }), [200]);
  for (let p = 1; p <= 27; p++)
    await must('PUT /inventory', await request(`${inventory.url}/inventory/${p}`, {
      method: 'PUT',
      body: { available: p === SCARCE ? SCARCE_STOCK : 100000 },
    }), [200]);
  const scope = await baseline(stack);
  return { users, cartUsers, scope, keys: [] };
}

function items() {
  const lines = new Map();
  for (let i = 0, n = 1 + rand(2); i < n; i++) lines.set(1 + rand(26), 1 + rand(3));
  if (Math.random() < 0.15) lines.set(SCARCE, 1);
  return [...lines].sort((a, b) => a[0] - b[0]).map(([product_id, quantity]) => ({ product_id, quantity }));
}

// ---- the load ----

const DIRECT_PATHS = {
  product: () => `/products/${1 + rand(27)}`,
  cart: () => `/cart/${pick(ctx.cartUsers)}`,
  order: () => `/orders?user_id=${pick(ctx.users)}`,
  user: () => `/users/${pick(ctx.users)}`,
  inventory: () => `/inventory/${1 + rand(27)}`,
  notification: () => `/notifications?user_id=${pick(ctx.users)}`,
};

const degradedTag = (res) => (json(res.body)?.degraded === true ? 'degraded' : undefined);

// A Load with the chosen parts: browse and cart through the gateway, reads on every instance
// directly, checkouts through the gateway.
function newLoad({ browse = true, direct = true, checkout = MODE.checkoutRate, cart = 10 } = {}) {
  const load = new Load();
  const product = ['gateway', 'product', 'product-v2'];
  if (browse) {
    load.add({ name: 'gw-product', rate: 30, touches: product, make: () => ({ url: `${gw}/products/${1 + rand(27)}` }) });
    load.add({ name: 'gw-list', rate: 5, touches: product, make: () => ({ url: `${gw}/products?limit=20&offset=${20 * rand(2)}` }) });
  }
  if (cart)
    load.add({ name: 'gw-cart', rate: cart, touches: ['gateway', 'cart'], tag: degradedTag,
      make: () => ({ url: `${gw}/cart/${pick(ctx.cartUsers)}` }) });
  if (direct)
    for (const inst of stack.instances.filter((i) => i.name !== 'gateway')) {
      const path = DIRECT_PATHS[inst.service] || (() => '/health');
      load.add({ name: `direct-${inst.name}`, rate: 5, touches: [inst.name], tag: inst.service === 'cart' ? degradedTag : undefined,
        make: () => ({ url: inst.url + path() }) });
    }
  let co = null;
  if (checkout) {
    co = new Checkout(load, {
      url: `${gw}/orders`, rate: checkout, prefix: runId, users: ctx.users, pick: items,
      touches: ['gateway', 'order', 'user', 'product', 'product-v2', 'inventory'],
    });
  }
  return { load, co };
}

// Stops the load; settles its checkouts (every key gets a definite answer) and keeps the keys.
async function finish({ load, co }) {
  await load.stop();
  if (co) {
    await co.settle(30000);
    ctx.keys.push(...co.keys.values());
  }
  closeAgents();
}

// The steady state: all instances ready, and every stream nearly error-free in [from, to). On a
// shared machine a stall of a few seconds happens: a window that fails is followed by up to two
// more (of MODE.steadyMs each), and the state holds if one of them passes; all are printed.
async function steady(id, load, from, to) {
  const tries = [];
  let pass = false;
  for (let attempt = 0; attempt < 3 && !pass; attempt++) {
    if (attempt) {
      from = Date.now();
      await sleep(MODE.steadyMs);
      to = Date.now();
    }
    const notReady = await allReady(5000);
    const s = summary(select(load.records, { from, to }));
    pass = notReady.length === 0 && s.n > 0 && s.ratio <= SLO.steadyErrorRatio;
    tries.push(`${s.n} requests, ${s.failed} failed (${pct(s.ratio)}), p99 ${ms(s.p99)}` +
      (notReady.length ? `, not ready: ${notReady.join(' ')}` : ''));
  }
  verdict(id, pass, `steady state (bound ${pct(SLO.steadyErrorRatio)} failed, every instance ready): ${tries.join('; then ')}`);
}

async function allReady(timeoutMs = 15000) {
  const results = await Promise.all(stack.instances.map((i) => stack.waitReady(i, { timeoutMs, everyMs: 50 })));
  return stack.instances.filter((_, i) => !results[i].ok).map((i) => i.name);
}

async function invariants(after) {
  // held reservations of dead orders wait for inventory's reaper (RESERVATION_TTL_S)
  const c = await converge(stack, ctx.scope, Math.min(Number(stack.env.RESERVATION_TTL_S || 900) * 1000 + 10000, 40000));
  const r = await check(stack, ctx.scope, {
    keys: ctx.keys, keyPrefix: runId, ttlS: stack.env.RESERVATION_TTL_S, claimTtlS: stack.env.IDEMPOTENCY_CLAIM_TTL_S, scarce: SCARCE,
  });
  verdict(`invariants ${after}`, r.pass,
    `${c.settled ? `settled in ${ms(c.ms)}` : `still busy after ${ms(c.ms)}: ${JSON.stringify(c.state)}`}; ` +
    (r.pass ? 'all hold' : `violated: ${r.bad.join(', ')}`));
  for (const line of r.lines) console.log(`      ${line}`);
}

// ---- 1. kill -9 one process of each instance in turn; the supervisor restarts it ----

async function expKill() {
  section('1. kill -9 each process in turn, under load; runit restarts it');
  const l = newLoad();
  l.load.start();
  await sleep(MODE.steadyMs);
  await steady('1 before', l.load, started, Date.now());
  const first = Date.now();
  for (const inst of stack.instances) {
    const pid = await stack.pid(inst);
    if (!pid) {
      verdict(`1 kill ${inst.name}`, false, 'not running before the kill');
      continue;
    }
    const t = Date.now();
    process.kill(pid, 'SIGKILL');
    const r = await stack.waitReady(inst, { notPid: pid, timeoutMs: 5000, since: t });
    if (!r.ok) {
      await stack.start(inst).catch(() => {});
      await stack.waitReady(inst, { notPid: pid, timeoutMs: 10000 });
    }
    // the next kill waits until every request on this one's path succeeds again
    const streams = l.load.touching(inst.name);
    const back = await recovery(l.load, streams, t + r.ms, t + SLO.pathBackMs + 2000);
    await sleep(Math.max(0, t + MODE.killWindowMs - Date.now()) + 300);
    const to = Math.max(t + MODE.killWindowMs, back);
    const path = summary(select(l.load.records, { from: t, to, streams }));
    verdict(`1 kill ${inst.name}`, r.ok && r.ms < SLO.readyMs && back > 0 && back - t <= SLO.pathBackMs,
      `${r.ok ? `ready again in ${ms(r.ms)}` : `NOT ready within ${ms(r.ms)}`} (SLO < ${ms(SLO.readyMs)}, pid ${pid} -> ${r.pid}); ` +
      `every request on its path succeeds again ${back ? `${ms(back - t)} after the kill` : 'NEVER'} ` +
      `(SLO <= ${ms(SLO.pathBackMs)}); until then ${path.failed} of ${path.n} failed (${statuses(path.byStatus)})`);
  }
  const t = Date.now();
  const rs = select(l.load.records, { from: first, to: t });
  const whole = summary(rs);
  const refused = rs.filter(fastRefusal).length;
  const hard = (whole.failed - refused) / Math.max(1, whole.n);
  verdict('1 error ratio', hard <= SLO.killErrorRatio,
    `from the first kill to the end ${whole.failed} of ${whole.n} requests failed (${pct(whole.ratio)}; ` +
    `${statuses(whole.byStatus)}): ${refused} refused at once with 503 (a caller's breaker open), ` +
    `${whole.failed - refused} not answered or not honestly (${pct(hard)}, bound ${pct(SLO.killErrorRatio)})`);
  await sleep(MODE.steadyMs);
  await steady('1 after', l.load, t, Date.now());
  await finish(l);
  await invariants('after 1');
}

// ---- 2. product 2 s late: the gateway times out at 0.5 s, the cart degrades ----

async function expLatency() {
  section('2. product (v1 and v2) 2 s late: gateway 504 at 0.5 s, carts degraded');
  const products = ['product', 'product-v2'].filter((n) => stack.byName.has(n)).map((n) => stack.instance(n));
  const cart = stack.instance('cart');
  const l = newLoad({ checkout: 0, direct: false, cart: 15 });
  l.load.add({ name: 'direct-cart', rate: 5, touches: ['cart'], tag: degradedTag, make: () => ({ url: `${cart.url}/cart/${pick(ctx.cartUsers)}` }) });
  l.load.start();
  await sleep(MODE.steadyMs);
  await steady('2 before', l.load, started, Date.now());
  const cartStreams = ['gw-cart', 'direct-cart'];
  const before = select(l.load.records, { streams: cartStreams });
  const from = Date.now() + 700; // delays are rolled per request: older ones are still fast
  try {
    for (const p of products) await stack.faults(p, { delay_ms: 2000, delay_percent: 100 });
    await sleep(from - Date.now() + MODE.latencyMs);
  } finally {
    for (const p of products) await stack.faults(p, null).catch(() => {});
  }
  const to = Date.now();
  const gwp = select(l.load.records, { from, to, streams: ['gw-product'] });
  const timeouts = gwp.filter((r) => r.status === 504).map((r) => r.ms);
  const med = percentile(timeouts, 50);
  const [lo, hi] = SLO.gatewayTimeoutMs;
  const p5 = percentile(timeouts, 5);
  const p95 = percentile(timeouts, 95);
  verdict('2 gateway 504', gwp.length > 0 && timeouts.length >= 0.99 * gwp.length && med >= lo && med <= hi && p5 >= lo && p95 <= hi,
    `${timeouts.length} of ${gwp.length} product requests answered 504 (${statuses(summary(gwp).byStatus)}) after ` +
    `${ms(p5)} / ${ms(med)} / ${ms(p95)} (p5 / median / p95; SLO ${lo}..${hi} ms)`);
  const carts = select(l.load.records, { from, to, streams: cartStreams });
  const degraded = carts.filter((r) => r.status === 200 && r.tag === 'degraded').length;
  const cs = summary(carts);
  const wasDegraded = before.filter((r) => r.tag === 'degraded').length;
  verdict('2 cart degrades', carts.length > 0 && degraded >= 0.99 * carts.length && cs.failed === 0 && cs.p99 < SLO.degradedCartP99Ms && wasDegraded === 0,
    `${degraded} of ${carts.length} carts answered 200 "degraded":true (${statuses(cs.byStatus)}), p99 ${ms(cs.p99)} ` +
    `(SLO < ${ms(SLO.degradedCartP99Ms)}); before the fault ${wasDegraded} of ${before.length} degraded`);
  // back: products 200 and carts whole again once cart's breaker to product closes (open_ms)
  const t = Date.now();
  let back = false;
  while (!back && Date.now() - t < 15000) {
    const [p, c] = await Promise.all([request(`${gw}/products/1`), request(`${cart.url}/cart/${ctx.cartUsers[0]}`)]);
    back = p.status === 200 && c.status === 200 && json(c.body)?.degraded === false;
    if (!back) await sleep(50);
  }
  const backMs = Date.now() - t;
  verdict('2 recovery', back, `${back ? `products 200 and carts whole again ${ms(backMs)}` : 'NOT back 15 s'} after the fault was cleared ` +
    `(cart's breaker to product stays open up to CART_PRODUCT_BREAKER_OPEN_MS, 5 s)`);
  const t2 = Date.now();
  await sleep(MODE.steadyMs);
  await steady('2 after', l.load, t2, Date.now());
  await finish(l);
  await invariants('after 2');
}

// ---- 3. inventory failing half its calls: the order service's breaker opens ----

async function breakerState(order) {
  const text = await stack.metrics(order);
  const attempts = (outcome) => metric(text, 'upstream_requests_total', { upstream: 'inventory', outcome });
  return {
    state: metric(text, 'circuit_breaker_state', { upstream: 'inventory' }),
    opened: metric(text, 'circuit_breaker_transitions_total', { upstream: 'inventory', to: 'open' }),
    success: attempts('success'),
    error: attempts('error'),
    rejected: attempts('rejected'),
  };
}

async function expBreaker() {
  section('3. inventory aborts 50 % of its calls: order\'s breaker opens, orders fail fast, then recover');
  const inventory = stack.instance('inventory');
  const order = stack.instance('order');
  const openMs = Number(stack.env.INVENTORY_BREAKER_OPEN_MS || 5000);
  const l = newLoad({ checkout: 20, direct: false, cart: 0 });
  l.load.start();
  await sleep(MODE.steadyMs);
  await steady('3 before', l.load, started, Date.now());
  const b0 = await breakerState(order);
  const t0 = Date.now();
  let firstOpen = 0;
  let openPolls = 0;
  let polls = 0;
  try {
    await stack.faults(inventory, { abort_status: 503, abort_percent: 50 });
    while (Date.now() - t0 < MODE.breakerMs) {
      const b = await breakerState(order);
      polls++;
      if (b.state === 1) {
        openPolls++;
        if (!firstOpen) firstOpen = Date.now();
      }
      await sleep(100);
    }
  } finally {
    await stack.faults(inventory, null).catch(() => {});
  }
  const cleared = Date.now();
  const b1 = await breakerState(order);
  const opened = b1.opened - b0.opened;
  const during = select(l.load.records, { from: firstOpen || cleared, to: cleared, streams: ['checkout'] });
  const refused = during.filter((r) => r.status === 503);
  const rs = summary(refused);
  const others = summary(during.filter((r) => failed(r) && r.status !== 503));
  verdict('3 breaker opens', opened >= 1 && firstOpen > 0,
    `circuit_breaker_state{upstream="inventory"} open ${firstOpen ? `${ms(firstOpen - t0)} after the fault` : 'NEVER'}, ` +
    `in ${openPolls} of ${polls} polls; ${opened} transitions to open; calls to inventory meanwhile: ` +
    `${b1.success - b0.success} succeeded, ${b1.error - b0.error} failed, ${b1.rejected - b0.rejected} refused by the breaker`);
  verdict('3 orders fail fast', refused.length > 0 && rs.p99 < SLO.breakerFailFastP99Ms && others.n === 0,
    `${refused.length} of ${during.length} orders answered 503 once it had opened, p50 ${ms(rs.p50)} p99 ${ms(rs.p99)} ` +
    `(SLO p99 < ${ms(SLO.breakerFailFastP99Ms)}); other failures: ${others.n ? statuses(others.byStatus) : 'none'}`);
  const recovered = await recovery(l.load, 'checkout', cleared, cleared + openMs + SLO.breakerRecoveryExtraMs + 2000);
  const recoveryMs = recovered - cleared;
  verdict('3 recovery', recovered > 0 && recoveryMs <= openMs + SLO.breakerRecoveryExtraMs,
    `${recovered ? `orders succeed again ${ms(recoveryMs)} after the fault cleared` : 'orders did NOT recover'} ` +
    `(SLO <= INVENTORY_BREAKER_OPEN_MS ${openMs} + ${SLO.breakerRecoveryExtraMs} ms)`);
  const t2 = Date.now();
  await sleep(MODE.steadyMs);
  await steady('3 after', l.load, t2, Date.now());
  await finish(l);
  await invariants('after 3');
}

// A dependency failure answered the way the suite promises: 503 at once.
function fastRefusal(r) {
  return r.status === 503 && r.ms < SLO.breakerFailFastP99Ms;
}

// The start of the first second after since in which no request of stream (a name or a list)
// failed (at least four answers), waiting for it until deadline (epoch ms); 0 if none came.
async function recovery(load, stream, since, deadline) {
  const streams = Array.isArray(stream) ? stream : [stream];
  for (;;) {
    for (let t = since; t + 1000 <= Date.now(); t += 100) {
      const w = select(load.records, { from: t, to: t + 1000, streams });
      if (w.length >= 4 && !w.some(failed)) return t;
    }
    if (Date.now() >= deadline) return 0;
    await sleep(250);
  }
}

// Stops a store, keeps it down for downMs and starts it again (also when stopping failed).
// Resolves to {from, to, back}: when it was down, when the start began (the end of the outage
// window) and when the start was done.
async function outage(stop, start, downMs) {
  let from;
  let to;
  try {
    await stop();
    from = Date.now();
    await sleep(downMs);
  } finally {
    to = Date.now();
    await start();
  }
  return { from, to, back: Date.now() };
}

// ---- 4. Redis stopped ----

async function expRedis() {
  section(`4. Redis stopped for ${MODE.redisDownMs / 1000} s: products from PostgreSQL, carts 503 fast, all back within 2 s`);
  const product = stack.instance('product');
  const cart = stack.instance('cart');
  const l = newLoad({ direct: true, cart: 10 });
  l.load.start();
  await sleep(MODE.steadyMs);
  await steady('4 before', l.load, started, Date.now());
  const pids = await stack.pids();
  const cacheErrors0 = metric(await stack.metrics(product), 'cache_requests_total', { result: 'error' });
  const { from, to, back } = await outage(() => stack.redisStop(), () => stack.redisStart(), MODE.redisDownMs);
  const productStreams = ['gw-product', 'gw-list', 'direct-product', 'direct-product-v2'];
  const ps = summary(select(l.load.records, { from: from + 200, to, streams: productStreams }));
  const cacheErrors = metric(await stack.metrics(product), 'cache_requests_total', { result: 'error' }) - cacheErrors0;
  verdict('4 products served', ps.n > 0 && ps.ratio <= SLO.steadyErrorRatio && cacheErrors > 0,
    `${ps.n - ps.failed} of ${ps.n} product requests answered while Redis was down (${statuses(ps.byStatus)}), ` +
    `p99 ${ms(ps.p99)}; ${cacheErrors} cache errors counted (served from PostgreSQL)`);
  const carts = select(l.load.records, { from: from + 200, to, streams: ['gw-cart', 'direct-cart'] });
  const c503 = carts.filter((r) => r.status === 503);
  const cs = summary(carts);
  verdict('4 carts 503 fast', carts.length > 0 && c503.length >= 0.99 * carts.length && cs.p99 < SLO.cartRedisDownP99Ms,
    `${c503.length} of ${carts.length} cart requests answered 503 (${statuses(cs.byStatus)}), p99 ${ms(cs.p99)} ` +
    `(SLO < ${ms(SLO.cartRedisDownP99Ms)})`);
  // back: the first cart answered 200, then the window from back + 2 s on must be clean
  const cartBack = await stack.waitReady({ ...cart, ready: `/cart/${ctx.cartUsers[0]}` }, { timeoutMs: 10000, since: back });
  await sleep(Math.max(0, back + SLO.redisBackMs + 1500 - Date.now()));
  const after = summary(select(l.load.records, { from: back + SLO.redisBackMs, to: back + SLO.redisBackMs + 1500 }));
  verdict('4 back within 2 s', cartBack.ok && cartBack.ms <= SLO.redisBackMs && after.ratio === 0,
    `carts served again ${ms(cartBack.ms)} after Redis returned (SLO <= ${ms(SLO.redisBackMs)}); from then on ` +
    `${after.failed} of ${after.n} requests failed`);
  const now = await stack.pids();
  const restarted = Object.keys(pids).filter((n) => pids[n] !== now[n]);
  verdict('4 no crash', restarted.length === 0, restarted.length ? `restarted: ${restarted.join(' ')}` : 'no process restarted (same PIDs)');
  const t2 = Date.now();
  await sleep(MODE.steadyMs);
  await steady('4 after', l.load, t2, Date.now());
  await finish(l);
  await invariants('after 4');
}

// ---- 5. PostgreSQL restarted ----

async function connections() {
  const server = await stack.dbClients();
  const pools = new Map();
  for (const inst of stack.withDatabase()) {
    const open = metric(await stack.metrics(inst), 'db_pool_connections', { state: 'open' });
    pools.set(inst.service, (pools.get(inst.service) || 0) + open);
    pools.set(`max:${inst.service}`, (pools.get(`max:${inst.service}`) || 0) + Number(stack.env.DB_POOL_SIZE || 4));
  }
  return { server, pools };
}

function leaks(c) {
  const out = [];
  for (const inst of stack.withDatabase()) {
    const s = inst.service;
    const server = c.server.get(s) || 0;
    if (server !== c.pools.get(s) || server > c.pools.get(`max:${s}`)) out.push(`${s}: server ${server}, pools ${c.pools.get(s)}`);
  }
  return [...new Set(out)];
}

function connText(c) {
  return [...new Set(stack.withDatabase().map((i) => i.service))]
    .map((s) => `${s} ${c.server.get(s) || 0}/${c.pools.get(s)}`)
    .join(', ');
}

async function expPostgres() {
  section('5. PostgreSQL restarted under load: unready, back without a restart, no connection leak');
  const l = newLoad({ direct: true, cart: 5 });
  l.load.start();
  await sleep(MODE.steadyMs);
  await steady('5 before', l.load, started, Date.now());
  const pids = await stack.pids();
  const before = await connections();
  const dbInstances = stack.withDatabase();
  const sawUnready = new Set();
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      await Promise.all(dbInstances.map(async (i) => {
        if ((await stack.ready(i)) === 503) sawUnready.add(i.name);
      }));
      await sleep(100);
    }
  })();
  const { from, to, back } = await outage(() => stack.pgStop(), () => stack.pgStart(), MODE.pgDownMs);
  const readies = await Promise.all(dbInstances.map((i) => stack.waitReady(i, { timeoutMs: 15000, everyMs: 50, since: back })));
  watching = false;
  await watcher;
  const slowest = Math.max(...readies.map((r) => r.ms));
  const allBack = readies.every((r) => r.ok);
  verdict('5 unready while down', dbInstances.every((i) => sawUnready.has(i.name)),
    `answered /ready 503 while PostgreSQL was down: ${[...sawUnready].sort().join(' ') || 'none'} ` +
    `(of ${dbInstances.map((i) => i.name).join(' ')})`);
  verdict('5 ready again', allBack && slowest <= SLO.pgBackMs,
    `all ready ${ms(slowest)} after PostgreSQL returned (SLO <= ${ms(SLO.pgBackMs)})`);
  const down = select(l.load.records, { from, to });
  const refusals = down.filter(failed);
  const rs = summary(refusals);
  verdict('5 honest 503s', refusals.every((r) => r.status === 503 || r.status === 502) && !(rs.p99 >= 1000),
    `while down ${refusals.length} of ${down.length} requests refused (${statuses(rs.byStatus)}), p99 ${ms(rs.p99)} (SLO: 503, < 1 s)`);
  const now = await stack.pids();
  const restarted = Object.keys(pids).filter((n) => pids[n] !== now[n]);
  verdict('5 no restart', restarted.length === 0, restarted.length ? `restarted: ${restarted.join(' ')}` : 'same PIDs before and after');
  // orders wait until order's breakers to user and product (which answered 503 meanwhile) close
  const openMs = Number(stack.env.USER_BREAKER_OPEN_MS || 5000);
  const ordersBack = await recovery(l.load, 'checkout', back, back + openMs + SLO.breakerRecoveryExtraMs + 2000);
  verdict('5 orders back', ordersBack > 0 && ordersBack - back <= openMs + SLO.breakerRecoveryExtraMs,
    `${ordersBack ? `orders succeed again ${ms(ordersBack - back)} after PostgreSQL returned` : 'orders did NOT recover'} ` +
    `(SLO <= order's breaker open time ${openMs} + ${SLO.breakerRecoveryExtraMs} ms: user and product answered 503 meanwhile)`);
  const t2 = Math.max(Date.now(), ordersBack + 1000);
  await sleep(t2 + MODE.steadyMs - Date.now());
  await steady('5 after', l.load, t2, Date.now());
  await finish(l);
  // connections: what the services hold open where they connect equals what the pools hold, within their size
  let after = await connections();
  for (let i = 0; i < 20 && leaks(after).length; i++) {
    await sleep(250);
    after = await connections();
  }
  const leaked = leaks(after);
  verdict('5 no connection leak', leaked.length === 0 && leaks(before).length === 0,
    `connections at ${stack.poolerPort ? 'PgBouncer' : 'PostgreSQL'} / pool gauges (open): before ${connText(before)}; after ${connText(after)}` +
    (leaked.length ? `; MISMATCH ${leaked.join('; ')}` : ''));
  await invariants('after 5');
}

// ---- 6. notification stopped during orders ----

async function expNotification() {
  const n = MODE.notificationOrders;
  section(`6. notification stopped during ${n} orders: all ${n} delivered after its restart, none twice`);
  const notification = stack.instance('notification');
  await stack.stop(notification);
  const load = new Load();
  const co = new Checkout(load, {
    name: 'orders-6', url: `${gw}/orders`, rate: 50, prefix: runId, users: ctx.users,
    pick: () => [{ product_id: 1 + rand(26), quantity: 1 }], touches: [], limit: n,
  });
  let orderIds = [];
  let early = 0;
  let t;
  try {
    load.start();
    while (co.keys.size < n) await sleep(20);
    co.stream.rate = 0;
    await load.stop();
    await co.settle(30000);
    ctx.keys.push(...co.keys.values());
    orderIds = [...co.keys.values()].flatMap((k) => [...k.orders]);
    early = await notified(orderIds);
  } finally {
    await stack.start(notification);
    t = Date.now();
  }
  const placed = orderIds.length;
  let got = 0;
  while (Date.now() - t < SLO.notifyMs + 5000) {
    got = await notified(orderIds);
    if (got >= placed) break;
    await sleep(100);
  }
  const deliveredMs = Date.now() - t;
  const [[rows, distinct]] = await stack.psql('notification',
    `SELECT count(*), count(DISTINCT order_id) FROM notifications WHERE order_id = ANY('{${orderIds.join(',')}}'::text[])`);
  const dup = metric(await stack.metrics(notification), 'notifications_total', { result: 'duplicate' });
  verdict('6 all delivered once', placed === n && early === 0 && got === placed && Number(rows) === placed && Number(distinct) === placed && deliveredMs <= SLO.notifyMs,
    `${placed} orders placed while it was stopped (${early} notified meanwhile); ${got} notified ${ms(deliveredMs)} after the ` +
    `restart (SLO <= ${ms(SLO.notifyMs)}); ${rows} rows for ${distinct} orders (none twice; ${dup} redeliveries dropped)`);
  closeAgents();
  await invariants('after 6');
}

async function notified(ids) {
  if (!ids.length) return 0;
  const [[c]] = await stack.psql('notification',
    `SELECT count(DISTINCT order_id) FROM notifications WHERE order_id = ANY('{${ids.join(',')}}'::text[])`);
  return Number(c);
}

// ---- combined: random kills under checkout load ----

async function expCombined() {
  section(`combined: ${MODE.combinedMs / 1000} s of checkouts while random processes are killed every few seconds`);
  const l = newLoad({ checkout: 20, cart: 5 });
  l.load.start();
  const kills = [];
  const end = Date.now() + MODE.combinedMs;
  const [lo, hi] = MODE.killEveryMs;
  await sleep(lo);
  while (Date.now() < end - 1000) {
    const inst = pick(stack.instances);
    const pid = await stack.pid(inst);
    if (pid) {
      process.kill(pid, 'SIGKILL');
      kills.push(inst.name);
    }
    await sleep(lo + rand(hi - lo));
  }
  await sleep(Math.max(0, end - Date.now()));
  const notReady = await allReady(10000);
  await finish(l);
  const s = summary(select(l.load.records, {}));
  const orders = ctx.keys.filter((k) => k.final === 201).length;
  verdict('combined', notReady.length === 0 && kills.length > 0,
    `${kills.length} kills (${kills.join(' ')}); ${s.n} requests, ${s.failed} failed (${pct(s.ratio)}); ` +
    `${notReady.length ? `NOT ready at the end: ${notReady.join(' ')}` : 'every instance ready at the end'}; ` +
    `${orders} orders so far`);
  await invariants('after combined');
}

// ---- main ----

const NETWORK = networkExperiments({
  stack, MODE, verdict, section, newLoad, steady, finish, invariants, recovery, allReady,
  // each network experiment's invariants judge what it did alone: a defect one of them shows stays
  // in the databases and would otherwise fail the invariants of every one after it
  rebase: async () => {
    ctx.scope = await baseline(stack);
    ctx.keys = [];
  },
});
// The network experiments come last: what one of them breaks stays in the databases and would fail
// the invariants of every experiment after it.
const EXPERIMENTS = { 1: expKill, 2: expLatency, 3: expBreaker, 4: expRedis, 5: expPostgres, 6: expNotification, combined: expCombined, ...NETWORK };
// --short (CI) runs them all, with shorter windows.
const SHORT = Object.keys(EXPERIMENTS);

async function main() {
  console.log(`chaos: ${MODE.name} run ${runId} against ${stack.target} stack (${stack.instances.length} instances, gateway ${gw})`);
  if (opt.check) {
    ctx = { users: [], cartUsers: [], keys: [], scope: { since: '-infinity', units: null } };
    const r = await check(stack, { since: '-infinity', units: await startUnits() },
      { ttlS: stack.env.RESERVATION_TTL_S, claimTtlS: stack.env.IDEMPOTENCY_CLAIM_TTL_S });
    verdict('invariants', r.pass, r.pass ? 'all hold' : `violated: ${r.bad.join(', ')}`);
    for (const line of r.lines) console.log(`      ${line}`);
    return;
  }
  const notReady = await allReady();
  if (notReady.length) throw new Error(`not ready before the experiments: ${notReady.join(' ')}`);
  ctx = await setUp();
  let only = opt.only ? opt.only.split(',') : opt.short ? SHORT : Object.keys(EXPERIMENTS);
  if (!opt.only && !(stack.proxies || []).length) {
    // the compose stack, or make up's without MS_FAULTPROXY=1: said, not hidden (--only n1 fails)
    console.log('chaos: no faultproxy in this stack (MS_FAULTPROXY=1): the network experiments n1..n6 are not run');
    only = only.filter((k) => !(k in NETWORK));
  }
  for (const name of only) {
    const exp = EXPERIMENTS[name];
    if (!exp) throw new Error(`no experiment ${name}; there are ${Object.keys(EXPERIMENTS).join(', ')}`);
    try {
      await exp();
    } catch (e) {
      verdict(`${name} aborted`, false, e.stack || String(e));
    }
    const down = await allReady();
    if (down.length) verdict(`${name} restore`, false, `not ready after the experiment: ${down.join(' ')}`);
  }
}

// For --check without a baseline of this run: the units sold, held and available now are the
// start (conservation cannot be judged without one), so only the other invariants count.
async function startUnits() {
  const rows = await stack.psql('inventory',
    `SELECT s.product_id, s.available + s.reserved + coalesce((SELECT sum(ri.quantity) FROM reservation_items ri
       JOIN reservations r ON r.id = ri.reservation_id WHERE r.status = 'committed' AND ri.product_id = s.product_id), 0)
     FROM stock s`);
  return new Map(rows.map(([p, u]) => [Number(p), Number(u)]));
}

main()
  .catch((e) => verdict('runner', false, e.stack || String(e)))
  .finally(() => {
    const failedVerdicts = verdicts.filter((v) => !v.pass && !v.known);
    const known = verdicts.filter((v) => v.known);
    console.log(`\nchaos: ${verdicts.length} verdicts, ${failedVerdicts.length} failed, in ${((Date.now() - started) / 1000).toFixed(0)} s` +
      (failedVerdicts.length ? `: ${failedVerdicts.map((v) => v.id).join(', ')}` : '') +
      (known.length ? `; ${known.length} known failures (issue 12): ${known.map((v) => v.id).join(', ')}` : ''));
    process.exit(failedVerdicts.length ? 1 : 0);
  });
