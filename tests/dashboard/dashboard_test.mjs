// The dashboard in Chromium (Debian's, never a downloaded one) with Playwright and axe-core.
// Run by tests/e2e/dashboard_playwright.sh against `up --demo`; environment:
// UL_URL (http://127.0.0.1:PORT/), UL_ADMIN_KEY, UL_BIN, UL_BOOTSTRAP, UL_OUT_DIR, UL_CHROMIUM,
// UL_NODE_MODULES (where npm ci put playwright-core and axe-core).
// Every wait is a condition with a deadline (waitForFunction), never a fixed sleep.
import { execFileSync } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";

const env = (name) => {
  if (!process.env[name]) throw new Error(`${name} is not set`);
  return process.env[name];
};
const URL_BASE = env("UL_URL");
const ADMIN = env("UL_ADMIN_KEY");
const require = createRequire(path.join(env("UL_NODE_MODULES"), "noop.js"));
const { chromium } = require("playwright-core");
const AXE = require.resolve("axe-core/axe.min.js");
const WAIT = { timeout: 60_000 };

let failures = 0;
function check(condition, what, detail = "") {
  console.log(`${condition ? "ok  " : "FAIL"} ${what}${detail ? ": " + detail : ""}`);
  if (!condition) failures += 1;
}

async function runAxe(page, what) {
  await page.addScriptTag({ path: AXE });
  const result = await page.evaluate(async () => {
    const r = await window.axe.run(document, { resultTypes: ["violations"] });
    return r.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.length,
      targets: v.nodes.slice(0, 3).map((n) => n.target.join(" ")) }));
  });
  for (const v of result) {
    if (v.impact === "critical" || v.impact === "serious") {
      console.log(`axe ${what}: ${v.impact} ${v.id} (${v.nodes} nodes: ${v.targets.join(", ")}): ${v.help}`);
    }
  }
  const critical = result.filter((v) => v.impact === "critical");
  check(critical.length === 0, `axe ${what}: no critical violations`, critical.map((v) => v.id).join(", "));
  console.log(`axe ${what}: ${result.length} violations in all (${result.map((v) => `${v.id}/${v.impact}`).join(", ") || "none"})`);
}

const rowTenants = (page) => page.$$eval("#overview-rows tr[data-tenant]", (rows) => rows.map((r) => r.dataset.tenant));
const closeness = (page) => page.$$eval("#overview-rows td.closeness", (cells) => cells.map((c) => Number(c.dataset.value)));
const sorted = (values, dir) => values.every((v, i) => i === 0 || (dir === "descending" ? values[i - 1] >= v : values[i - 1] <= v));

const browser = await chromium.launch({ executablePath: env("UL_CHROMIUM"), args: ["--no-sandbox", "--disable-dev-shm-usage"] });
try {
  // ---- Desktop, as the admin. CSP is enforced here: the page's own script must run under it.
  const desktop = await browser.newContext({ viewport: { width: 1280, height: 1000 }, locale: "en-US" });
  const page = await desktop.newPage();
  const cspErrors = [];
  page.on("console", (m) => { if (m.type() === "error") { console.log("console error:", m.text()); if (/Content Security Policy/i.test(m.text())) cspErrors.push(m.text()); } });
  page.on("pageerror", (e) => { console.log("page error:", e.message); cspErrors.push(e.message); });
  const response = await page.goto(`${URL_BASE}#key=${ADMIN}`);
  const headers = response.headers();
  check(/script-src 'sha256-[A-Za-z0-9+/=]+'/.test(headers["content-security-policy"] || ""), "the page's CSP allows its script by hash", headers["content-security-policy"]);
  check((headers["content-security-policy"] || "").includes("frame-ancestors 'none'"), "frame-ancestors 'none' by default");
  check(headers["x-content-type-options"] === "nosniff" && headers["referrer-policy"] === "no-referrer", "nosniff and no-referrer");

  await page.waitForFunction(() => document.querySelectorAll("#overview-rows tr[data-tenant]").length >= 4 && document.body.dataset.loaded === "true", null, WAIT);
  await page.evaluate(() => { window.__noReload = true; });
  const demo = ["demo-enterprise", "demo-free", "demo-nyc", "demo-pro"];
  const tenants = await rowTenants(page);
  check(demo.every((t) => tenants.includes(t)), "the overview lists the demo tenants", tenants.join(", "));
  const rows = await page.$$eval("#overview-rows tr[data-tenant]", (rs) => rs.map((r) => ({
    tenant: r.dataset.tenant, plan: r.querySelector(".plan").textContent,
    pct: [...r.querySelectorAll("td.pct")].map((c) => c.textContent), status: r.querySelector(".status").textContent })));
  for (const r of rows) console.log(`row: ${r.tenant} | ${r.plan} | ${r.pct.join(" | ")} | ${r.status}`);
  check(rows.every((r) => r.pct.length >= 3 && r.pct.every((p) => /^\d[\d,.]* %$|^—$/.test(p))), "each row shows % per meter (— when unlimited)");
  check(rows.every((r) => ["ok", "warning", "over limit"].includes(r.status)), "each row has a status");
  check(rows.some((r) => r.plan === "Pro"), "plan names come from the plans file", rows.map((r) => r.plan).join(", "));

  // Sorting by closeness to the limit: descending by default, a click makes it ascending.
  const head = page.locator('#overview-head button[data-sort="closeness"]');
  check(await page.locator('#overview-head th:has(button[data-sort="closeness"])').getAttribute("aria-sort") === "descending", "closest-to-limit sort is descending by default");
  check(sorted(await closeness(page), "descending"), "rows descend by closeness", (await closeness(page)).join(", "));
  await head.click();
  await page.waitForFunction(() => document.querySelector('#overview-head button[data-sort="closeness"]').closest("th").getAttribute("aria-sort") === "ascending", null, WAIT);
  check(sorted(await closeness(page), "ascending"), "a click sorts ascending", (await closeness(page)).join(", "));
  await page.locator('#overview-head button[data-sort="closeness"]').click();
  await page.waitForFunction(() => document.querySelector('#overview-head button[data-sort="closeness"]').closest("th").getAttribute("aria-sort") === "descending", null, WAIT);

  // The search box filters.
  await page.getByLabel("Filter tenants").fill("nyc");
  await page.waitForFunction(() => document.querySelectorAll("#overview-rows tr[data-tenant]").length === 1, null, WAIT);
  check((await rowTenants(page)).join() === "demo-nyc", "search 'nyc' leaves demo-nyc only");
  await page.getByLabel("Filter tenants").fill("");
  await page.waitForFunction(() => document.querySelectorAll("#overview-rows tr[data-tenant]").length >= 4, null, WAIT);

  // A tenant created meanwhile, over its limit, appears first without a reload.
  const cli = (...args) => execFileSync(env("UL_BIN"), [...args, "--bootstrap-file", env("UL_BOOTSTRAP")], { stdio: ["ignore", "pipe", "inherit"] });
  cli("account", "set", "--tenant", "zz-late", "--plan", "free", "--api-key", "zz-late-key");
  cli("emit", "--tenant", "zz-late", "--meter", "api_calls", "--quantity", "1200");
  await page.waitForFunction(() => {
    const row = document.querySelector('#overview-rows tr[data-tenant="zz-late"]');
    return row && row.querySelector(".status").textContent === "over limit";
  }, null, { timeout: 90_000 });
  check(await page.evaluate(() => window.__noReload === true), "the new tenant appeared without a reload");
  check((await rowTenants(page))[0] === "zz-late", "at 120 % it sorts first", (await rowTenants(page)).join(", "));

  // A tenant's view: demo-nyc (America/New_York).
  await page.locator('#overview-rows button.open[data-tenant="demo-nyc"]').click();
  await page.waitForFunction(() => document.querySelector("#shown-tenant")?.textContent === "demo-nyc" &&
    document.querySelectorAll("section.meter svg.chart .bars rect").length > 0, null, WAIT);
  check(await page.textContent("#shown-zone") === "America/New_York", "dates in the tenant's time zone", await page.textContent("#shown-zone"));
  const axis = await page.$$eval("section.meter svg.chart", (svgs) => svgs.map((s) => ({
    y: [...s.querySelectorAll(".y-tick")].map((t) => t.textContent), x: [...s.querySelectorAll(".x-tick")].map((t) => t.textContent),
    bars: s.querySelectorAll(".bars rect").length, title: s.querySelector(".bars rect title")?.textContent })));
  console.log("chart:", JSON.stringify(axis[0]));
  check(axis.length >= 3 && axis.every((a) => a.y.length >= 3 && a.x.length >= 2 && a.bars > 0), "every meter has a chart with y and x ticks");
  check(axis.every((a) => a.x.every((x) => /^[A-Z][a-z]{2} \d{1,2}$/.test(x))), "x ticks are dates (day granularity)", axis[0].x.join(", "));
  check(axis.every((a) => /^[A-Z][a-z]{2} \d{1,2}: [\d,.]+ /.test(a.title || "")), "bars carry a <title> with date and value", axis[0].title);
  const used = await page.$$eval("b.used", (bs) => bs.map((b) => ({ raw: b.dataset.value, text: b.textContent })));
  const big = used.filter((u) => Number(u.raw) >= 1000);
  check(big.length > 0 && big.every((u) => u.text === new Intl.NumberFormat("en-US", { maximumFractionDigits: 3 }).format(Number(u.raw))), "numbers have thousands separators", JSON.stringify(big));
  check(await page.locator('.bar[role="progressbar"][aria-valuenow][aria-valuemin="0"][aria-valuemax="100"]').count() >= 3, "usage bars are progressbars");
  check(/^\$\d/.test(await page.locator("b.overage").first().textContent()), "overage cost is currency", await page.locator("b.overage").first().textContent());

  // Tooltips survive refreshes: the same rect element is still there after two refreshes.
  await page.evaluate(() => { document.querySelector("section.meter .bars rect").__mark = true; });
  const status0 = await page.textContent("#status");
  await page.waitForFunction((s) => document.querySelector("#status").textContent !== s, status0, WAIT);
  const status1 = await page.textContent("#status");
  await page.waitForFunction((s) => document.querySelector("#status").textContent !== s, status1, WAIT);
  check(await page.evaluate(() => document.querySelector("section.meter .bars rect").__mark === true), "chart bars are updated in place (tooltips survive refresh)");

  // Hour granularity: x ticks show times.
  await page.getByLabel("Granularity", { exact: true }).selectOption("hour");
  await page.waitForFunction(() => [...document.querySelectorAll("section.meter svg.chart .x-tick")].some((t) => /\d:\d\d/.test(t.textContent)), null, WAIT);
  check(true, "the hour switch redraws the charts with times");
  await page.getByLabel("Granularity", { exact: true }).selectOption("day");
  await page.waitForFunction(() => [...document.querySelectorAll("section.meter svg.chart .x-tick")].every((t) => !/\d:\d\d/.test(t.textContent)), null, WAIT);
  // The range picker: the last three UTC days give three daily bars.
  const day = (offset) => new Date(Date.now() + offset * 86_400_000).toISOString().slice(0, 10);
  await page.getByLabel("From", { exact: true }).fill(day(-2));
  await page.getByLabel("To", { exact: true }).fill(day(0));
  await page.waitForFunction(() => [...document.querySelectorAll("section.meter svg.chart .bars")].every((g) => g.children.length === 3), null, WAIT);
  check(true, "from/to limit the charts to the chosen days");
  await page.getByLabel("From", { exact: true }).fill("");
  await page.getByLabel("To", { exact: true }).fill("");
  await page.waitForFunction(() => document.querySelector("section.meter svg.chart .bars").children.length > 3, null, WAIT);
  check(await page.getByLabel("From", { exact: true }).count() === 1 && await page.getByLabel("To", { exact: true }).count() === 1, "the range picker is labelled");

  // Group-by breakdown: demo-pro's tokens by model (the demo plans group tokens by model).
  await page.getByLabel("Tenant", { exact: true }).selectOption("demo-pro");
  await page.waitForFunction(() => document.querySelector("#shown-tenant")?.textContent === "demo-pro" &&
    document.querySelectorAll('section.meter[data-meter="tokens"] .breakdown tr[data-group]').length > 0, null, WAIT);
  const groups = await page.$$eval('section.meter[data-meter="tokens"] .breakdown tr[data-group]', (rs) => rs.map((r) => r.textContent.trim().replace(/\s+/g, " ")));
  check(groups.length > 0, "tokens broken down by model", groups.join("; "));
  check(cspErrors.length === 0, "no CSP violation or page error", cspErrors.join(" | "));
  await page.screenshot({ path: path.join(env("UL_OUT_DIR"), "dashboard-playwright-desktop.png"), fullPage: true });

  // ---- axe (its script is injected, so this context bypasses CSP), desktop and phone.
  const axeDesktop = await browser.newContext({ viewport: { width: 1280, height: 1000 }, locale: "en-US", bypassCSP: true });
  const axePage = await axeDesktop.newPage();
  await axePage.goto(`${URL_BASE}#key=${ADMIN}&tenant=demo-pro`);
  await axePage.waitForFunction(() => document.body.dataset.loaded === "true" && document.querySelectorAll("#overview-rows tr[data-tenant]").length >= 4, null, WAIT);
  await runAxe(axePage, "desktop admin");

  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, locale: "en-US", bypassCSP: true, isMobile: true, hasTouch: true });
  const phonePage = await phone.newPage();
  await phonePage.goto(`${URL_BASE}#key=${ADMIN}&tenant=demo-nyc`);
  await phonePage.waitForFunction(() => document.body.dataset.loaded === "true" && document.querySelectorAll("section.meter svg.chart .bars rect").length > 0, null, WAIT);
  const width = await phonePage.evaluate(() => document.documentElement.scrollWidth);
  check(width <= 390, "no horizontal scroll at 390 px", `scrollWidth ${width}`);
  await phonePage.screenshot({ path: path.join(env("UL_OUT_DIR"), "dashboard-playwright-phone.png"), fullPage: true });
  await runAxe(phonePage, "phone admin");
  const tenantPhone = await phone.newPage();
  await tenantPhone.goto(`${URL_BASE}#key=demo-free-key`);
  await tenantPhone.waitForFunction(() => document.body.dataset.loaded === "true", null, WAIT);
  const tenantWidth = await tenantPhone.evaluate(() => document.documentElement.scrollWidth);
  check(tenantWidth <= 390, "a tenant's own view: no horizontal scroll at 390 px", `scrollWidth ${tenantWidth}`);
  await runAxe(tenantPhone, "phone tenant");
} finally {
  await browser.close();
}
if (failures > 0) {
  console.log(`${failures} checks failed`);
  process.exit(1);
}
console.log("all dashboard checks passed");
