// HTTP for the chaos runner: one request with a deadline, over kept-alive connections (one agent
// per host:port), never retried here: what a request met is what gets counted.
import http from 'node:http';
import { performance } from 'node:perf_hooks';

const agents = new Map();

function agentFor(host) {
  let agent = agents.get(host);
  if (!agent) {
    agent = new http.Agent({ keepAlive: true, maxSockets: 512, scheduling: 'lifo' });
    agents.set(host, agent);
  }
  return agent;
}

// Closes every kept-alive connection (between experiments, so none goes stale).
export function closeAgents() {
  for (const agent of agents.values()) agent.destroy();
  agents.clear();
}

// request(url, {method, headers, body, timeoutMs, fresh}) resolves, never rejects, to
// {t, ms, status, body, headers, error}: t the epoch milliseconds at the start, ms the latency,
// status 0 with error ('timeout', 'ECONNREFUSED', 'ECONNRESET', ...) when no answer came.
// body (an object) is sent as JSON. fresh: a new connection, closed after the answer.
export function request(url, { method = 'GET', headers = {}, body, timeoutMs = 5000, fresh = false } = {}) {
  return new Promise((resolve) => {
    const u = new URL(url);
    const data = body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body);
    const hdrs = { ...headers };
    if (data !== undefined) {
      hdrs['content-type'] = 'application/json';
      hdrs['content-length'] = Buffer.byteLength(data);
    }
    const t = Date.now();
    const start = performance.now();
    let done = false;
    let timer;
    const finish = (status, text, error, resHeaders) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      resolve({ t, ms: performance.now() - start, status, body: text, headers: resHeaders || {}, error });
    };
    const req = http.request({
      host: u.hostname,
      port: u.port,
      path: u.pathname + u.search,
      method,
      headers: hdrs,
      agent: fresh ? false : agentFor(u.host),
    });
    timer = setTimeout(() => req.destroy(new Error('timeout')), timeoutMs);
    req.on('response', (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => finish(res.statusCode, Buffer.concat(chunks).toString('utf8'), null, res.headers));
      res.on('error', (e) => finish(0, '', e.code || e.message));
      res.on('aborted', () => finish(0, '', 'aborted'));
    });
    req.on('error', (e) => finish(0, '', e.message === 'timeout' ? 'timeout' : e.code || e.message));
    if (data !== undefined) req.write(data);
    req.end();
  });
}

// The JSON of a body, or undefined.
export function json(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
