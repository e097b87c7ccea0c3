// The API reference page (/api.html) in Debian's chromium driven by playwright-core: every
// document it lists is rendered with one section per operation of that document (as
// tests/deploy/lib/openapi.mjs reads it from docs/api, or from --docs DIR), under the page's
// CSP, with no script error, no CSP violation and no error in its status line.
//
//   FRONTEND_URL=http://127.0.0.1:PORT PROFILE_DIR=DIR node tests/system/browser/apipage.mjs [--docs DIR]
// Exit status: 0 all good, 1 a check failed.
import path from "node:path";
import { chromium } from "playwright-core";
import { loadDocs, operations } from "../../deploy/lib/openapi.mjs";

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), "../../..");

function env(name) {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set`);
  return v;
}

function check(cond, what) {
  if (!cond) throw new Error(what);
}

async function main() {
  const i = process.argv.indexOf("--docs");
  const docs = loadDocs(i > 0 ? path.resolve(process.argv[i + 1]) : path.join(ROOT, "docs/api"));
  const context = await chromium.launchPersistentContext(env("PROFILE_DIR"), {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
  });
  context.setDefaultTimeout(10000);
  const errors = [];
  try {
    const page = context.pages()[0] || (await context.newPage());
    page.on("pageerror", (e) => errors.push(e.message));
    page.on("console", (m) => {
      if (m.type() === "error") errors.push(m.text());
    });
    await page.goto(`${env("FRONTEND_URL")}/api.html`);
    const listed = await page.$$eval("#api-documents a", (as) => as.map((a) => a.textContent));
    check(listed.join() === [...docs.keys()].join(),
      `the page lists ${listed.join(", ")}; docs/api holds ${[...docs.keys()].join(", ")}`);
    for (const name of docs.keys()) {
      await page.click(`#api-documents a[data-name="${name}"]`);
      await page.waitForFunction((t) => document.querySelector("main h1").textContent === t,
        docs.get(name).info.title);
      const shown = await page.$$eval("main .op h3", (hs) => hs.map((h) => h.textContent));
      const want = operations(docs, name).map((o) => `${o.method}${o.path}`);
      check(shown.join() === want.join(), `${name}: the page shows [${shown.join(", ")}], ` +
        `the document has [${want.join(", ")}]`);
      const status = await page.textContent("#status");
      check(status === "", `${name}: the page says: ${status}`);
      const responses = await page.$$eval("main .op h5", (hs) => hs.length);
      check(responses >= want.length, `${name}: ${responses} responses shown for ${want.length} operations`);
      console.log(`ok: ${name}: ${shown.length} operations, ${responses} responses rendered`);
    }
    check(errors.length === 0, `script errors or CSP violations: ${errors.join(" | ")}`);
    console.log("ok: the API page renders every document, no script error, no CSP violation");
  } finally {
    await context.close();
  }
}

main().catch((e) => {
  console.error(`FAIL ${e.message}`);
  process.exitCode = 1;
});
