// The invariants of the shop, checked in PostgreSQL after every experiment: no oversold stock
// (every unit is available, reserved or sold, as many as at the start, none below zero), no
// order without its reservation committed (with the same items), no reservation left dangling,
// no idempotency key with two orders, no lost or doubled notification; and the ones a lost answer
// breaks (issue 12): no order left unconfirmed while its stock exists, no `order.confirmed` event
// for an order that is not confirmed, no reservation held past its order's outcome, no key left
// without a final answer. The scope is what the run did: orders, reservations, events, keys and
// notifications created since the baseline.
import { sleep } from './load.mjs';

const COMMITTED_UNITS = `
  SELECT ri.product_id, sum(ri.quantity) FROM reservation_items ri
  JOIN reservations r ON r.id = ri.reservation_id WHERE r.status = '%s' GROUP BY 1`;

async function stockUnits(stack) {
  const rows = await stack.psql(
    'inventory',
    `SELECT s.product_id, s.available, s.reserved, coalesce(c.sum, 0), coalesce(h.sum, 0)
     FROM stock s LEFT JOIN (${COMMITTED_UNITS.replace('%s', 'committed')}) c USING (product_id)
     LEFT JOIN (${COMMITTED_UNITS.replace('%s', 'held')}) h USING (product_id) ORDER BY 1`,
  );
  return rows.map(([p, available, reserved, sold, held]) => ({
    product: Number(p),
    available: Number(available),
    reserved: Number(reserved),
    sold: Number(sold),
    held: Number(held),
  }));
}

// What the run starts from: the database clock (the scope begins there) and the units of every
// product (available + reserved + sold), which no purchase may change.
export async function baseline(stack) {
  const [[since]] = await stack.psql('inventory', 'SELECT now()');
  const units = new Map((await stockUnits(stack)).map((s) => [s.product, s.available + s.reserved + s.sold]));
  return { since, units };
}

function lit(s) {
  return `'${String(s).replace(/'/g, "''")}'`;
}

async function progress(stack, scope) {
  const since = lit(scope.since);
  const [[orders, uncommitted]] = await stack.psql(
    'order',
    `SELECT count(*), count(*) FILTER (WHERE NOT reservation_committed) FROM orders WHERE created_at >= ${since}`,
  );
  const [[outbox]] = await stack.psql('order', 'SELECT count(*) FROM outbox WHERE published_at IS NULL');
  const [[held]] = await stack.psql(
    'inventory',
    `SELECT count(*) FROM reservations WHERE status = 'held' AND created_at >= ${since}`,
  );
  const [[notified]] = await stack.psql(
    'notification',
    `SELECT count(DISTINCT order_id) FROM notifications WHERE created_at >= ${since}`,
  );
  return {
    orders: Number(orders),
    uncommitted: Number(uncommitted),
    outbox: Number(outbox),
    held: Number(held),
    notified: Number(notified),
  };
}

// Waits (at most timeoutMs) until what the system does in the background is done: every order
// committed, the outbox published, no reservation held, every order notified. Resolves to
// {settled, ms, state}; an unsettled state is for check() to judge.
export async function converge(stack, scope, timeoutMs) {
  const start = Date.now();
  for (;;) {
    let state;
    try {
      state = await progress(stack, scope);
    } catch (e) {
      state = { error: e.message };
    }
    const settled =
      !state.error && state.uncommitted === 0 && state.outbox === 0 && state.held === 0 && state.notified >= state.orders;
    if (settled || Date.now() - start >= timeoutMs) return { settled, ms: Date.now() - start, state };
    await sleep(250);
  }
}

async function ordersInScope(stack, since) {
  const rows = await stack.psql(
    'order',
    `SELECT o.id, o.reservation_committed, o.status,
            coalesce((SELECT string_agg(i.product_id || 'x' || i.quantity, ',' ORDER BY i.product_id)
                      FROM order_items i WHERE i.order_id = o.id), ''),
            (SELECT count(*) FROM idempotency_keys k WHERE k.order_id = o.id)
     FROM orders o WHERE o.created_at >= ${lit(since)}`,
  );
  return new Map(rows.map(([id, committed, status, items, keys]) =>
    [id, { committed: committed === 't', status, items, keys: Number(keys) }]));
}

async function reservationsInScope(stack, since, ttlS) {
  const rows = await stack.psql(
    'inventory',
    `SELECT r.id, r.status, coalesce(string_agg(ri.product_id || 'x' || ri.quantity, ',' ORDER BY ri.product_id), ''),
            r.created_at < now() - make_interval(secs => ${Number(ttlS) + 5})
     FROM reservations r LEFT JOIN reservation_items ri ON ri.reservation_id = r.id
     WHERE r.created_at >= ${lit(since)} GROUP BY r.id`,
  );
  return new Map(rows.map(([id, status, items, old]) => [id, { status, items, old: old === 't' }]));
}

// Checks every invariant; keys (optional) are the Checkout keys of the run, whose answers are
// compared with the database. Resolves to {pass, lines, counts}.
export async function check(stack, scope, { keys = [], keyPrefix, ttlS = 900, claimTtlS = 30, scarce } = {}) {
  const lines = [];
  const bad = [];
  const orders = await ordersInScope(stack, scope.since);
  const reservations = await reservationsInScope(stack, scope.since, ttlS);
  const notes = new Map(
    (await stack.psql(
      'notification',
      `SELECT order_id, count(*) FROM notifications WHERE created_at >= ${lit(scope.since)} GROUP BY 1`,
    )).map(([id, n]) => [id, Number(n)]),
  );
  const stock = await stockUnits(stack);

  // 1. every order has its reservation committed, with the same items
  let uncommitted = 0;
  let mismatched = 0;
  for (const [id, o] of orders) {
    const r = reservations.get(id);
    if (!o.committed || !r || r.status !== 'committed') uncommitted++;
    else if (r.items !== o.items) mismatched++;
  }
  lines.push(`orders ${orders.size}: ${orders.size - uncommitted - mismatched} with their reservation committed, ` +
    `${uncommitted} without, ${mismatched} with other items`);
  if (uncommitted || mismatched) bad.push('order without its reservation committed');

  // 2. no reservation dangling: held long past the reaper's TTL, or sold without an order
  const count = (f) => [...reservations.entries()].filter(([id, r]) => f(id, r)).length;
  const dangling = count((id, r) => r.status === 'held' && !orders.has(id) && r.old);
  const waiting = count((id, r) => r.status === 'held' && !orders.has(id) && !r.old);
  const orphanSold = count((id, r) => r.status === 'committed' && !orders.has(id));
  const released = count((id, r) => r.status === 'released' || r.status === 'expired');
  lines.push(`reservations ${reservations.size}: ${released} released (by an order or the reaper), ` +
    `${dangling} dangling, ` +
    `${waiting} held for the reaper, ${orphanSold} sold without an order`);
  if (dangling || orphanSold) bad.push('reservation left dangling');

  // 3. stock: the units of each product are conserved, none negative, reserved = held
  let broken = 0;
  let total = 0;
  let sold = 0;
  for (const s of stock) {
    const start = scope.units.get(s.product);
    const now = s.available + s.reserved + s.sold;
    total += now;
    sold += s.sold;
    if (start === undefined || now !== start || s.available < 0 || s.reserved !== s.held) broken++;
  }
  const start = [...scope.units.values()].reduce((a, b) => a + b, 0);
  let scarceText = '';
  if (scarce) {
    const s = stock.find((x) => x.product === scarce);
    if (s) scarceText = `; scarce product ${scarce}: ${s.sold} sold of ${scope.units.get(scarce)}, ${s.available} left`;
  }
  lines.push(`stock: ${stock.length} products, ${broken} not conserved (units ${total} of ${start}, ` +
    `${sold} sold)${scarceText}`);
  if (broken) bad.push('oversold or lost stock');

  // 4. idempotency: every order came from exactly one key; no key answered with two orders
  const keyless = [...orders.values()].filter((o) => o.keys !== 1).length;
  let twice = 0;
  let lost = 0;
  let resolved = 0;
  if (keyPrefix) {
    const rows = await stack.psql(
      'order',
      `SELECT key, coalesce(order_id::text, '') FROM idempotency_keys WHERE key LIKE ${lit(keyPrefix + '%')}`,
    );
    const inDb = new Map(rows);
    for (const k of keys) {
      if (k.orders.size > 1) twice++;
      if (k.final === 201) {
        resolved++;
        const [id] = k.orders;
        if (inDb.get(k.key) !== id || !orders.has(id)) lost++;
      }
    }
  }
  const open = keys.filter((k) => k.final === null).length;
  const refused = keys.filter((k) => k.final === 422).length; // "used for a different request"
  lines.push(`idempotency: ${keys.length} keys, ${resolved} answered 201, ${open} never answered; ` +
    `${twice} with two orders, ${lost} whose order is not the database's, ${keyless} orders not from exactly one key, ` +
    `${refused} refused as reused`);
  if (twice || lost || keyless) bad.push('duplicated order for an idempotency key');
  if (open) bad.push('idempotency key without a definite answer');
  if (refused) bad.push('idempotency key refused as used for another request');

  // 5. notifications: one per order, none for an unknown order
  let missing = 0;
  let doubled = 0;
  for (const id of orders.keys()) {
    const n = notes.get(id) || 0;
    if (n === 0) missing++;
    if (n > 1) doubled++;
  }
  const stray = [...notes.keys()].filter((id) => !orders.has(id)).length;
  lines.push(`notifications: ${orders.size - missing} of ${orders.size} orders notified, ${missing} lost, ` +
    `${doubled} twice, ${stray} for unknown orders`);
  if (missing || doubled || stray) bad.push('lost or doubled notification');

  await outcomes(stack, scope, { orders, reservations, notes, stock, claimTtlS, lines, bad });
  return { pass: bad.length === 0, bad, lines, counts: { orders: orders.size, sold } };
}

// "3x1,5x2" -> [[3, 1], [5, 2]]
const itemsOf = (text) => (text ? text.split(',').map((x) => x.split('x').map(Number)) : []);

// The invariants a lost answer breaks (issue 12), from the databases, once the background work is
// done: 6. no order left unconfirmed (backordered) while the stock of every line is available;
// 7. no order.confirmed event (outbox) and no notification for an order that is not confirmed;
// 8. no reservation still held once its order exists (committed or given up is its outcome);
// 9. no Idempotency-Key left in progress past the claim TTL without its order (a key with an order
//    has its answer: a replay answers 201 with the order, even when its process died before it
//    marked the key done).
async function outcomes(stack, scope, { orders, reservations, notes, stock, claimTtlS, lines, bad }) {
  const since = lit(scope.since);
  const available = new Map(stock.map((s) => [s.product, s.available]));
  const unconfirmed = [...orders.values()].filter((o) => o.status !== 'confirmed');
  const stuck = unconfirmed.filter((o) => itemsOf(o.items).every(([p, q]) => (available.get(p) ?? 0) >= q)).length;
  lines.push(`outcomes: ${unconfirmed.length} orders not confirmed, ${stuck} of them while their stock is available`);
  if (stuck) bad.push('order left unconfirmed while its stock exists');

  const events = (await stack.psql(
    'order',
    `SELECT fields->>'order_id' FROM outbox WHERE fields->>'type' = 'order.confirmed' AND created_at >= ${since}`,
  )).map(([id]) => id);
  const notConfirmed = (id) => orders.get(id)?.status !== 'confirmed';
  const falseEvents = events.filter(notConfirmed).length;
  const falseNotes = [...notes.keys()].filter((id) => orders.has(id) && notConfirmed(id)).length;
  lines.push(`events: ${events.length} order.confirmed, ${falseEvents} for an order not confirmed; ` +
    `${falseNotes} notifications for an order not confirmed`);
  if (falseEvents || falseNotes) bad.push('confirmed event for an order that is not confirmed');

  const heldPast = [...reservations.entries()].filter(([id, r]) => r.status === 'held' && orders.has(id)).length;
  lines.push(`reservations held after their order's outcome: ${heldPast}`);
  if (heldPast) bad.push("reservation held past its order's outcome");

  const [[openKeys]] = await stack.psql(
    'order',
    `SELECT count(*) FROM idempotency_keys WHERE status = 'in_progress' AND order_id IS NULL
       AND created_at >= ${since} AND created_at < now() - make_interval(secs => ${Number(claimTtlS) + 5})`,
  );
  lines.push(`keys in progress without an order past the claim TTL (${claimTtlS} s): ${openKeys}`);
  if (Number(openKeys)) bad.push('key without a final answer in the database');
}
