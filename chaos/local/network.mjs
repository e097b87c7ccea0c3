// The network experiments of `make chaos` (chaos/README.md, "Network faults"): faults a mesh, a
// fail-over or a flaky link produce, injected by the faultproxies (tools/faultproxy) that the
// chaos stack runs in front of every dependency (MS_FAULTPROXY=1). Each holds the steady load,
// checks the steady state, injects the fault through the proxies' admin API, measures, clears
// it, checks again, and the invariants follow. chaos.mjs hands in what they share with the other
// experiments (the load, the verdicts, the steady state, the invariants).
import { sleep } from './lib/load.mjs';
import { failed, ms, pct, select, statuses, summary } from './lib/stats.mjs';

// The SLOs of the network experiments, one place (issue 12's targets).
export const NET_SLO = {
  lossPercent: 1, // of the answers of every connection to the store, in n1 and n2
  throughputRatio: 0.8, // checkouts answered 201 per second while answers are lost, of the steady rate
  keyFinalMs: 10000, // every Idempotency-Key has its final answer within this of its first attempt
  errorRatio: 0.03, // of the other requests during the fault: only those that used a lost connection
  blackholeMs: 5000, // n3: PostgreSQL unreachable (accepted, never answered) this long
  answerMs: 2000, // n3: every request answered (a 503 is an answer) within this while it lasts
  backMs: 8000, // n3: orders succeed again within this of the blackhole lifting (breakers included)
  redisLatencyMs: 200, // n4: added to every Redis answer
  latencyErrorRatio: 0.01, // n4: the slow store fails nothing
  productP99Ms: 600, // n4: a cached product page costs one Redis round trip
  cartP99Ms: 1000, // n4: a cart, a few
  resetEveryMs: 200, // n5: every connection between order and inventory reset this often
  resetPercent: 20, // n5: and this share of the new ones reset on connect
  checkoutErrorRatio: 0.01, // n6: notification's partition is not on the checkout path
  notifyMs: 15000, // n6: every order notified within this of the partition healing
};

export function networkExperiments(api) {
  const { stack, MODE, verdict, section, newLoad, steady, finish, invariants, recovery, allReady, rebase } = api;

  const need = (list, what) => {
    if (!list.length) throw new Error(`no faultproxy in front of ${what}: run the stack with MS_FAULTPROXY=1 (chaos/README.md)`);
    return list;
  };

  // Injects settings on the proxies in list for windowMs (during(until) runs meanwhile, if given),
  // and clears them whatever happens. Resolves to the window {from, to}.
  async function withFault(list, settings, windowMs, during) {
    const from = Date.now();
    try {
      await stack.proxyFaults(list, settings);
      if (during) await during(from + windowMs);
      else await sleep(windowMs);
    } finally {
      await stack.proxyFaults(list, null).catch(() => {});
    }
    return { from, to: Date.now() };
  }

  // Checkouts answered 201 per second among those started in [from, to).
  const rate201 = (load, from, to) =>
    select(load.records, { from, to, streams: ['checkout'] }).filter((r) => r.status === 201).length / ((to - from) / 1000);

  // The keys whose first attempt started in [from, to): how many, how many had their final answer
  // within NET_SLO.keyFinalMs of their first attempt (or of since, if later), how many none at
  // all, the slowest.
  function keyFigures(co, from, to, since = 0) {
    const keys = [...co.keys.values()].filter((k) => k.first >= from && k.first < to);
    const took = keys.filter((k) => k.finalAt).map((k) => k.finalAt - Math.max(k.first, since));
    return {
      n: keys.length,
      inTime: took.filter((t) => t <= NET_SLO.keyFinalMs).length,
      open: keys.filter((k) => !k.finalAt).length,
      slowest: took.length ? Math.max(...took) : NaN,
      retried: keys.filter((k) => k.attempts > 1).length,
    };
  }

  // since: where a fault stops every order while it lasts (n3), the keys' time counts from its end.
  function keyVerdict(id, co, from, to, since = 0) {
    const k = keyFigures(co, from, to, since);
    verdict(`${id} keys final`, k.n > 0 && k.inTime === k.n,
      `${k.inTime} of ${k.n} keys started during the fault had their final answer within ${ms(NET_SLO.keyFinalMs)} ` +
      `${since ? 'of its end ' : ''}(${k.retried} retried, ${k.open} never answered, slowest ${ms(k.slowest)})`);
  }

  // The steady state before: a new baseline for the invariants, the load started, one steady
  // window judged. Resolves to the window.
  async function before(id, l) {
    await rebase();
    l.load.start();
    const from = Date.now();
    await sleep(MODE.steadyMs);
    await steady(`${id} before`, l.load, from, Date.now());
    return { from, to: Date.now() };
  }

  async function after(id, l) {
    const t = Date.now();
    await sleep(MODE.steadyMs);
    await steady(`${id} after`, l.load, t, Date.now());
    await finish(l);
  }

  // ---- n1, n2: a share of the answers of every connection to a store lost ----

  async function lostAnswers(id, dep, title) {
    const list = need(stack.faultProxies(dep), dep);
    section(`${id}. ${NET_SLO.lossPercent} % of the answers of every ${title} connection lost for ${MODE.netMs / 1000} s, under load`);
    const l = newLoad();
    const b = await before(id, l);
    const base = rate201(l.load, b.from, b.to);
    const lost0 = await stack.proxyFaultCount(list, 'lost_answer');
    const { from, to } = await withFault(list, { lose_answer_percent: NET_SLO.lossPercent }, MODE.netMs);
    const lost = (await stack.proxyFaultCount(list, 'lost_answer')) - lost0;
    const during = rate201(l.load, from, to);
    const others = summary(select(l.load.records, { from, to, keep: (r) => r.stream !== 'checkout' }));
    await after(id, l);
    verdict(`${id} answers lost`, lost > 0, `the proxies lost ${lost} answers (faultproxy_faults_total{kind="lost_answer"})`);
    verdict(`${id} throughput`, base > 0 && during >= NET_SLO.throughputRatio * base,
      `checkouts answered 201: ${during.toFixed(1)}/s during the fault, ${base.toFixed(1)}/s before ` +
      `(${pct(base ? during / base : 0)}; SLO >= ${pct(NET_SLO.throughputRatio)})`);
    keyVerdict(id, l.co, from, to);
    verdict(`${id} proportional`, others.ratio <= NET_SLO.errorRatio,
      `of the other requests ${others.failed} of ${others.n} failed (${pct(others.ratio)}; ${statuses(others.byStatus)}; ` +
      `SLO <= ${pct(NET_SLO.errorRatio)}: a lost answer fails the request that used the connection, not its neighbours)`);
    await invariants(`after ${id}`);
  }

  // ---- n3: PostgreSQL blackholed for 5 s ----

  async function expBlackhole() {
    const id = 'n3';
    const list = need(stack.faultProxies('pg'), 'PostgreSQL');
    section(`${id}. PostgreSQL blackholed for ${NET_SLO.blackholeMs / 1000} s (connections accepted, nothing answered)`);
    const l = newLoad();
    await before(id, l);
    const pids = await stack.pids();
    const { from, to } = await withFault(list, { blackhole: true }, NET_SLO.blackholeMs);
    const back = await recovery(l.load, 'checkout', to, to + NET_SLO.backMs + 5000);
    const notReady = await allReady(5000);
    const now = await stack.pids();
    const restarted = Object.keys(pids).filter((n) => pids[n] !== now[n]);
    const during = select(l.load.records, { from, to });
    const slow = during.filter((r) => r.status <= 0 || r.ms > NET_SLO.answerMs);
    // every service answers for itself: a 502 is the gateway's own "no live upstreams" standing
    // in for a service's honest 503 (gateway/upstreams.*.conf)
    const badGateway = during.filter((r) => r.status === 502).length;
    const fails = summary(during.filter(failed));
    await after(id, l);
    verdict(`${id} answers in time`, during.length > 0 && slow.length === 0 && badGateway === 0,
      `${during.length} requests during the blackhole, ${fails.n} refused (${statuses(fails.byStatus)}), the slowest ` +
      `answered in ${ms(summary(during).max)}, ${slow.length} ` +
      `not answered within ${ms(NET_SLO.answerMs)}${slow.length ? ` (${slowByStream(slow)})` : ''}, ${badGateway} 502 ` +
      `(SLO: none of either; a dependency that does not answer gets a fast 503)`);
    verdict(`${id} back`, back > 0 && back - to <= NET_SLO.backMs && notReady.length === 0,
      `${back ? `orders succeed again ${ms(back - to)} after it lifted` : 'orders did NOT recover'} (SLO <= ${ms(NET_SLO.backMs)}); ` +
      `${notReady.length ? `not ready: ${notReady.join(' ')}` : 'every instance ready'}`);
    verdict(`${id} no restart`, restarted.length === 0, restarted.length ? `restarted: ${restarted.join(' ')}` : 'same PIDs before and after');
    // No order can be placed while PostgreSQL is unreachable, and the breakers that opened stay
    // open for their cool-down after it (n3 back): a key from the blackhole's first second could
    // not be final within 10 s of its first attempt however well the shop behaves.
    keyVerdict(id, l.co, from, to, to);
    await invariants(`after ${id}`);
  }

  // "checkout:3 (max 2950 ms) gw-user:1 (max 2100 ms)": where the slow answers of rs were.
  function slowByStream(rs) {
    const by = {};
    for (const r of rs) (by[r.stream] ||= []).push(r);
    return Object.entries(by).sort()
      .map(([name, xs]) => `${name}:${xs.length} (${statuses(summary(xs).byStatus)}, max ${ms(summary(xs).max)})`).join(' ');
  }

  // ---- n4: 200 ms more on every Redis answer ----

  async function expRedisLatency() {
    const id = 'n4';
    const list = need(stack.faultProxies('redis'), 'Redis');
    section(`${id}. ${NET_SLO.redisLatencyMs} ms latency on every Redis answer for ${MODE.netMs / 1000} s`);
    const l = newLoad();
    await before(id, l);
    const { from, to } = await withFault(list, { down_latency_ms: NET_SLO.redisLatencyMs }, MODE.netMs);
    const all = summary(select(l.load.records, { from: from + 500, to }));
    const products = summary(select(l.load.records, { from: from + 500, to, streams: ['gw-product', 'direct-product'] }));
    const carts = summary(select(l.load.records, { from: from + 500, to, streams: ['gw-cart', 'direct-cart'] }));
    await after(id, l);
    verdict(`${id} nothing fails`, all.n > 0 && all.ratio <= NET_SLO.latencyErrorRatio,
      `${all.failed} of ${all.n} requests failed (${pct(all.ratio)}; ${statuses(all.byStatus)}; SLO <= ${pct(NET_SLO.latencyErrorRatio)})`);
    verdict(`${id} latency bounded`, products.p99 < NET_SLO.productP99Ms && carts.p99 < NET_SLO.cartP99Ms,
      `product pages p99 ${ms(products.p99)} (SLO < ${ms(NET_SLO.productP99Ms)}), carts p99 ${ms(carts.p99)} ` +
      `(SLO < ${ms(NET_SLO.cartP99Ms)})`);
    keyVerdict(id, l.co, from, to);
    await invariants(`after ${id}`);
  }

  // ---- n5: a reset storm between order and inventory ----

  async function expResetStorm() {
    const id = 'n5';
    const list = need(stack.faultProxies('inventory', 'order'), 'inventory for order');
    section(`${id}. reset storm between order and inventory for ${MODE.netMs / 1000} s: every connection reset every ` +
      `${NET_SLO.resetEveryMs} ms, ${NET_SLO.resetPercent} % of new ones reset on connect`);
    const l = newLoad();
    await before(id, l);
    let resets = 0;
    const { from, to } = await withFault(list, { reset_percent: NET_SLO.resetPercent }, MODE.netMs, async (until) => {
      while (Date.now() < until) {
        for (const p of list) resets += await stack.proxyReset(p);
        await sleep(NET_SLO.resetEveryMs);
      }
    });
    const co = summary(select(l.load.records, { from, to, streams: ['checkout'] }));
    await after(id, l);
    verdict(`${id} resets`, resets > 0, `${resets} open connections reset; checkouts meanwhile: ${statuses(co.byStatus)}`);
    keyVerdict(id, l.co, from, to);
    await invariants(`after ${id}`);
  }

  // ---- n6: notification cut off from Redis ----

  async function expPartition() {
    const id = 'n6';
    const list = need(stack.faultProxies('redis', 'notification'), "notification's Redis");
    section(`${id}. notification partitioned from Redis for ${MODE.netMs / 1000} s: orders go on, all notified once after`);
    const l = newLoad();
    await before(id, l);
    const { from, to } = await withFault(list, { blackhole: true }, MODE.netMs);
    const co = summary(select(l.load.records, { from, to, streams: ['checkout'] }));
    await after(id, l);
    const ids = [...l.co.keys.values()].filter((k) => k.first >= from && k.first < to).flatMap((k) => [...k.orders]);
    let got = 0;
    while (Date.now() - to < NET_SLO.notifyMs + 5000) {
      got = await notifiedCount(ids);
      if (got >= ids.length) break;
      await sleep(200);
    }
    const took = Date.now() - to;
    verdict(`${id} orders go on`, co.n > 0 && co.ratio <= NET_SLO.checkoutErrorRatio,
      `${co.failed} of ${co.n} checkout attempts failed during the partition (${statuses(co.byStatus)}; SLO <= ${pct(NET_SLO.checkoutErrorRatio)})`);
    verdict(`${id} notified after`, ids.length > 0 && got === ids.length && took <= NET_SLO.notifyMs,
      `${got} of ${ids.length} orders placed during the partition notified ${ms(took)} after it healed (SLO <= ${ms(NET_SLO.notifyMs)})`);
    await invariants(`after ${id}`);
  }

  async function notifiedCount(ids) {
    if (!ids.length) return 0;
    const [[c]] = await stack.psql('notification',
      `SELECT count(DISTINCT order_id) FROM notifications WHERE order_id = ANY('{${ids.join(',')}}'::text[])`);
    return Number(c);
  }

  return {
    n1: () => lostAnswers('n1', 'pg', 'PostgreSQL'),
    n2: () => lostAnswers('n2', 'redis', 'Redis'),
    n3: expBlackhole,
    n4: expRedisLatency,
    n5: expResetStorm,
    n6: expPartition,
  };
}
