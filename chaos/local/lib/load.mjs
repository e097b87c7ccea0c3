// A steady, bounded load: streams of requests at fixed rates (an open model: a request is sent
// when it is due, whatever happened to the ones before, so a stall shows as errors and latency
// rather than as fewer requests), each answer recorded with its start time, latency and status.
// Checkouts are orders with an Idempotency-Key that is retried until it has a definite answer,
// as a careful client does; every key is kept, to check afterwards that none made two orders.
import { performance } from 'node:perf_hooks';
import { closeAgents, json, request } from './http.mjs';

const TICK_MS = 5;
let keySeq = 0; // Idempotency-Keys are unique within the process, whatever the stream
const IN_FLIGHT_MAX = 200; // per stream: past it a due request is shed (recorded, status -1)

// One record per request: t (epoch ms at the start), ms, stream, status (0: no answer, -1: shed),
// tag (the error, 'degraded', 'retry', ...).
export class Load {
  constructor({ timeoutMs = 5000 } = {}) {
    this.timeoutMs = timeoutMs;
    this.streams = [];
    this.records = [];
    this.hooks = []; // called on every tick while running
    this.running = false;
  }

  // spec: {name, rate (per second), touches: [instance names on its path], make(i) ->
  // {url, method, headers, body}, tag(res) -> string|undefined}, or instead of make and tag
  // send(i), which sends request i itself (and keeps inFlight).
  add(spec) {
    this.streams.push({ ...spec, sent: 0, inFlight: 0 });
    return this;
  }

  start() {
    this.running = true;
    this.t0 = performance.now();
    for (const s of this.streams) s.sent = 0;
    this.timer = setInterval(() => this.tick(), TICK_MS);
    return this;
  }

  tick() {
    const elapsed = (performance.now() - this.t0) / 1000;
    for (const s of this.streams) {
      if (!this.running || !s.rate) continue;
      const due = Math.floor(elapsed * s.rate) - s.sent;
      for (let i = 0; i < due; i++) this.fire(s, s.sent++);
    }
    if (this.running) for (const hook of this.hooks) hook();
  }

  fire(s, i) {
    if (s.inFlight >= IN_FLIGHT_MAX) {
      this.records.push({ t: Date.now(), ms: 0, stream: s.name, status: -1, tag: 'shed' });
      return;
    }
    if (s.send) {
      s.send(i);
      return;
    }
    const r = s.make(i);
    s.inFlight++;
    request(r.url, { ...r, timeoutMs: r.timeoutMs || this.timeoutMs }).then((res) => {
      s.inFlight--;
      this.records.push({
        t: res.t,
        ms: res.ms,
        stream: s.name,
        status: res.status,
        tag: res.error || (s.tag ? s.tag(res) : undefined),
      });
    });
  }

  // Stops sending and waits (at most waitMs) for the answers still due.
  async stop(waitMs = 6000) {
    this.running = false;
    clearInterval(this.timer);
    const deadline = Date.now() + waitMs;
    while (this.streams.some((s) => s.inFlight > 0) && Date.now() < deadline) await sleep(20);
  }

  // The streams whose path goes through instance name.
  touching(name) {
    return this.streams.filter((s) => s.touches.includes(name)).map((s) => s.name);
  }
}

// Orders with Idempotency-Keys, at a rate, on a Load's clock and records. A key whose answer was
// a failure a retry may cure (no answer, 5xx, 409 "still in progress") is sent again, with the
// same body, after a pause; 201 (the order id is kept) and other 4xx are final.
export class Checkout {
  constructor(load, { name = 'checkout', url, rate, prefix, users, pick, touches, limit = Infinity }) {
    this.load = load;
    this.url = url;
    this.prefix = prefix;
    this.users = users;
    this.pick = pick; // () -> items
    this.keys = new Map();
    this.retries = [];
    this.accepting = true;
    this.limit = limit; // at most this many keys
    // the Load's clock sends new keys, and the retries that are due
    this.stream = { name, rate, touches, sent: 0, inFlight: 0, send: () => this.keys.size < this.limit && this.send(this.newKey()) };
    load.streams.push(this.stream);
    load.hooks.push(() => this.sendDueRetries());
  }

  newKey() {
    const key = `${this.prefix}-${this.stream.name}-${++keySeq}`;
    const user = this.users[Math.floor(Math.random() * this.users.length)];
    // first: the first attempt's start, finalAt: when the definite answer came (epoch ms)
    const k = { key, body: { user_id: user, items: this.pick() }, attempts: 0, orders: new Set(), final: null,
      first: 0, finalAt: 0 };
    this.keys.set(key, k);
    return k;
  }

  send(k, retry = false) {
    k.attempts++;
    if (!k.first) k.first = Date.now();
    this.stream.inFlight++;
    request(this.url, {
      method: 'POST',
      body: k.body,
      headers: { 'Idempotency-Key': k.key },
      timeoutMs: 20000,
    }).then((res) => {
      this.stream.inFlight--;
      const doc = json(res.body);
      let tag = res.error || (retry ? 'retry' : undefined);
      if (res.status === 201 && doc && doc.id) {
        k.orders.add(doc.id);
        k.final = 201;
        k.finalAt = Date.now();
      } else if (res.status === 409 && /still in progress/.test(res.body)) {
        tag = 'in_progress';
        this.retryLater(k);
      } else if (res.status >= 400 && res.status < 500) {
        k.final = res.status;
        k.finalAt = Date.now();
        if (res.status === 409) tag = 'out_of_stock';
      } else {
        this.retryLater(k);
      }
      this.load.records.push({ t: res.t, ms: res.ms, stream: this.stream.name, status: res.status, tag });
    });
  }

  retryLater(k) {
    const pause = 300 + Math.min(k.attempts, 5) * 200 + Math.random() * 200;
    this.retries.push({ k, at: Date.now() + pause });
  }

  sendDueRetries() {
    if (!this.accepting) return;
    const now = Date.now();
    const due = this.retries.filter((r) => r.at <= now);
    if (!due.length) return;
    this.retries = this.retries.filter((r) => r.at > now);
    for (const r of due) this.send(r.k, true);
  }

  // Sends no new keys, and retries the open ones until each has a definite answer or deadlineMs
  // has passed; returns how many are still open.
  async settle(deadlineMs) {
    this.stream.rate = 0;
    const until = Date.now() + deadlineMs;
    while (Date.now() < until && (this.retries.length || this.stream.inFlight)) {
      this.sendDueRetries();
      await sleep(25);
    }
    this.accepting = false;
    while (this.stream.inFlight && Date.now() < until + 1000) await sleep(25);
    return this.open().length;
  }

  open() {
    return [...this.keys.values()].filter((k) => k.final === null);
  }
}

export function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

export { closeAgents };
