// The seed products' own words, as clicks: xqr's guide says "Send a test ping from the
// dashboard"; the aw_live_ product's says "Manage keys in the dashboard under Settings →
// API Keys". Each runs against hookd started from the product's profile in examples/.

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, test } from "node:test";

import { eventually, launch, signIn, startHookd, startReceiver } from "./support.mjs";

const examples = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../../examples");
const profile = (name) => readFileSync(path.join(examples, name), "utf8");

let browser;
let receiver;

before(async () => {
  browser = await launch();
  receiver = await startReceiver();
});

after(async () => {
  await browser?.close();
  await receiver?.close();
});

test("xqr: a webhook made on the dashboard gets a test ping at a click", async () => {
  const hookd = await startHookd(profile("xqr.toml"));
  try {
    assert.match(hookd.key, /^xqr_pk_/);
    const context = await browser.newContext();
    context.setDefaultTimeout(10000);
    const page = await context.newPage();
    await signIn(page, hookd);
    await page.getByRole("link", { name: "New webhook" }).click();
    await page.getByLabel("URL").fill(`${receiver.url}/xqr`);
    await page.getByLabel("link.scanned", { exact: true }).check();
    await page.getByRole("button", { name: "Create" }).click();
    await page.getByRole("link", { name: "Go to the webhook" }).click();
    const before = receiver.requests.length;
    await page.getByRole("button", { name: "Send test event" }).click();
    await page.getByRole("article", { name: "Attempt 1" }).getByText("200").first().waitFor();
    const got = await eventually(() => receiver.requests[before], 5000, "the test ping");
    assert.match(got.headers["x-xqr-signature"], /^sha256=[0-9a-f]{64}$/, "signed the way xqr documents");
    await context.close();
  } finally {
    await hookd.stop();
  }
});

test("aw_live_: Settings → API Keys creates a key with the product's prefix", async () => {
  const hookd = await startHookd(profile("aw.toml"));
  try {
    const context = await browser.newContext();
    context.setDefaultTimeout(10000);
    const page = await context.newPage();
    await signIn(page, hookd);
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Settings" }).click();
    await page.getByRole("navigation", { name: "Settings" }).getByRole("link", { name: "API Keys" }).click();
    await page.getByLabel("Name").fill("partner integration");
    await page.getByLabel("*", { exact: true }).check();
    await page.getByRole("button", { name: "Create key" }).click();
    const key = (await page.locator("#new-key").textContent()).trim();
    assert.match(key, /^aw_live_[0-9a-f]{8}\./);
    const res = await fetch(`${hookd.url}/v1/webhooks`, { headers: { authorization: `Bearer ${key}` } });
    assert.equal(res.status, 200);
    await context.close();
  } finally {
    await hookd.stop();
  }
});
