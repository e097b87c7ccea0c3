// The stack under test, as chaos/local/run.sh describes it in stack.json: its instances (name,
// URL, readiness path, database, binary, PID file, runit directory), PostgreSQL and Redis; and
// the verbs the experiments use on it: PIDs, kill -9, readiness, runit's sv, faults, metrics,
// psql, and stopping and starting the stores through scripts/pg.sh and scripts/redis.sh.
import { execFile } from 'node:child_process';
import { readFileSync, readlinkSync, realpathSync } from 'node:fs';
import { promisify } from 'node:util';
import { request } from './http.mjs';
import { sleep } from './load.mjs';

const run = promisify(execFile);

export class Stack {
  constructor(file) {
    Object.assign(this, JSON.parse(readFileSync(file, 'utf8')));
    this.byName = new Map(this.instances.map((i) => [i.name, i]));
  }

  instance(name) {
    const inst = this.byName.get(name);
    if (!inst) throw new Error(`no instance ${name} in the stack`);
    return inst;
  }

  // The instances that have a database (the ones PostgreSQL's restart must turn unready).
  withDatabase() {
    return this.instances.filter((i) => i.db);
  }

  // The PID of the instance's running process (its PID file, checked against /proc), or 0.
  pid(inst) {
    try {
      const pid = Number(readFileSync(inst.pidFile, 'utf8').trim());
      if (!(pid > 0)) return 0;
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      if (stat.slice(stat.lastIndexOf(')') + 2).startsWith('Z')) return 0;
      const exe = readlinkSync(`/proc/${pid}/exe`).replace(/ \(deleted\)$/, '');
      return realpathSync(exe) === inst.exe || exe === inst.exe ? pid : 0;
    } catch {
      return 0;
    }
  }

  // {name: pid} of every instance (pid() may return a promise: the compose stack asks podman).
  async pids() {
    const pids = await Promise.all(this.instances.map((i) => this.pid(i)));
    return Object.fromEntries(this.instances.map((i, k) => [i.name, pids[k]]));
  }

  async ready(inst) {
    const r = await request(inst.url + inst.ready, { timeoutMs: 1000, fresh: true });
    return r.status;
  }

  // Polls the instance's readiness every everyMs until it answers 200 from a process other than
  // notPid; resolves to {ok, ms, pid} (ms since since, default now).
  async waitReady(inst, { notPid = 0, timeoutMs = 10000, everyMs = 10, since = Date.now() } = {}) {
    const deadline = since + timeoutMs;
    for (;;) {
      const pid = await this.pid(inst);
      if (pid && pid !== notPid && (await this.ready(inst)) === 200)
        return { ok: true, ms: Date.now() - since, pid };
      if (Date.now() >= deadline) return { ok: false, ms: Date.now() - since, pid };
      await sleep(everyMs);
    }
  }

  // Stops the instance through its supervisor (runit: sv stop, which waits until it is down),
  // so that it stays stopped.
  async stop(inst) {
    await run('sv', ['-w', '15', 'stop', inst.svDir], { timeout: 20000 });
  }

  // Has the supervisor start it again (and keep it running).
  async start(inst) {
    await run('sv', ['up', inst.svDir], { timeout: 20000 });
  }

  async faults(inst, settings) {
    const r = settings
      ? await request(`${inst.url}/admin/faults`, { method: 'PUT', body: settings })
      : await request(`${inst.url}/admin/faults`, { method: 'DELETE' });
    if (r.status !== 200 && r.status !== 204)
      throw new Error(`${inst.name}: /admin/faults answered ${r.status} ${r.body}`);
  }

  // The faultproxies (MS_FAULTPROXY=1, tools/faultproxy) in front of the dependencies, chosen by
  // dependency ('pg', 'redis', a service's name) and, optionally, by the service that calls it.
  faultProxies(dep, caller) {
    return (this.proxies || []).filter((p) => p.dep === dep && (!caller || p.caller === caller));
  }

  // Sets the faults of every proxy in list (PUT /admin/faults; null: all off, DELETE).
  async proxyFaults(list, settings) {
    for (const p of list) {
      const url = `http://127.0.0.1:${p.admin}/admin/faults`;
      const r = settings ? await request(url, { method: 'PUT', body: settings }) : await request(url, { method: 'DELETE' });
      if (r.status !== 200) throw new Error(`faultproxy ${p.name}: /admin/faults answered ${r.status} ${r.body}`);
    }
  }

  // Resets every connection open through proxy p now; resolves to how many there were.
  async proxyReset(p) {
    const r = await request(`http://127.0.0.1:${p.admin}/admin/connections`, { method: 'DELETE' });
    if (r.status !== 200) throw new Error(`faultproxy ${p.name}: /admin/connections answered ${r.status}`);
    return JSON.parse(r.body).reset;
  }

  // faultproxy_faults_total{kind} summed over the proxies in list.
  async proxyFaultCount(list, kind) {
    let sum = 0;
    for (const p of list) {
      const r = await request(`http://127.0.0.1:${p.admin}/metrics`, { timeoutMs: 3000 });
      sum += metric(r.status === 200 ? r.body : '', 'faultproxy_faults_total', { kind });
    }
    return sum;
  }

  async metrics(inst) {
    const r = await request(`${inst.url}/metrics`, { timeoutMs: 3000 });
    return r.status === 200 ? r.body : '';
  }

  // Rows of a query in one of the stack's databases, each an array of strings.
  async psql(db, sql) {
    const { stdout } = await run(
      'psql',
      ['-h', '127.0.0.1', '-p', String(this.pgPort), '-U', 'ms', '-d', db, '-XAtq', '-F', '\t', '-c', sql],
      { timeout: 30000, maxBuffer: 64 << 20 },
    );
    return stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
  }

  // {application name: connections} the services hold open where they connect: PgBouncer's
  // clients when the stack has one (poolerPort; its pooled backends are PgBouncer's, not the
  // services'), else PostgreSQL's client backends.
  async dbClients() {
    if (!this.poolerPort) return clientBackends(this);
    const { stdout } = await run(
      'psql',
      ['-h', '127.0.0.1', '-p', String(this.poolerPort), '-U', 'ms', '-d', 'pgbouncer', '-XAq', '-F', '\t', '-c', 'SHOW CLIENTS'],
      { timeout: 30000 },
    );
    const [head, ...rows] = stdout.split('\n').filter((l) => l !== '' && !l.startsWith('('));
    const col = Object.fromEntries(head.split('\t').map((c, k) => [c, k]));
    const out = new Map();
    for (const r of rows.map((l) => l.split('\t'))) {
      if (r[col.database] === 'pgbouncer') continue; // this very query
      out.set(r[col.application_name], (out.get(r[col.application_name]) || 0) + 1);
    }
    return out;
  }

  async script(name, ...args) {
    await run('bash', [`${this.root}/scripts/${name}`, ...args], { timeout: 60000 });
  }

  redisStop() {
    return this.script('redis.sh', 'stop', `${this.dataDir}/redis`);
  }

  redisStart() {
    return this.script('redis.sh', 'start', `${this.dataDir}/redis`, String(this.redisPort));
  }

  pgStop() {
    return this.script('pg.sh', 'stop', `${this.dataDir}/pg`);
  }

  pgStart() {
    return this.script('pg.sh', 'start', `${this.dataDir}/pg`, String(this.pgPort));
  }
}

// {application name: client backends} in PostgreSQL, the psql sessions of the checks aside.
async function clientBackends(stack) {
  const rows = await stack.psql('postgres',
    "SELECT application_name, count(*) FROM pg_stat_activity WHERE backend_type = 'client backend' AND datname <> 'postgres' GROUP BY 1");
  return new Map(rows.map(([n, c]) => [n, Number(c)]));
}

// The sum of the series of metric name whose labels include every one of labels, in a
// Prometheus text exposition.
export function metric(text, name, labels = {}) {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name)) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = Object.fromEntries([...(m[3] || '').matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)].map((x) => [x[1], x[2]]));
    if (Object.entries(labels).every(([k, v]) => have[k] === v)) sum += Number(m[4]);
  }
  return sum;
}

// The compose stack (run.sh --target compose): the same verbs through podman. A PID is the host
// PID of a container's main process (kill -9 of it is a crash: the restart policy brings the
// container back); stopping an instance is `podman stop` (a manual stop: it stays stopped);
// PostgreSQL and Redis are containers too, and psql runs inside PostgreSQL's.
export class ComposeStack extends Stack {
  async pid(inst) {
    try {
      const { stdout } = await run('podman', ['inspect', '-f', '{{.State.Pid}} {{.State.Status}}', inst.container], { timeout: 10000 });
      const [pid, status] = stdout.trim().split(' ');
      return status === 'running' && Number(pid) > 0 ? Number(pid) : 0;
    } catch {
      return 0;
    }
  }

  async stop(inst) {
    await run('podman', ['stop', '-t', '20', inst.container], { timeout: 40000 });
  }

  async start(inst) {
    await run('podman', ['start', inst.container], { timeout: 40000 });
  }

  async psql(db, sql) {
    const { stdout } = await run(
      'podman',
      ['exec', '-e', `PGPASSWORD=${this.pgPassword}`, this.pgContainer, 'psql', '-h', '127.0.0.1', '-U', this.pgUser, '-d', db, '-XAtq', '-F', '\t', '-c', sql],
      { timeout: 30000, maxBuffer: 64 << 20 },
    );
    return stdout.split('\n').filter((l) => l !== '').map((l) => l.split('\t'));
  }

  // Polls cmd (run inside container) until it succeeds, for at most 30 s.
  async until(container, cmd) {
    const deadline = Date.now() + 30000;
    for (;;) {
      try {
        await run('podman', ['exec', container, ...cmd], { timeout: 5000 });
        return;
      } catch (e) {
        if (Date.now() > deadline) throw new Error(`${container}: ${cmd.join(' ')} still fails: ${e.message}`);
        await sleep(100);
      }
    }
  }

  redisStop() {
    return run('podman', ['stop', '-t', '10', this.redisContainer], { timeout: 30000 });
  }

  async redisStart() {
    await run('podman', ['start', this.redisContainer], { timeout: 30000 });
    await this.until(this.redisContainer, ['redis-cli', 'ping']);
  }

  pgStop() {
    return run('podman', ['stop', '-t', '30', this.pgContainer], { timeout: 60000 });
  }

  async pgStart() {
    await run('podman', ['start', this.pgContainer], { timeout: 30000 });
    await this.until(this.pgContainer, ['pg_isready', '-h', '127.0.0.1', '-U', this.pgUser]);
  }
}

// The stack that stack.json describes, native or compose.
export function loadStack(file) {
  const target = JSON.parse(readFileSync(file, 'utf8')).target;
  return target === 'compose' ? new ComposeStack(file) : new Stack(file);
}
