// Opens the viewer page of a live stream in headless Chromium, buys one unit
// of its product through the API, and waits for the page's stock to show it.
// Usage: node live_page.mjs BASE_URL STREAM PRODUCT BUYER_TOKEN ADDRESS STOCK_BEFORE
import { chromium } from "playwright-core";

const [base, stream, product, token, address, before] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: process.env.LIVEMART_CHROMIUM || "/usr/bin/chromium",
  headless: true,
  args: ["--no-sandbox", "--disable-gpu"],
});
const textIs = (selector, text) =>
  page.waitForFunction(([s, t]) => document.querySelector(s)?.textContent === t, [selector, text], { timeout: 10000 });
let page;
try {
  page = await browser.newPage();
  const problems = [];
  page.on("pageerror", (e) => problems.push(String(e)));
  page.on("console", (m) => m.type() === "error" && problems.push(m.text()));
  await page.goto(`${base}/live/${stream}`);
  await textIs("#stock", before);
  await textIs("#status", "live");
  const title = await page.textContent("#title");

  const bought = await fetch(`${base}/orders`, {
    method: "POST",
    headers: {
      "Content-Type": "application/json",
      Authorization: `Bearer ${token}`,
      "Idempotency-Key": `browser-${Date.now()}`,
    },
    body: JSON.stringify({ items: [{ product_id: product, quantity: 1 }], address_id: address }),
  });
  if (bought.status !== 201) throw new Error(`buy-now answered ${bought.status}: ${await bought.text()}`);
  await textIs("#stock", String(Number(before) - 1));
  await page.waitForFunction(() => Number(document.querySelector("#viewers")?.textContent) >= 1, null, { timeout: 10000 });
  if (problems.length) throw new Error(`the page reported errors:\n${problems.join("\n")}`);
  console.log(JSON.stringify({ ok: true, title }));
} finally {
  await browser.close();
}
