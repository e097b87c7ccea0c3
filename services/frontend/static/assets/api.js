/* The storefront's one way to the services: fetch through the gateway (same origin, relative
 * URLs), with a client-side time limit on every call, the VIP header when it is switched on, and
 * a report of every call (status, latency, x-service-version, x-request-id) for the "behind the
 * scenes" strip. Answers 2xx-4xx come back to the caller; 5xx, time-outs and network errors are
 * thrown as ApiError, for the page to show its banner. */
"use strict";

class ApiError extends Error {
  /* kind: "deadline" (504), "unavailable" (502, 503), "server" (other 5xx), "timeout" (no
   * answer within the page's own limit), "network" (no connection). */
  constructor(kind, info) {
    super(info.message);
    this.name = "ApiError";
    this.kind = kind;
    this.service = info.service;
    this.status = info.status;
    this.requestId = info.requestId;
    this.limitMs = info.limitMs;
  }
}

const api = (() => {
  const settings = { api_timeout_ms: 5000, checkout_timeout_ms: 20000 };
  const observers = [];
  let vip = false;

  const services = {
    products: "product",
    cart: "cart",
    orders: "order",
    users: "user",
    notifications: "notification",
    inventory: "inventory",
  };

  /* The service a gateway path belongs to: "/cart/7" is the cart service. */
  function serviceOf(path) {
    return services[path.split(/[/?]/)[1]] || "shop";
  }

  /* A plain id the gateway and the services keep (up to 64 of [A-Za-z0-9._:-]), so a call that
   * never got an answer can still be found in their logs. getRandomValues, unlike
   * randomUUID, also works on plain http from another machine. */
  function newRequestId() {
    const bytes = new Uint8Array(8);
    crypto.getRandomValues(bytes);
    return "web-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function report(entry) {
    for (const fn of observers) fn(entry);
  }

  function errorKind(status) {
    if (status === 504) return "deadline";
    if (status === 502 || status === 503) return "unavailable";
    return "server";
  }

  /* One call. opts: body (sent as JSON), headers, timeoutMs (default: api_timeout_ms). Resolves
   * with {status, data, requestId, version} for any answer below 500; throws ApiError else. */
  async function call(method, path, opts = {}) {
    const limit = opts.timeoutMs || settings.api_timeout_ms;
    const id = newRequestId();
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), limit);
    const headers = { Accept: "application/json", "x-request-id": id, ...(opts.headers || {}) };
    const entry = { method, path, service: serviceOf(path), requestId: id, status: 0, outcome: "" };
    const started = performance.now();
    let res;
    let data = null;

    if (vip) headers["x-user-type"] = "vip";
    if (opts.body !== undefined) headers["Content-Type"] = "application/json";
    try {
      res = await fetch(path, {
        method,
        headers,
        body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
        signal: controller.signal,
        cache: "no-store",
        credentials: "same-origin",
      });
      const text = await res.text(); /* the body counts against the limit too */
      if (text) {
        try {
          data = JSON.parse(text);
        } catch (e) {
          data = null;
        }
      }
    } catch (e) {
      const timedOut = controller.signal.aborted;
      entry.latencyMs = Math.round(performance.now() - started);
      entry.outcome = timedOut ? `no answer within ${limit / 1000} s` : "network error";
      report(entry);
      throw new ApiError(timedOut ? "timeout" : "network", {
        service: entry.service,
        status: 0,
        requestId: id,
        limitMs: limit,
        message: timedOut ? `no answer within ${limit} ms` : String(e && e.message),
      });
    } finally {
      clearTimeout(timer);
    }
    entry.latencyMs = Math.round(performance.now() - started);
    entry.status = res.status;
    entry.outcome = `${res.status} ${res.statusText || ""}`.trim();
    entry.version = res.headers.get("x-service-version") || "";
    entry.requestId = res.headers.get("x-request-id") || id;
    report(entry);
    if (res.status >= 500) {
      throw new ApiError(errorKind(res.status), {
        service: entry.service,
        status: res.status,
        requestId: entry.requestId,
        message: (data && data.error && data.error.message) || `HTTP ${res.status}`,
      });
    }
    return { status: res.status, data, requestId: entry.requestId, version: entry.version };
  }

  /* Reads /config.json (the frontend's own settings); keeps the defaults when it cannot. */
  async function loadSettings() {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), 2000);
    try {
      const res = await fetch("/config.json", { signal: controller.signal, cache: "no-store" });
      if (res.ok) {
        const doc = await res.json();
        for (const k of Object.keys(settings)) {
          if (Number.isInteger(doc[k]) && doc[k] > 0) settings[k] = doc[k];
        }
      }
    } catch (e) {
      /* the defaults stay */
    } finally {
      clearTimeout(timer);
    }
  }

  /* The message of an error envelope ({"error":{"message"}}), or fallback. */
  function message(result, fallback) {
    const err = result && result.data && result.data.error;
    return (err && err.message) || fallback;
  }

  return {
    call,
    loadSettings,
    message,
    settings,
    setVip: (on) => {
      vip = Boolean(on);
    },
    onCall: (fn) => observers.push(fn),
    newRequestId,
  };
})();
