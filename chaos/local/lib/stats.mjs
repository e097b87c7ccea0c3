// Figures over the records of a Load: counts by status, error ratios and latency percentiles,
// for the requests that started inside a time window.

// The p-th percentile (0..100) of the numbers in xs, nearest rank; NaN when xs is empty.
export function percentile(xs, p) {
  if (!xs.length) return NaN;
  const sorted = [...xs].sort((a, b) => a - b);
  const rank = Math.min(sorted.length, Math.max(1, Math.ceil((p / 100) * sorted.length)));
  return sorted[rank - 1];
}

// The records that started in [from, to) (epoch ms) and belong to one of the streams (all
// when streams is empty or absent), further filtered by keep(record) when given.
export function select(records, { from = -Infinity, to = Infinity, streams, keep } = {}) {
  const names = streams && streams.length ? new Set(streams) : null;
  return records.filter(
    (r) => r.t >= from && r.t < to && (!names || names.has(r.stream)) && (!keep || keep(r)),
  );
}

// A failure, as a client sees it: no answer, shed, or a 5xx. (4xx answers are the client's
// own doing, such as an order for stock that ran out.)
export function failed(r) {
  return r.status <= 0 || r.status >= 500;
}

// {n, failed, ratio, byStatus, p50, p99, max} of a selection.
export function summary(rs) {
  const byStatus = {};
  for (const r of rs) {
    const k = r.status > 0 ? String(r.status) : r.tag || String(r.status);
    byStatus[k] = (byStatus[k] || 0) + 1;
  }
  const lat = rs.map((r) => r.ms);
  const bad = rs.filter(failed).length;
  return {
    n: rs.length,
    failed: bad,
    ratio: rs.length ? bad / rs.length : 0,
    byStatus,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    max: lat.length ? Math.max(...lat) : NaN,
  };
}

export function pct(x) {
  return `${(100 * x).toFixed(1)} %`;
}

export function ms(x) {
  return Number.isFinite(x) ? `${Math.round(x)} ms` : 'n/a';
}

// "200:120 503:4" from a byStatus map.
export function statuses(byStatus) {
  return Object.entries(byStatus)
    .sort()
    .map(([k, v]) => `${k}:${v}`)
    .join(' ') || 'none';
}
