// The storefront as a shopper sees it, in Debian's chromium driven by playwright-core, against
// the native stack that tests/system/frontend.test.sh started. Every check reads what is on the
// screen (text, roles, labels); the only other side doors are the services' /admin/faults
// endpoints, to inject the delays a workshop would, and a listener confirming that checkout
// sends an Idempotency-Key. Screenshots go to $ARTIFACTS.
//
// Environment: SHOP_URL (the gateway), PRODUCT_URL, PRODUCT_V2_URL, ORDER_URL (the services, for
// /admin/faults), ARTIFACTS (screenshot directory), PROFILE_DIR (a fresh chromium profile).
import fs from "node:fs";
import path from "node:path";
import { chromium } from "playwright-core";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
};
const SHOP = env("SHOP_URL");
const ARTIFACTS = env("ARTIFACTS");
const PRODUCTS = [env("PRODUCT_URL"), env("PRODUCT_V2_URL")];
const ORDER = env("ORDER_URL");
const started = Date.now();
const elapsed = () => `${Math.round((Date.now() - started) / 1000)}s`;

function ok(what) {
  console.log(`ok [${elapsed()}]: ${what}`);
}

class CheckFailed extends Error {}

function check(cond, what) {
  if (!cond) throw new CheckFailed(what);
}

// Polls fn until it returns something truthy (returned), or fails with what after timeoutMs.
async function until(what, fn, timeoutMs = 10000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    try {
      last = await fn();
      if (last) return last;
    } catch (e) {
      last = e.message;
    }
    if (Date.now() > deadline) throw new CheckFailed(`${what} (after ${timeoutMs} ms; last: ${last})`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function faults(urls, body) {
  for (const url of urls) {
    const res = await fetch(`${url}/admin/faults`, {
      method: body ? "PUT" : "DELETE",
      body: body ? JSON.stringify(body) : undefined,
    });
    check(res.status === 200, `${body ? "PUT" : "DELETE"} ${url}/admin/faults: ${res.status}`);
  }
}

const shots = [];
async function shot(page, name) {
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  shots.push(file);
}

// What the "behind the scenes" strip says about the last call.
async function backstage(page) {
  const strip = page.getByRole("region", { name: "Behind the scenes" });
  const read = (id) => strip.locator(`#bs-${id}`).innerText();
  return {
    call: await read("call"),
    status: await read("status"),
    latency: await read("latency"),
    version: await read("version"),
    requestId: await read("request-id"),
  };
}

// The contrast ratio (WCAG 2) of the first element matching each selector: its text colour
// against the first opaque background behind it. Returns [{selector, ratio}].
async function contrasts(page, selectors) {
  return page.evaluate((sels) => {
    const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => {
      const f = (v) => ((v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4);
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    return sels.map((selector) => {
      const el = document.querySelector(selector);
      if (!el) return { selector, ratio: 0, missing: true };
      let bg = null;
      for (let n = el; n && !bg; n = n.parentElement) {
        const c = rgb(getComputedStyle(n).backgroundColor);
        if (c.length === 3 || (c.length === 4 && c[3] === 1)) bg = c.slice(0, 3);
      }
      const fg = rgb(getComputedStyle(el).color).slice(0, 3);
      const [a, b] = [lum(fg), lum(bg || [255, 255, 255])].sort((x, y) => y - x);
      return { selector, ratio: Math.round(((a + 0.05) / (b + 0.05)) * 100) / 100 };
    });
  }, selectors);
}

async function expectContrast(page, selectors, what) {
  const got = await contrasts(page, selectors);
  const low = got.filter((c) => !(c.ratio >= 4.5));
  check(low.length === 0, `${what}: text contrast below 4.5:1: ${JSON.stringify(low)}`);
  return Math.min(...got.map((c) => c.ratio));
}

const banner = (page) => page.getByRole("alert").filter({ hasText: "Try again" });
const heading = (page, name) => page.getByRole("heading", { level: 1, name, exact: true });

// Waits until the page shows view title with its content loaded (the heading shows while it is
// still loading, with aria-busy on main).
async function view(page, title, timeout) {
  await heading(page, title).waitFor({ timeout });
  await page.locator("main:not([aria-busy])").waitFor({ timeout });
}
const products = (page) => page.getByRole("list", { name: "Products" }).getByRole("listitem");

async function goCatalog(page) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Catalog" }).click();
  await view(page, "Catalog");
  await until("the catalog shows its products", async () => (await products(page).count()) > 0);
}

// ---- the checks ----

async function journey(page, email) {
  const orderRequests = [];
  page.on("request", (r) => {
    if (r.method() === "POST" && new URL(r.url()).pathname === "/orders") orderRequests.push(r.headers());
  });

  await page.goto(`${SHOP}/`);
  await view(page, "Catalog");
  await until("27 products in the grid", async () => (await products(page).count()) === 27);
  check(await page.getByRole("link", { name: "Cast Iron Skillet" }).isVisible(), "Cast Iron Skillet is listed");
  check(await page.getByText("$34.99").first().isVisible(), "prices are shown in dollars");
  await shot(page, "catalog");
  const min = await expectContrast(page, ["h1", ".card-title a", ".price", ".card .button", ".top nav a",
    ".brand", ".toolbar label", ".toolbar .muted", "#bs-call", ".calls dt", ".vip"], "catalog");
  ok(`catalog text contrast at least 4.5:1 (lowest ${min}:1)`);
  ok("catalog: 27 products with names and prices");

  await page.getByLabel("Category").selectOption({ label: "Books" });
  await view(page, "Catalog: books");
  await until("5 books", async () => (await products(page).count()) === 5);
  check(await page.getByRole("link", { name: "The Resilient Service" }).isVisible(), "a book is listed");
  check((await page.getByRole("link", { name: "Cast Iron Skillet" }).count()) === 0, "no kitchen item among books");
  const bs = await backstage(page);
  check(bs.call === "GET /products?limit=100&category=books" && bs.status === "200",
    `the strip shows the filtered call: ${JSON.stringify(bs)}`);
  ok("category filter: Books shows the 5 books (GET /products?...&category=books in the strip)");

  await page.getByLabel("Category").selectOption({ label: "All products" });
  await view(page, "Catalog");
  await page.getByRole("link", { name: "French Press" }).click();
  await view(page, "French Press");
  check(await page.getByText("A one-litre glass and steel press").isVisible(), "the description is shown");
  check(await page.getByText("$29.50").isVisible(), "the price is shown");
  await page.getByLabel("Quantity").selectOption("2");
  await shot(page, "product");
  await page.getByRole("button", { name: "Add to cart" }).click();
  await view(page, "Sign in or sign up");
  check(await page.getByText("Sign in to use your cart.").isVisible(), "sign-in says why");
  ok("product detail: description and price; adding while signed out asks to sign in");

  await page.getByLabel("Email").fill(email);
  await page.getByRole("button", { name: "Continue" }).click();
  await page.getByText("No account with this email yet. Enter your name to create one.").waitFor();
  await shot(page, "sign-in");
  await page.getByLabel(/^Name/).fill("Ada Shopper");
  await page.getByRole("button", { name: "Continue" }).click();
  await view(page, "Your cart");
  check(await page.getByText(email).isVisible(), "the header shows who is signed in");
  const lines = page.getByRole("list", { name: "Items in your cart" }).getByRole("listitem");
  await until("the cart has the French Press", async () => (await lines.count()) === 1 &&
    (await lines.first().innerText()).includes("French Press"));
  check(await page.getByRole("group", { name: "Quantity of French Press" }).getByText("2", { exact: true }).isVisible(),
    "quantity 2");
  check(await page.getByText("Total: $59.00").isVisible(), "total $59.00");
  ok("sign-up by email and name (POST /users), then the pending add: cart with 2 × French Press, $59.00");

  await page.getByRole("button", { name: "One more French Press" }).click();
  await page.getByText("Total: $88.50").waitFor();
  await page.getByRole("button", { name: "One less French Press" }).click();
  await page.getByText("Total: $59.00").waitFor();
  await goCatalog(page);
  await page.getByRole("button", { name: "Add to cart: Wool Socks" }).click();
  await page.getByRole("status").filter({ hasText: "Added 1 × Wool Socks to your cart." }).waitFor();
  await until("the cart count says 3", async () =>
    (await page.getByRole("link", { name: "Cart, 3 items" }).count()) === 1);
  await page.getByRole("link", { name: "Cart, 3 items" }).click();
  await view(page, "Your cart");
  await page.getByText("Total: $83.00").waitFor();
  await shot(page, "cart");
  await page.getByRole("button", { name: "Remove Wool Socks" }).click();
  await page.getByText("Total: $59.00").waitFor();
  check((await page.getByRole("link", { name: "Wool Socks" }).count()) === 0, "Wool Socks removed");
  ok("cart: + and − change the quantity and the total, add from the grid, remove a line");

  await page.getByRole("link", { name: "Checkout" }).click();
  await view(page, "Checkout");
  check(await page.getByText(`The confirmation goes to ${email}.`).isVisible(), "checkout names the email");
  await shot(page, "checkout");
  await page.getByRole("button", { name: "Place order" }).click();
  await view(page, "Thank you for your order", 20000);
  const confirmed = await page.getByText(/^Order [0-9a-f]{8} is confirmed\.$/).innerText();
  const orderShort = confirmed.slice(6, 14);
  check(orderRequests.length === 1 && /^checkout-[0-9a-f]{16}$/.test(orderRequests[0]["idempotency-key"] || ""),
    `POST /orders sent one Idempotency-Key: ${JSON.stringify(orderRequests)}`);
  const facts = page.locator("dl.facts");
  check((await facts.innerText()).includes("$59.00"), "the confirmation shows the total");
  await until("the confirmation email is sent", async () =>
    (await page.locator("#email-status").innerText()) === `sent to ${email}`, 20000);
  await shot(page, "confirmation");
  ok(`checkout: order ${orderShort} confirmed (POST /orders with an Idempotency-Key), email: sent`);

  await page.getByRole("link", { name: "Cart, 0 items" }).waitFor();
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Orders" }).click();
  await view(page, "Your orders");
  const row = page.getByRole("row").filter({ hasText: orderShort });
  await row.waitFor();
  const cells = await row.getByRole("cell").allInnerTexts();
  check(cells[0] === orderShort && cells[2] === "2" && cells[3] === "$59.00" && cells[4] === "confirmed" &&
    cells[5] === "sent", `the history row shows items, total, status and email: ${cells.join(" | ")}`);
  const last = await backstage(page);
  check(/^GET \/notifications\?user_id=\d+$/.test(last.call) && last.status === "200" &&
    /^\d+ ms$/.test(last.latency) && last.version === "v1" && /^web-[0-9a-f]{16}$/.test(last.requestId),
  `the strip shows the last call with status, latency, version and request id: ${JSON.stringify(last)}`);
  await shot(page, "orders");
  ok(`order history: ${orderShort}, $59.00, confirmed, email sent; strip: ${last.call} ${last.status} ${last.latency} ${last.version} ${last.requestId}`);
  return orderShort;
}

async function signBackIn(page, email) {
  await page.getByRole("button", { name: "Sign out" }).click();
  await page.getByRole("link", { name: "Sign in" }).click();
  await view(page, "Sign in or sign up");
  await page.getByLabel("Email").fill(email.toUpperCase());
  await page.getByRole("button", { name: "Continue" }).click();
  await view(page, "Catalog");
  check(await page.getByText(email, { exact: true }).isVisible(), "signed in again as the same user");
  ok("sign out, then sign in by email alone (GET /users?email=, any case)");
}

async function degradedCart(page) {
  await goCatalog(page);
  await page.getByRole("button", { name: "Add to cart: Desk Lamp" }).click();
  await page.getByRole("status").filter({ hasText: "Added 1 × Desk Lamp" }).waitFor();
  await faults([PRODUCTS[0]], { delay_ms: 2000, delay_percent: 100 });
  try {
    await page.getByRole("link", { name: /^Cart,/ }).click();
    await view(page, "Your cart");
    const note = page.getByRole("status").filter({ hasText: "Prices are temporarily unavailable" });
    await note.waitFor();
    check(await page.getByText("Total: unavailable").isVisible(), "the total says unavailable");
    check(await page.getByRole("link", { name: "Item #24" }).isVisible(), "the line is still there, by id");
    check((await page.getByRole("link", { name: "Checkout" }).count()) === 0, "no checkout without prices");
    await shot(page, "cart-degraded");
    await expectContrast(page, [".notice-title", ".notice p", ".line-name a", ".total"], "degraded cart");
    ok("degraded cart (product v1 delayed 2 s): 'Prices are temporarily unavailable', the line kept, no checkout");
  } finally {
    await faults([PRODUCTS[0]], null);
  }
  await page.getByRole("button", { name: "Refresh prices" }).click();
  await page.getByText("Total: $45.99").waitFor();
  ok("product back: Refresh prices shows the price and total again");
}

async function slowCatalog(page) {
  await faults(PRODUCTS, { delay_ms: 2000, delay_percent: 100 });
  try {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Catalog" }).click();
    await banner(page).waitFor({ timeout: 5000 });
    const text = await banner(page).innerText();
    check(text.includes("The product service is taking too long to answer"), `banner text: ${text}`);
    const bs = await backstage(page);
    const ms = Number.parseInt(bs.latency, 10);
    check(bs.status === "504" && ms >= 400 && ms < 1500,
      `the strip shows a 504 cut at the gateway's 0.5 s, not the 2 s delay: ${JSON.stringify(bs)}`);
    check(await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Orders" }).isEnabled(),
      "the page stays usable");
    await shot(page, "banner-504");
    await expectContrast(page, [".banner-title", ".banner p", ".banner .button"], "banner");
    ok(`product v1 and v2 delayed 2 s: banner "${text.split("\n")[0]}" after ${bs.latency} (504)`);
  } finally {
    await faults(PRODUCTS, null);
  }
  await banner(page).getByRole("button", { name: "Try again" }).click();
  await until("the catalog is back", async () => (await products(page).count()) === 27);
  check((await banner(page).count()) === 0, "the banner is gone after a good retry");
  ok("faults cleared: Try again brings the 27 products back and the banner goes");
}

async function unavailableProduct(page) {
  await faults(PRODUCTS, { abort_status: 503, abort_percent: 100 });
  try {
    await page.getByRole("link", { name: "Wall Clock" }).click();
    await banner(page).waitFor({ timeout: 5000 });
    const text = await banner(page).innerText();
    check(text.includes("The product service is temporarily unavailable") && text.includes("HTTP 503"),
      `banner text: ${text}`);
    const bs = await backstage(page);
    check(bs.status === "503" && bs.call === "GET /products/27", `the strip shows the 503: ${JSON.stringify(bs)}`);
    await shot(page, "banner-503");
    ok(`product v1 and v2 answering 503: banner "${text.split("\n")[0]}"`);
  } finally {
    await faults(PRODUCTS, null);
  }
  await banner(page).getByRole("button", { name: "Try again" }).click();
  await view(page, "Wall Clock");
  check((await banner(page).count()) === 0, "the banner is gone");
  ok("faults cleared: Try again shows the product page");
}

async function clientTimeout(page) {
  await faults([ORDER], { delay_ms: 8000, delay_percent: 100 });
  let t0;
  try {
    t0 = Date.now();
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Orders" }).click();
    await banner(page).waitFor({ timeout: 9000 });
    const waited = Date.now() - t0;
    const text = await banner(page).innerText();
    check(text.includes("No answer from the order service") && text.includes("stopped waiting after 5 seconds"),
      `banner text: ${text}`);
    check(waited >= 4500 && waited < 7500, `the page gave up after ${waited} ms, expected about 5 s`);
    const bs = await backstage(page);
    check(bs.status === "no answer within 5 s", `the strip shows the time-out: ${JSON.stringify(bs)}`);
    ok(`order service delayed 8 s: the page's own 5 s limit fired after ${waited} ms, banner "${text.split("\n")[0]}"`);
  } finally {
    await faults([ORDER], null);
  }
  await banner(page).getByRole("button", { name: "Try again" }).click();
  await page.getByRole("table").waitFor();
  check((await banner(page).count()) === 0, "the banner is gone");
  ok("order service back: Try again shows the order history");
}

async function vipBadge(page) {
  await goCatalog(page);
  const vip = page.getByRole("switch", { name: "VIP customer" });
  await vip.focus();
  await page.keyboard.press("Space");
  check(await vip.isChecked(), "Space toggles the VIP switch");
  await until("every product shows SALE", async () =>
    (await page.locator(".badge", { hasText: "SALE" }).count()) === 27 && (await products(page).count()) === 27);
  let bs = await backstage(page);
  check(bs.version === "v2", `VIP requests answered by v2: ${JSON.stringify(bs)}`);
  await shot(page, "catalog-vip");
  await expectContrast(page, [".badge", ".sale-note", "body.is-vip .vip"], "SALE badge");
  ok("VIP switch (keyboard): all 27 products carry the SALE badge, x-service-version v2");

  await vip.click();
  check(!(await vip.isChecked()), "VIP off");
  // Without VIP 1 request in 10 goes to v2: reload until v1 answers (0.1^20 to fail by chance).
  for (let i = 0; i < 20; i++) {
    await page.waitForTimeout(50);
    bs = await backstage(page);
    if (bs.call.startsWith("GET /products") && bs.version === "v1") break;
    await page.reload();
    await view(page, "Catalog");
    await until("products", async () => (await products(page).count()) === 27);
  }
  check(bs.version === "v1", "v1 answered within 20 reloads");
  check((await page.locator(".badge").count()) === 0, "no SALE badge from v1");
  await shot(page, "catalog-v1");
  ok("VIP off: v1 answers and no product carries a badge");
}

async function keyboard(context) {
  const page = await context.newPage();
  await page.goto(`${SHOP}/`);
  await view(page, "Catalog");
  await page.keyboard.press("Tab");
  const skip = page.getByRole("link", { name: "Skip to content" });
  check(await skip.evaluate((el) => el === document.activeElement), "the first Tab reaches the skip link");
  const box = await skip.boundingBox();
  check(box && box.y >= 0, "the focused skip link is on screen");
  await page.keyboard.press("Enter");
  check(await heading(page, "Catalog").evaluate((el) => el === document.activeElement), "Enter moves focus to the page heading");
  await page.keyboard.press("Tab");
  const focused = await page.evaluate(() => {
    const el = document.activeElement;
    const s = getComputedStyle(el);
    return { label: el.getAttribute("aria-label") || el.textContent.trim(), outline: s.outlineStyle, width: s.outlineWidth };
  });
  check(focused.outline === "solid" && Number.parseFloat(focused.width) >= 2,
    `keyboard focus is visible: ${JSON.stringify(focused)}`);
  const link = page.getByRole("link", { name: "Chef's Knife" });
  await link.focus();
  await page.keyboard.press("Enter");
  await view(page, "Chef's Knife");
  ok(`keyboard: skip link, focus to the heading, visible focus (${focused.outline} ${focused.width}), Enter opens a product`);
  await page.close();
}

async function phone(browserContext) {
  const page = await browserContext.newPage();
  await page.setViewportSize({ width: 375, height: 740 });
  await page.goto(`${SHOP}/`);
  await view(page, "Catalog");
  await until("products", async () => (await products(page).count()) === 27);
  const widths = await page.evaluate(() => [document.documentElement.scrollWidth, window.innerWidth]);
  check(widths[0] <= widths[1], `no sideways scrolling at 375 px: ${widths}`);
  const first = await products(page).first().boundingBox();
  check(first && first.width > 300, `a product card takes the phone's width: ${JSON.stringify(first)}`);
  for (const name of ["Catalog", "Orders"]) {
    check(await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name }).isVisible(), `${name} reachable`);
  }
  check(await page.getByRole("switch", { name: "VIP customer" }).isVisible(), "VIP switch reachable");
  await shot(page, "catalog-phone");
  await page.getByRole("link", { name: /^Cart,/ }).click();
  await view(page, "Your cart");
  const w2 = await page.evaluate(() => document.documentElement.scrollWidth);
  check(w2 <= 375, `the cart fits 375 px: ${w2}`);
  await shot(page, "cart-phone");
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Orders" }).click();
  await view(page, "Your orders");
  await page.getByRole("table").waitFor();
  const w3 = await page.evaluate(() => document.documentElement.scrollWidth);
  check(w3 <= 375, `the order history fits 375 px: ${w3}`);
  ok(`phone width (375 px): one column (card ${Math.round(first.width)} px), nothing wider than the screen`);
  await page.close();
}

async function main() {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const context = await chromium.launchPersistentContext(env("PROFILE_DIR"), {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
    viewport: { width: 1280, height: 860 },
  });
  context.setDefaultTimeout(10000);
  const page = context.pages()[0] || (await context.newPage());
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => {
    if (m.type() === "error" && !/status of 5\d\d|Failed to load resource/.test(m.text())) errors.push(m.text());
  });
  const email = `shopper-${process.pid}-${Date.now()}@example.com`;
  let failed = false;
  try {
    await journey(page, email);
    await signBackIn(page, email);
    await degradedCart(page);
    await slowCatalog(page);
    await unavailableProduct(page);
    await clientTimeout(page);
    await vipBadge(page);
    await keyboard(context);
    await phone(context);
    check(errors.length === 0, `no script errors on the page: ${errors.join(" | ")}`);
    ok("no script errors on the page");
  } catch (e) {
    failed = true;
    console.error(`FAIL: ${e instanceof CheckFailed ? e.message : e.stack}`);
    await page.screenshot({ path: path.join(ARTIFACTS, "failure.png") }).catch(() => {});
    console.error(`the page at the failure: ${path.join(ARTIFACTS, "failure.png")}`);
  } finally {
    await context.close();
  }
  if (failed) process.exit(1);
  console.log(`storefront: all checks passed in ${elapsed()}, ${shots.length} screenshots`);
}

await main();
