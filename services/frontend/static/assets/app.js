/* The storefront: a hash-routed single page over the gateway's API (api.js). Views: catalog,
 * product, sign-in, cart, checkout, order confirmation and order history. Failures the user can
 * do nothing about but wait (504, 503, time-outs, no network) show one banner with a retry
 * button; answers the user can act on (out of stock, unknown email) show next to the form. */
"use strict";

/* ---- small helpers ---- */

/* Builds an element: h("a", {href: "#/"}, "text", child...). Text is always a text node, never
 * HTML, so names from the API cannot inject markup. on* attributes become listeners. */
function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v === null || v === undefined) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else if (k === "class") el.className = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    el.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return el;
}

const $ = (sel) => document.querySelector(sel);

function money(cents, currency) {
  return new Intl.NumberFormat("en-US", { style: "currency", currency: currency || "USD" }).format(
    cents / 100,
  );
}

function shortId(id) {
  return String(id).slice(0, 8);
}

function when(iso) {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString("en-GB", { dateStyle: "medium", timeStyle: "short" });
}

/* ---- what the page remembers (localStorage: survives reloads, stays in this browser) ---- */

const store = {
  read(key, fallback) {
    try {
      const v = localStorage.getItem("microshop." + key);
      return v === null ? fallback : JSON.parse(v);
    } catch (e) {
      return fallback;
    }
  },
  write(key, value) {
    try {
      if (value === null || value === undefined) localStorage.removeItem("microshop." + key);
      else localStorage.setItem("microshop." + key, JSON.stringify(value));
    } catch (e) {
      /* private mode: the page works, it just forgets */
    }
  },
  get user() {
    return this.read("user", null);
  },
  set user(u) {
    this.write("user", u);
  },
};

/* ---- the banner, the polite status line, the behind-the-scenes strip ---- */

const problemText = {
  deadline: (e) => [
    `The ${e.service} service is taking too long to answer`,
    "The gateway stopped waiting (HTTP 504) so the shop stays responsive. This is usually " +
      "temporary: try again in a moment.",
  ],
  unavailable: (e) => [
    `The ${e.service} service is temporarily unavailable`,
    `It could not serve this request (HTTP ${e.status}). Nothing is lost: try again in a moment.`,
  ],
  timeout: (e) => [
    `No answer from the ${e.service} service`,
    `The page stopped waiting after ${e.limitMs / 1000} seconds. The service may be overloaded: ` +
      "try again in a moment.",
  ],
  network: () => ["The shop cannot be reached", "Check your connection, then try again."],
  server: (e) => [
    "Something went wrong on our side",
    `The ${e.service} service failed (HTTP ${e.status}). Try again; if it keeps happening, ` +
      "tell us the request id below.",
  ],
};

const ui = {
  /* Shows the banner for an ApiError (anything else is a bug: rethrown); retry runs on the
   * button. Focus stays where it is; the live region announces the banner. */
  problem(err, retry) {
    if (!(err instanceof ApiError)) throw err;
    const [title, detail] = problemText[err.kind](err);
    const button = h(
      "button",
      {
        type: "button",
        class: "button",
        onclick: async () => {
          ui.clearProblem();
          await retry();
        },
      },
      "Try again",
    );
    $("#banner").replaceChildren(
      h(
        "div",
        { class: "banner" },
        h("p", { class: "banner-title" }, title),
        h("p", {}, detail),
        h("p", { class: "banner-id" }, `Request id: ${err.requestId}`),
        button,
      ),
    );
  },
  clearProblem() {
    $("#banner").replaceChildren();
  },
  /* A short, polite announcement ("Added to your cart"), gone after a few seconds. */
  say(text) {
    clearTimeout(ui.sayTimer);
    $("#status").textContent = text;
    ui.sayTimer = setTimeout(() => {
      $("#status").textContent = "";
    }, 6000);
  },
  /* The cart count in the navigation. */
  cartCount(n) {
    store.write("cartCount", n);
    const el = $("#cart-count");
    el.textContent = String(n);
    el.hidden = n === 0;
    $("#cart-link").setAttribute("aria-label", n === 1 ? "Cart, 1 item" : `Cart, ${n} items`);
  },
};

/* The strip: the last call in full, a few before it, and which product versions answered. */
const backstage = (() => {
  const recent = [];
  const versions = {};

  function show(entry) {
    const status = entry.status ? String(entry.status) : entry.outcome;
    $("#bs-call").textContent = `${entry.method} ${entry.path}`;
    $("#bs-status").textContent = status;
    $("#bs-latency").textContent = `${entry.latencyMs} ms`;
    $("#bs-version").textContent = entry.version || "—";
    $("#bs-request-id").textContent = entry.requestId;
    $("#backstage").dataset.outcome = entry.status && entry.status < 500 ? "ok" : "failed";
    recent.unshift(`${entry.method} ${entry.path} → ${status}, ${entry.latencyMs} ms` +
      (entry.version ? `, ${entry.version}` : ""));
    recent.length = Math.min(recent.length, 6);
    $("#bs-recent").replaceChildren(...recent.slice(1).map((t) => h("li", {}, t)));
    if (entry.service === "product" && entry.version) {
      versions[entry.version] = (versions[entry.version] || 0) + 1;
      $("#bs-versions").textContent = Object.keys(versions)
        .sort()
        .map((v) => `${v} × ${versions[v]}`)
        .join(", ");
    }
  }
  return { show };
})();

/* ---- views ---- */

/* Every navigation gets a token; a view that awaited something checks ctx.alive() before it
 * touches the page, so a slow answer never paints over the page the user went to since. */
let navToken = 0;

function page(ctx, title, ...content) {
  if (!ctx.alive()) return false;
  document.title = `${title} · microshop`;
  const heading = h("h1", { tabindex: "-1" }, title);
  $("#main").replaceChildren(heading, ...content.filter((c) => c !== null && c !== false));
  $("#main").removeAttribute("aria-busy");
  if (ctx.focus) heading.focus({ preventScroll: false });
  return true;
}

function loading(ctx, title) {
  $("#main").setAttribute("aria-busy", "true");
  page({ ...ctx, focus: false }, title, h("p", { class: "muted" }, "Loading…"));
  $("#main").setAttribute("aria-busy", "true");
}

/* Runs a view's loading step; on an ApiError shows the banner (retry: the same view again) and
 * an honest placeholder, and resolves null. */
async function attempt(ctx, title, fn) {
  try {
    return await fn();
  } catch (err) {
    if (!ctx.alive()) return null;
    ui.problem(err, () => render({ focus: false }));
    page(ctx, title, h("p", { class: "muted" }, "This part of the shop could not be loaded just now."));
    return null;
  }
}

function requireUser(ctx, why) {
  const user = store.user;
  if (!user) {
    location.hash = `#/signin?next=${encodeURIComponent(ctx.hash)}&why=${encodeURIComponent(why)}`;
    return null;
  }
  return user;
}

function productCard(p) {
  return h(
    "li",
    { class: "card" },
    h("img", { src: p.image_url, alt: "", width: 320, height: 240, loading: "lazy" }),
    h(
      "div",
      { class: "card-body" },
      h("h2", { class: "card-title" }, h("a", { href: `#/product/${p.id}` }, p.name)),
      h(
        "p",
        { class: "price-line" },
        h("span", { class: "price" }, money(p.price_cents, p.currency)),
        p.badge ? h("span", { class: "badge" }, p.badge) : null,
      ),
      h("button", { type: "button", class: "button", "aria-label": `Add to cart: ${p.name}`,
        onclick: () => addToCart(p.id, 1, p.name) }, "Add to cart"),
    ),
  );
}

let knownCategories = store.read("categories", []);

async function catalogView(ctx) {
  const category = ctx.query.get("category") || "";
  const title = category ? `Catalog: ${category}` : "Catalog";
  loading(ctx, title);
  const path = "/products?limit=100" + (category ? `&category=${encodeURIComponent(category)}` : "");
  const result = await attempt(ctx, title, () => api.call("GET", path));
  if (!result) return;
  if (result.status !== 200) {
    page(ctx, title, h("p", { class: "error" }, api.message(result, "The catalog could not be read.")));
    return;
  }
  const items = result.data.items;
  if (!category) {
    knownCategories = [...new Set(items.map((p) => p.category))].sort();
    store.write("categories", knownCategories);
  }
  const select = h(
    "select",
    {
      id: "category",
      onchange: (e) => {
        location.hash = e.target.value ? `#/?category=${encodeURIComponent(e.target.value)}` : "#/";
      },
    },
    h("option", { value: "" }, "All products"),
    [...new Set([...knownCategories, category].filter(Boolean))].map((c) =>
      h("option", { value: c, selected: c === category }, c[0].toUpperCase() + c.slice(1)),
    ),
  );
  const sale = items.some((p) => p.badge);
  page(
    ctx,
    title,
    h("div", { class: "toolbar" }, h("label", { for: "category" }, "Category"), select,
      h("p", { class: "muted", id: "catalog-count" }, `${items.length} products`)),
    sale ? h("p", { class: "sale-note" }, "Sale on now: the new catalog (v2) is answering.") : null,
    items.length
      ? h("ul", { class: "grid", "aria-label": "Products" }, items.map(productCard))
      : h("p", {}, "No products in this category."),
  );
}

async function productView(ctx) {
  const id = ctx.params[0];
  loading(ctx, "Product");
  const result = await attempt(ctx, "Product", () => api.call("GET", `/products/${id}`));
  if (!result) return;
  if (result.status !== 200) {
    page(ctx, "Product not found", h("p", {}, api.message(result, "No such product.")),
      h("p", {}, h("a", { href: "#/" }, "Back to the catalog")));
    return;
  }
  const p = result.data;
  const qty = h("select", { id: "quantity" },
    Array.from({ length: 10 }, (_, i) => h("option", { value: i + 1 }, i + 1)));
  page(
    ctx,
    p.name,
    h(
      "div",
      { class: "detail" },
      h("img", { src: p.image_url, alt: "", width: 320, height: 240 }),
      h(
        "div",
        {},
        p.badge ? h("p", {}, h("span", { class: "badge" }, p.badge)) : null,
        h("p", { class: "price big" }, money(p.price_cents, p.currency)),
        h("p", {}, p.description),
        h("p", { class: "muted" }, `Category: ${p.category}`),
        h(
          "form",
          {
            class: "buy",
            onsubmit: (e) => {
              e.preventDefault();
              addToCart(p.id, Number(qty.value), p.name);
            },
          },
          h("label", { for: "quantity" }, "Quantity"),
          qty,
          h("button", { type: "submit", class: "button" }, "Add to cart"),
        ),
        h("p", {}, h("a", { href: "#/" }, "← Back to the catalog")),
      ),
    ),
  );
}

async function addToCart(productId, quantity, name) {
  const user = store.user;
  ui.clearProblem();
  if (!user) {
    store.write("pendingAdd", { productId, quantity, name });
    location.hash = `#/signin?next=${encodeURIComponent("#/cart")}&why=cart`;
    return;
  }
  try {
    const result = await api.call("POST", `/cart/${user.id}`, {
      body: { product_id: productId, quantity },
    });
    if (result.status === 200) {
      ui.cartCount(result.data.items.reduce((n, l) => n + l.quantity, 0));
      ui.say(`Added ${quantity} × ${name} to your cart.`);
    } else {
      ui.say(api.message(result, "That could not be added to your cart."));
    }
  } catch (err) {
    ui.problem(err, () => addToCart(productId, quantity, name));
  }
}

function itemCount(cart) {
  return cart.items.reduce((n, l) => n + l.quantity, 0);
}

/* Changes a cart line and shows the cart that comes back. The cart API adds to a line or
 * removes it; a smaller quantity is a removal and an add of the new amount. */
async function changeLine(user, line, to) {
  ui.clearProblem();
  try {
    let result;
    if (to > line.quantity) {
      result = await api.call("POST", `/cart/${user.id}`, {
        body: { product_id: line.product_id, quantity: to - line.quantity },
      });
    } else {
      result = await api.call("DELETE", `/cart/${user.id}/${line.product_id}`);
      if (to > 0 && (result.status === 200 || result.status === 404)) {
        line = { ...line, quantity: 0 }; /* a retry from here only adds */
        result = await api.call("POST", `/cart/${user.id}`, {
          body: { product_id: line.product_id, quantity: to },
        });
      }
    }
    if (result.status !== 200) ui.say(api.message(result, "The cart could not be changed."));
    else ui.say(to === 0 ? `Removed ${line.name || "the item"} from your cart.` : `Quantity is now ${to}.`);
  } catch (err) {
    ui.problem(err, () => changeLine(user, line, to));
    return;
  }
  render({ focus: false });
}

function cartLine(user, line, degraded) {
  const name = line.name || `Item #${line.product_id}`;
  return h(
    "li",
    { class: "line" },
    h("div", { class: "line-name" }, h("a", { href: `#/product/${line.product_id}` }, name)),
    h(
      "div",
      { class: "qty", role: "group", "aria-label": `Quantity of ${name}` },
      h("button", { type: "button", class: "button small", "aria-label": `One less ${name}`,
        disabled: line.quantity <= 1, onclick: () => changeLine(user, line, line.quantity - 1) }, "−"),
      h("span", { class: "qty-value" }, String(line.quantity)),
      h("button", { type: "button", class: "button small", "aria-label": `One more ${name}`,
        disabled: line.quantity >= 99, onclick: () => changeLine(user, line, line.quantity + 1) }, "+"),
    ),
    h("div", { class: "line-price" },
      degraded || line.price_cents == null ? "—" : money(line.price_cents * line.quantity)),
    h("button", { type: "button", class: "button link", "aria-label": `Remove ${name}`,
      onclick: () => changeLine(user, line, 0) }, "Remove"),
  );
}

async function loadCart(ctx, user, title) {
  const result = await attempt(ctx, title, () => api.call("GET", `/cart/${user.id}`));
  if (!result) return null;
  if (result.status !== 200) {
    page(ctx, title, h("p", { class: "error" }, api.message(result, "The cart could not be read.")));
    return null;
  }
  ui.cartCount(itemCount(result.data));
  return result.data;
}

const degradedNote = () =>
  h(
    "div",
    { class: "notice", role: "status" },
    h("p", { class: "notice-title" }, "Prices are temporarily unavailable"),
    h("p", {}, "Your items are safe. We cannot show prices and totals right now because the " +
      "product service is slow to answer; checkout opens again once they are back."),
    h("button", { type: "button", class: "button", onclick: () => render({ focus: false }) },
      "Refresh prices"),
  );

/* The signed-in user and their cart, for a view titled title; null when there is nothing to
 * show beyond what this already showed (sign-in, the banner, an empty cart). */
async function userCart(ctx, title, why) {
  const user = requireUser(ctx, why);
  if (!user) return null;
  loading(ctx, title);
  const cart = await loadCart(ctx, user, title);
  if (!cart) return null;
  if (cart.items.length === 0) {
    page(ctx, title, h("p", {}, "Your cart is empty."),
      h("p", {}, h("a", { href: "#/" }, "Browse the catalog")));
    return null;
  }
  return { user, cart };
}

/* A table of order or cart lines: rows of [item, quantity, price]. */
function itemsTable(caption, rows) {
  return h("table", { class: "summary" },
    h("caption", { class: "visually-hidden" }, caption),
    h("thead", {}, h("tr", {}, ["Item", "Quantity", "Price"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.map((cells) => h("tr", {}, cells.map((c) => h("td", {}, String(c)))))));
}

async function cartView(ctx) {
  const got = await userCart(ctx, "Your cart", "cart");
  if (!got) return;
  const { user, cart } = got;
  page(
    ctx,
    "Your cart",
    cart.degraded ? degradedNote() : null,
    h("ul", { class: "lines", "aria-label": "Items in your cart" },
      cart.items.map((l) => cartLine(user, l, cart.degraded))),
    h("p", { class: "total" }, "Total: ",
      h("strong", {}, cart.degraded || cart.total_cents == null ? "unavailable" : money(cart.total_cents))),
    cart.degraded
      ? h("p", { class: "muted" }, "Checkout needs current prices.")
      : h("p", {}, h("a", { class: "button primary", href: "#/checkout" }, "Checkout")),
  );
}

/* One Idempotency-Key per checkout attempt: kept while the cart stays the same, so a retry after
 * a time-out or a 503 replays the first answer instead of buying twice. */
function checkoutKey(cart) {
  const signature = cart.items.map((l) => `${l.product_id}x${l.quantity}`).join(",");
  const saved = store.read("checkout", null);
  if (saved && saved.signature === signature) return saved.key;
  const key = api.newRequestId().replace("web-", "checkout-");
  store.write("checkout", { signature, key });
  return key;
}

async function placeOrder(user, cart, button, errorBox) {
  const key = checkoutKey(cart);
  ui.clearProblem();
  errorBox.replaceChildren();
  button.disabled = true;
  button.textContent = "Placing your order…";
  try {
    const result = await api.call("POST", "/orders", {
      body: { user_id: user.id },
      headers: { "Idempotency-Key": key },
      timeoutMs: api.settings.checkout_timeout_ms,
    });
    if (result.status === 201) {
      store.write("checkout", null);
      ui.cartCount(0);
      location.hash = `#/order/${result.data.id}`;
      return;
    }
    if (result.status === 422) store.write("checkout", null);
    errorBox.replaceChildren(h("p", {}, api.message(result, "The order could not be placed.")));
  } catch (err) {
    ui.problem(err, () => placeOrder(user, cart, button, errorBox));
  }
  button.disabled = false;
  button.textContent = "Place order";
}

async function checkoutView(ctx) {
  const got = await userCart(ctx, "Checkout", "checkout");
  if (!got) return;
  const { user, cart } = got;
  const errorBox = h("div", { class: "error", role: "alert" });
  const button = h("button", { type: "button", class: "button primary" }, "Place order");
  button.addEventListener("click", () => placeOrder(user, cart, button, errorBox));
  page(
    ctx,
    "Checkout",
    cart.degraded ? degradedNote() : null,
    itemsTable("Order summary", cart.items.map((l) => [l.name || `Item #${l.product_id}`, l.quantity,
      l.price_cents == null ? "—" : money(l.price_cents * l.quantity)])),
    h("p", { class: "total" }, "Total: ",
      h("strong", {}, cart.total_cents == null ? "unavailable" : money(cart.total_cents))),
    h("p", { class: "muted" }, `The confirmation goes to ${user.email}.`),
    errorBox,
    cart.degraded ? null : button,
  );
}

/* The notification for an order: "sent", or pending while the notification service has not
 * recorded it yet (it reads the orders.events stream; nothing is lost while it is away). */
function emailStatus(n, short) {
  if (!n) return "pending";
  return n.status === "sent" && !short ? `sent to ${n.email}` : n.status;
}

async function orderView(ctx) {
  const id = ctx.params[0];
  loading(ctx, "Order");
  const result = await attempt(ctx, "Order", () => api.call("GET", `/orders/${id}`));
  if (!result) return;
  if (result.status !== 200) {
    page(ctx, "Order not found", h("p", {}, api.message(result, "No such order.")));
    return;
  }
  const o = result.data;
  const email = h("dd", { id: "email-status" }, "checking…");
  page(
    ctx,
    "Thank you for your order",
    h("p", { class: "confirmed" }, `Order ${shortId(o.id)} is ${o.status}.`),
    h("dl", { class: "facts" },
      h("dt", {}, "Order number"), h("dd", {}, h("code", {}, o.id)),
      h("dt", {}, "Placed"), h("dd", {}, when(o.created_at)),
      h("dt", {}, "Total"), h("dd", {}, money(o.total_cents, o.currency)),
      h("dt", {}, "Confirmation email"), email),
    itemsTable("Items in this order", o.items.map((l) => [l.name, l.quantity,
      money(l.unit_price_cents * l.quantity, o.currency)])),
    h("p", {}, h("a", { href: "#/orders" }, "All your orders"), " · ", h("a", { href: "#/" }, "Keep shopping")),
  );
  for (let i = 0; i < 20 && ctx.alive(); i++) {
    let text;
    try {
      const n = await api.call("GET", `/notifications?order_id=${encodeURIComponent(o.id)}`);
      text = n.status === 200 ? emailStatus(n.data.items[0]) : "unknown";
    } catch (err) {
      text = "unknown for now (the notification service is not answering)";
    }
    if (!ctx.alive()) return;
    email.textContent = text;
    if (!text.startsWith("pending") && !text.startsWith("unknown")) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function ordersView(ctx) {
  const user = requireUser(ctx, "orders");
  if (!user) return;
  loading(ctx, "Your orders");
  const result = await attempt(ctx, "Your orders", () =>
    api.call("GET", `/orders?user_id=${user.id}`));
  if (!result) return;
  if (result.status !== 200) {
    page(ctx, "Your orders", h("p", { class: "error" }, api.message(result, "Your orders could not be read.")));
    return;
  }
  const orders = result.data.items;
  if (orders.length === 0) {
    page(ctx, "Your orders", h("p", {}, "No orders yet."), h("p", {}, h("a", { href: "#/" }, "Browse the catalog")));
    return;
  }
  /* One call for every order's email status; without it the orders still show. */
  let byOrder = null;
  try {
    const n = await api.call("GET", `/notifications?user_id=${user.id}`);
    if (n.status === 200) byOrder = new Map(n.data.items.map((x) => [x.order_id, x]));
  } catch (err) {
    byOrder = null;
  }
  page(
    ctx,
    "Your orders",
    byOrder ? null : h("p", { class: "notice", role: "status" },
      "Email statuses are unavailable right now; your orders are all here."),
    h("div", { class: "table-wrap" }, h("table", { class: "summary orders" },
      h("caption", { class: "visually-hidden" }, "Your orders, newest first"),
      h("thead", {}, h("tr", {}, ["Order", "Placed", "Items", "Total", "Status", "Email"].map((t) =>
        h("th", { scope: "col" }, t)))),
      h("tbody", {}, orders.map((o) => h("tr", {},
        h("td", {}, h("a", { href: `#/order/${o.id}` }, shortId(o.id))),
        h("td", {}, when(o.created_at)),
        h("td", {}, String(o.items.reduce((n, l) => n + l.quantity, 0))),
        h("td", {}, money(o.total_cents, o.currency)),
        h("td", {}, o.status),
        h("td", {}, byOrder ? emailStatus(byOrder.get(o.id), true) : "unknown")))))),
  );
}

/* Sign in by email; an unknown email with a name signs up (POST /users). */
async function signIn(form, ctx) {
  const email = form.elements.email.value.trim();
  const name = form.elements.name.value.trim();
  const errorBox = form.querySelector(".error");
  errorBox.replaceChildren();
  ui.clearProblem();
  try {
    let result = await api.call("GET", `/users?email=${encodeURIComponent(email)}`);
    if (result.status === 404) {
      if (!name) {
        errorBox.replaceChildren(h("p", {}, "No account with this email yet. Enter your name to create one."));
        form.elements.name.focus();
        return;
      }
      result = await api.call("POST", "/users", { body: { email, name } });
      if (result.status === 409) result = await api.call("GET", `/users?email=${encodeURIComponent(email)}`);
    }
    if (result.status !== 200 && result.status !== 201) {
      errorBox.replaceChildren(h("p", {}, api.message(result, "That did not work.")));
      return;
    }
    store.user = { id: result.data.id, email: result.data.email, name: result.data.name };
    showAccount();
    ui.say(`Signed in as ${result.data.email}.`);
    await afterSignIn(ctx);
  } catch (err) {
    ui.problem(err, () => signIn(form, ctx));
  }
}

async function afterSignIn(ctx) {
  const pending = store.read("pendingAdd", null);
  store.write("pendingAdd", null);
  if (pending) await addToCart(pending.productId, pending.quantity, pending.name);
  const next = ctx.query.get("next");
  location.hash = next && next.startsWith("#/") && !next.startsWith("#/signin") ? next : "#/";
}

const signInReasons = {
  cart: "Sign in to use your cart.",
  checkout: "Sign in to check out.",
  orders: "Sign in to see your orders.",
};

function signInView(ctx) {
  const form = h(
    "form",
    { class: "signin", novalidate: false, onsubmit: (e) => {
      e.preventDefault();
      signIn(form, ctx);
    } },
    h("div", { class: "field" }, h("label", { for: "email" }, "Email"),
      h("input", { id: "email", name: "email", type: "email", required: true, autocomplete: "email",
        maxlength: 254 })),
    h("div", { class: "field" }, h("label", { for: "name" }, "Name ", h("span", { class: "muted" }, "(new customers)")),
      h("input", { id: "name", name: "name", type: "text", autocomplete: "name", maxlength: 100,
        "aria-describedby": "name-hint" }),
      h("p", { id: "name-hint", class: "muted" }, "Only needed the first time: it creates your account.")),
    h("div", { class: "error", role: "alert" }),
    h("button", { type: "submit", class: "button primary" }, "Continue"),
  );
  const why = signInReasons[ctx.query.get("why")];
  page(ctx, "Sign in or sign up", why ? h("p", {}, why) : null, form);
}

/* ---- routing ---- */

const routes = [
  [/^\/$/, catalogView],
  [/^\/product\/(\d+)$/, productView],
  [/^\/cart$/, cartView],
  [/^\/checkout$/, checkoutView],
  [/^\/order\/([0-9a-f-]+)$/, orderView],
  [/^\/orders$/, ordersView],
  [/^\/signin$/, signInView],
];

function notFoundView(ctx) {
  page(ctx, "Page not found", h("p", {}, h("a", { href: "#/" }, "Back to the catalog")));
}

/* Shows the view for location.hash ("#/product/3", "#/?category=books"). */
function render(opts = {}) {
  const hash = location.hash && location.hash.startsWith("#/") ? location.hash : "#/";
  const [path, query] = hash.slice(1).split("?");
  const token = ++navToken;
  const ctx = {
    hash,
    query: new URLSearchParams(query || ""),
    params: [],
    focus: opts.focus !== false,
    alive: () => token === navToken,
  };
  ui.clearProblem();
  for (const [re, view] of routes) {
    const m = re.exec(path);
    if (m) {
      ctx.params = m.slice(1);
      for (const a of document.querySelectorAll("nav a")) {
        a.toggleAttribute("aria-current", a.getAttribute("href") === `#${path}`);
        if (a.hasAttribute("aria-current")) a.setAttribute("aria-current", "page");
      }
      return view(ctx);
    }
  }
  return notFoundView(ctx);
}

function showAccount() {
  const user = store.user;
  const box = $("#account");
  if (!user) {
    box.replaceChildren(h("a", { href: "#/signin" }, "Sign in"));
    return;
  }
  box.replaceChildren(
    h("span", { class: "who" }, user.email),
    h("button", { type: "button", class: "button link", onclick: () => {
      store.user = null;
      store.write("checkout", null);
      ui.cartCount(0);
      showAccount();
      ui.say("Signed out.");
      location.hash = "#/";
    } }, "Sign out"),
  );
}

function setupVip() {
  const box = $("#vip");
  box.checked = Boolean(store.read("vip", false));
  api.setVip(box.checked);
  document.body.classList.toggle("is-vip", box.checked);
  box.addEventListener("change", () => {
    store.write("vip", box.checked);
    api.setVip(box.checked);
    document.body.classList.toggle("is-vip", box.checked);
    ui.say(box.checked ? "VIP on: you see the new catalog (v2)." : "VIP off.");
    render({ focus: false });
  });
}

async function start() {
  api.onCall(backstage.show);
  setupVip();
  showAccount();
  ui.cartCount(store.read("cartCount", 0));
  $(".skip").addEventListener("click", (e) => {
    e.preventDefault();
    const heading = $("#main h1");
    (heading || $("#main")).focus();
  });
  await api.loadSettings();
  window.addEventListener("hashchange", () => render());
  render({ focus: false });
}

start();
