// The lost-answers benchmark (bench/lost-answers.sh): checkout throughput through the faultproxies
// fault-free and with a share of the answers of every PostgreSQL and Redis connection lost, and
// how many Idempotency-Keys reach a final answer within the retry budget. Closed loop: each
// client buys with a fresh key and retries a 503, a 5xx, a reset or a time-out with the same key
// (50-250 ms apart) until the answer is final (201 or a 4xx other than "still in progress") or
// the budget is spent; only then does it take the next key.
//
// On a shared 2-core machine one fault-free window then one faulty window gave ratios from 32 to
// 141 %: the neighbours' load moved between the two. So the windows are interleaved, several
// rounds of one fault-free and one faulty window (their order alternating, so a trend favours
// neither), after a warm-up; the verdict takes the median of the rounds' ratios, and the CPU
// time the stack's processes (services, PostgreSQL, Redis, proxies) spent per checkout is
// printed for both kinds, which the neighbours' load does not move.
//
//   node bench/lost-answers.mjs --config FILE   (written by bench/lost-answers.sh)
import { readFileSync, readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { closeAgents, json, request } from '../chaos/local/lib/http.mjs';
import { sleep } from '../chaos/local/lib/load.mjs';

const { values: opt } = parseArgs({ options: { config: { type: 'string' } } });
const cfg = JSON.parse(readFileSync(opt.config, 'utf8'));
// cfg: {order, user, inventory (URLs), proxies: [{name, admin, dep}], seconds (per window), rounds,
//       clients, lossPercent, budgetMs, attemptMs, target: {ratio}, cpuRoots: [pid, ...] (the
//       stack's process trees: runsvdir, the postmaster)}
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

// What the proxies counted so far: answers lost, and connections opened through the PostgreSQL
// and Redis proxies (each lost answer costs one: the connection is reset).
async function proxyCounts() {
  const out = { lost: 0, conns: 0, byProxy: {} };
  for (const p of cfg.proxies) {
    const r = await request(`http://127.0.0.1:${p.admin}/metrics`, { timeoutMs: 3000 });
    const m = /^faultproxy_faults_total\{proxy="[^"]*",kind="lost_answer"\} (\S+)$/m.exec(r.body || '');
    const c = /^faultproxy_connections_total\{proxy="[^"]*"\} (\S+)$/m.exec(r.body || '');
    if (m) {
      out.lost += Number(m[1]);
      out.byProxy[p.name] = Number(m[1]);
    }
    if (c && (p.dep === 'pg' || p.dep === 'redis')) out.conns += Number(c[1]);
  }
  return out;
}

// CPU time in ms spent so far by the process trees under cfg.cpuRoots, the ones that ended and
// were reaped included (a process's cutime and cstime hold its waited-for children's: a
// PostgreSQL backend's, once it exits): {total, by: {command name: ms}}. Clock ticks of 10 ms
// (CLK_TCK 100 on Linux).
function stackCpuMs() {
  const procs = new Map();
  for (const name of readdirSync('/proc')) {
    if (!/^[0-9]+$/.test(name)) continue;
    let stat;
    try { stat = readFileSync(`/proc/${name}/stat`, 'utf8'); } catch { continue; }
    const comm = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // after the name: state ppid ... utime(11) stime(12) cutime(13) cstime(14), 0-based from state
    procs.set(Number(name), { comm, ppid: Number(f[1]), ticks: Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]) });
  }
  const inTree = (pid) => {
    for (let p = pid, hops = 0; p > 1 && hops < 64; p = procs.get(p)?.ppid ?? 0, hops++)
      if (cfg.cpuRoots.includes(p)) return true;
    return false;
  };
  const out = { total: 0, by: {} };
  for (const [pid, p] of procs) {
    if (!inTree(pid)) continue;
    out.total += p.ticks * 10;
    out.by[p.comm] = (out.by[p.comm] || 0) + p.ticks * 10;
  }
  return out;
}

// b - a, for two stackCpuMs() readings.
function cpuSince(a, b) {
  const by = {};
  for (const k of Object.keys(b.by)) by[k] = b.by[k] - (a.by[k] || 0);
  return { total: b.total - a.total, by };
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
  const cpu0 = stackCpuMs();
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
  const cpu = cpuSince(cpu0, stackCpuMs());
  const cpuMs = cpu.total;
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
    cpuMs,
    cpuBy: cpu.by,
    cpuPerOrder: keys.some((k) => k.status === 201) ? cpuMs / keys.filter((k) => k.status === 201).length : 0,
    lat,
  };
}

function row(p, lost) {
  return `${p.name.padEnd(26)} ${p.rate.toFixed(1).padStart(8)} ${p.cpuPerOrder.toFixed(1).padStart(8)} ${String(p.keys).padStart(6)} ${String(p.ordered).padStart(6)} ` +
    `${String(p.refused).padStart(7)} ${String(p.open).padStart(6)} ${String(p.attempts).padStart(8)} ` +
    `${String(p.p50).padStart(7)} ${String(p.p99).padStart(7)} ${String(lost).padStart(6)}`;
}

const median = (xs) => {
  const v = [...xs].sort((a, b) => a - b);
  return v.length % 2 ? v[(v.length - 1) / 2] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};

// One window with the stores' answers lost (lossy) or not; with its count of answers lost.
async function window(name, tag, users, lossy) {
  const before = await proxyCounts();
  if (lossy) await storeFaults({ lose_answer_percent: cfg.lossPercent });
  let p;
  try {
    p = await phase(name, tag, users);
  } finally {
    if (lossy) await storeFaults(null);
  }
  const after = await proxyCounts();
  p.lost = after.lost - before.lost;
  p.conns = after.conns - before.conns;
  p.lostBy = Object.fromEntries(Object.entries(after.byProxy).map(([k, v]) => [k, v - (before.byProxy[k] || 0)]));
  return p;
}

// The windows of one kind taken together: rates and counts summed over the same time, the
// latency percentiles over all their keys, CPU per checkout over all their checkouts.
function pooled(name, ps) {
  const lat = ps.flatMap((p) => p.lat).sort((a, b) => a - b);
  const sum = (f) => ps.reduce((a, p) => a + f(p), 0);
  const why = new Map();
  for (const p of ps) for (const part of p.why ? p.why.split(', ') : []) {
    const [n, w] = part.split(' x ');
    why.set(w, (why.get(w) || 0) + Number(n));
  }
  return {
    name, keys: sum((p) => p.keys), ordered: sum((p) => p.ordered), refused: sum((p) => p.refused),
    open: sum((p) => p.open), late: sum((p) => p.late), attempts: sum((p) => p.attempts),
    rate: sum((p) => p.rate) / ps.length, lost: sum((p) => p.lost), conns: sum((p) => p.conns),
    lostBy: ps.reduce((by, p) => {
      for (const [k, v] of Object.entries(p.lostBy)) by[k] = (by[k] || 0) + v;
      return by;
    }, {}),
    cpuPerOrder: sum((p) => p.cpuMs) / Math.max(1, sum((p) => p.ordered)),
    cpuBy: ps.reduce((by, p) => {
      for (const [k, v] of Object.entries(p.cpuBy)) by[k] = (by[k] || 0) + v / Math.max(1, sum((q) => q.ordered));
      return by;
    }, {}),
    p50: lat[Math.floor(lat.length * 0.5)] ?? 0, p99: lat[Math.min(lat.length - 1, Math.floor(lat.length * 0.99))] ?? 0,
    why: [...why].map(([w, n]) => `${n} x ${w}`).join(', '),
  };
}

async function main() {
  const users = await setUp();
  await storeFaults(null);
  const lossName = `${cfg.lossPercent} % answers lost`;
  await phase('warm-up', 'warm', users); // connections, prepared statements, caches
  const clean = [], faulty = [], rounds = [];
  for (let r = 0; r < cfg.rounds; r++) {
    const order = r % 2 ? [true, false] : [false, true];
    const got = {};
    for (const lossy of order) got[lossy] = await window(lossy ? lossName : 'fault-free', `${lossy ? 'lossy' : 'clean'}${r}`, users, lossy);
    clean.push(got[false]);
    faulty.push(got[true]);
    rounds.push(got[false].rate > 0 ? got[true].rate / got[false].rate : 0);
  }
  const ratio = median(rounds);
  const all = [pooled('fault-free', clean), pooled(lossName, faulty)];
  const budgetS = cfg.budgetMs / 1000;
  const head = `${'phase'.padEnd(26)} ${'orders/s'.padStart(8)} ${'cpu ms'.padStart(8)} ${'keys'.padStart(6)} ${'201'.padStart(6)} ` +
    `${'refused'.padStart(7)} ${'open'.padStart(6)} ${'attempts'.padStart(8)} ${'p50 ms'.padStart(7)} ${'p99 ms'.padStart(7)} ${'lost'.padStart(6)}`;
  console.log(`\n==== lost answers: checkout through a faultproxy on every PostgreSQL and Redis connection ====`);
  console.log(`${cfg.clients} clients, ${cfg.rounds} rounds of a ${cfg.seconds} s fault-free and a ${cfg.seconds} s faulty window ` +
    `(interleaved), one key per purchase retried (same key, 50-250 ms apart, ${cfg.attemptMs} ms per attempt) for up to ${budgetS} s; ` +
    `cpu ms: CPU time of the stack's processes per checkout`);
  console.log(head);
  for (let r = 0; r < cfg.rounds; r++) {
    console.log(row({ ...clean[r], name: `  round ${r + 1} fault-free` }, clean[r].lost));
    console.log(row({ ...faulty[r], name: `  round ${r + 1} lossy` }, faulty[r].lost) + `  ratio ${(rounds[r] * 100).toFixed(0)} %`);
  }
  console.log('all rounds:');
  for (const p of all) console.log(row(p, p.lost));
  for (const p of all) if (p.why) console.log(`  ${p.name}: refused ${p.why}`);
  console.log(`ratio per round: ${rounds.map((x) => `${(x * 100).toFixed(0)} %`).join(', ')}; median ${(ratio * 100).toFixed(0)} %; ` +
    `CPU per checkout: ${all[0].cpuPerOrder.toFixed(1)} ms fault-free, ${all[1].cpuPerOrder.toFixed(1)} ms with answers lost ` +
    `(${all[0].cpuPerOrder > 0 ? ((all[1].cpuPerOrder / all[0].cpuPerOrder) * 100).toFixed(0) : '?'} %)`);
  const names = Object.keys(all[0].cpuBy).filter((k) => all[0].cpuBy[k] + (all[1].cpuBy[k] || 0) >= 0.05).sort();
  console.log(`CPU ms per checkout by process, fault-free / with answers lost: ` +
    names.map((k) => `${k} ${all[0].cpuBy[k].toFixed(2)} / ${(all[1].cpuBy[k] || 0).toFixed(2)}`).join(', '));
  console.log(`connections opened to PostgreSQL and Redis: ${all[0].conns} fault-free, ${all[1].conns} with ${all[1].lost} answers lost`);
  console.log(`answers lost by proxy: ` + Object.entries(all[1].lostBy).filter(([, v]) => v > 0)
    .sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`).join(', '));
  const ratioMet = ratio >= cfg.target.ratio;
  const f = all[1];
  const keysMet = f.open === 0 && f.late === 0;
  console.log(`target: throughput with answers lost >= ${Math.round(cfg.target.ratio * 100)} % of fault-free: ` +
    `${(ratio * 100).toFixed(0)} %: ${ratioMet ? 'met' : 'NOT MET'}`);
  console.log(`target: every key final within ${budgetS} s of retries: ${f.keys - f.open} of ${f.keys} ` +
    `(${f.open} without a final answer): ${keysMet ? 'met' : 'NOT MET'}`);
  if (all[0].lost !== 0) throw new Error(`${all[0].lost} answers were lost in the fault-free windows: the faults were not cleared`);
  if (faulty.some((p) => p.lost === 0)) throw new Error('no answer was lost in a faulty window: the proxies did not apply the fault');
}

main().catch((e) => {
  console.error(`bench: ${e.stack || e}`);
  process.exit(1);
});
