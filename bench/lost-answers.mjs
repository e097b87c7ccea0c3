// The lost-answers benchmark (bench/lost-answers.sh): checkout throughput through the faultproxies
// fault-free, then with a share of the answers of every PostgreSQL and Redis connection lost, and
// how many Idempotency-Keys reach a final answer within the retry budget. Closed loop: each
// client buys with a fresh key and retries a 503, a 5xx, a reset or a time-out with the same key
// (50-250 ms apart) until the answer is final (201 or a 4xx other than "still in progress") or
// the budget is spent; only then does it take the next key.
//
//   node bench/lost-answers.mjs --config FILE   (written by bench/lost-answers.sh)
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { closeAgents, json, request } from '../chaos/local/lib/http.mjs';
import { sleep } from '../chaos/local/lib/load.mjs';

const { values: opt } = parseArgs({ options: { config: { type: 'string' } } });
const cfg = JSON.parse(readFileSync(opt.config, 'utf8'));
// cfg: {order, user, inventory (URLs), proxies: [{name, admin, dep}], seconds, clients, lossPercent,
//       budgetMs, attemptMs, target: {ratio}}
const rand = (n) => Math.floor(Math.random() * n);
const prefix = `bench-lost-${Date.now().toString(36)}`;

async function must(what, res, codes) {
  if (!codes.includes(res.status)) throw new Error(`${what}: HTTP ${res.status} ${res.error || res.body.slice(0, 200)}`);
  return json(res.body);
}

async function setUp() {
  const users = [];
  for (let i = 0; i < cfg.clients; i++) {
    const doc = await must('POST /users', await request(`${cfg.user}/users`, {
      method: 'POST', body: { email: `${prefix}-${i}@example.com`, name: `Bench ${i}` },
    }), [201]);
    users.push(doc.id);
  }
  for (let p = 1; p <= 26; p++)
    await must('PUT /inventory', await request(`${cfg.inventory}/inventory/${p}`, {
      method: 'PUT', body: { available: 1000000 },
    }), [200]);
  return users;
}

// Sets the faults of every PostgreSQL and Redis proxy (null: all off).
async function storeFaults(settings) {
  for (const p of cfg.proxies.filter((x) => x.dep === 'pg' || x.dep === 'redis')) {
    const url = `http://127.0.0.1:${p.admin}/admin/faults`;
    const r = settings ? await request(url, { method: 'PUT', body: settings }) : await request(url, { method: 'DELETE' });
    if (r.status !== 200) throw new Error(`${p.name}: /admin/faults answered ${r.status} ${r.body}`);
  }
}

async function lostSoFar() {
  let sum = 0;
  for (const p of cfg.proxies) {
    const r = await request(`http://127.0.0.1:${p.admin}/metrics`, { timeoutMs: 3000 });
    const m = /^faultproxy_faults_total\{proxy="[^"]*",kind="lost_answer"\} (\S+)$/m.exec(r.body || '');
    if (m) sum += Number(m[1]);
  }
  return sum;
}

const isFinal = (res) => res.status === 201 || (res.status >= 400 && res.status < 500 && !/still in progress/.test(res.body));

// One key, retried until final or out of budget: {first, finalAt, status, attempts}.
async function buy(key, body) {
  const k = { first: Date.now(), finalAt: 0, status: 0, attempts: 0, body: '' };
  for (;;) {
    k.attempts++;
    const res = await request(`${cfg.order}/orders`, {
      method: 'POST', body, headers: { 'Idempotency-Key': key }, timeoutMs: cfg.attemptMs,
    });
    if (isFinal(res)) {
      k.status = res.status;
      k.finalAt = Date.now();
      if (res.status !== 201) k.body = res.body.slice(0, 160);
      return k;
    }
    k.status = res.status;
    const pause = 50 + rand(200);
    if (Date.now() + pause - k.first >= cfg.budgetMs) return k;
    await sleep(pause);
  }
}

async function phase(name, tag, users) {
  const keys = [];
  const from = Date.now();
  const until = from + cfg.seconds * 1000;
  let seq = 0;
  const client = async (c) => {
    while (Date.now() < until) {
      const key = `${prefix}-${tag}-${c}-${++seq}`;
      keys.push(await buy(key, { user_id: users[c % users.length], items: [{ product_id: 1 + rand(26), quantity: 1 }] }));
    }
  };
  await Promise.all(Array.from({ length: cfg.clients }, (_, c) => client(c)));
  closeAgents();
  const inWindow = keys.filter((k) => k.status === 201 && k.finalAt <= until);
  const lat = keys.filter((k) => k.finalAt).map((k) => k.finalAt - k.first).sort((a, b) => a - b);
  const why = new Map();
  for (const k of keys.filter((x) => x.finalAt && x.status !== 201)) {
    const code = json(k.body)?.error?.code || '';
    why.set(`${k.status} ${code}`, (why.get(`${k.status} ${code}`) || 0) + 1);
  }
  return {
    name,
    why: [...why].map(([w, n]) => `${n} x ${w}`).join(', '),
    keys: keys.length,
    ordered: keys.filter((k) => k.status === 201).length,
    refused: keys.filter((k) => k.finalAt && k.status !== 201).length,
    open: keys.filter((k) => !k.finalAt).length,
    late: keys.filter((k) => k.finalAt && k.finalAt - k.first > cfg.budgetMs).length,
    attempts: keys.reduce((a, k) => a + k.attempts, 0),
    rate: inWindow.length / cfg.seconds,
    p50: lat[Math.floor(lat.length * 0.5)] ?? 0,
    p99: lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))] ?? 0,
  };
}

function row(p, lost) {
  return `${p.name.padEnd(26)} ${p.rate.toFixed(1).padStart(8)} ${String(p.keys).padStart(6)} ${String(p.ordered).padStart(6)} ` +
    `${String(p.refused).padStart(7)} ${String(p.open).padStart(6)} ${String(p.attempts).padStart(8)} ` +
    `${String(p.p50).padStart(7)} ${String(p.p99).padStart(7)} ${String(lost).padStart(6)}`;
}

async function main() {
  const users = await setUp();
  await storeFaults(null);
  const lost0 = await lostSoFar();
  const clean = await phase('fault-free', 'clean', users);
  const lost1 = await lostSoFar();
  await storeFaults({ lose_answer_percent: cfg.lossPercent });
  let faulty;
  try {
    faulty = await phase(`${cfg.lossPercent} % answers lost`, 'lossy', users);
  } finally {
    await storeFaults(null);
  }
  const lost2 = await lostSoFar();
  const ratio = clean.rate > 0 ? faulty.rate / clean.rate : 0;
  const budgetS = cfg.budgetMs / 1000;
  console.log(`\n==== lost answers: checkout through a faultproxy on every PostgreSQL and Redis connection ====`);
  console.log(`${cfg.clients} clients, ${cfg.seconds} s per phase, one key per purchase retried (same key, 50-250 ms apart, ` +
    `${cfg.attemptMs} ms per attempt) for up to ${budgetS} s`);
  console.log(`${'phase'.padEnd(26)} ${'orders/s'.padStart(8)} ${'keys'.padStart(6)} ${'201'.padStart(6)} ` +
    `${'refused'.padStart(7)} ${'open'.padStart(6)} ${'attempts'.padStart(8)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'lost'.padStart(6)}`);
  console.log(row(clean, lost1 - lost0));
  console.log(row(faulty, lost2 - lost1));
  for (const p of [clean, faulty]) if (p.why) console.log(`  ${p.name}: refused ${p.why}`);
  const ratioMet = ratio >= cfg.target.ratio;
  const keysMet = faulty.open === 0 && faulty.late === 0;
  console.log(`target: throughput with answers lost >= ${Math.round(cfg.target.ratio * 100)} % of fault-free: ` +
    `${(ratio * 100).toFixed(0)} %: ${ratioMet ? 'met' : 'NOT MET'}`);
  console.log(`target: every key final within ${budgetS} s of retries: ${faulty.keys - faulty.open} of ${faulty.keys} ` +
    `(${faulty.open} without a final answer): ${keysMet ? 'met' : 'NOT MET'}`);
  if (lost2 - lost1 === 0) throw new Error('no answer was lost in the faulty phase: the proxies did not apply the fault');
}

main().catch((e) => {
  console.error(`bench: ${e.stack || e}`);
  process.exit(1);
});
