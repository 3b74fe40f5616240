// The dashboard and the portal in a real browser, against a real hookd and a real
// receiver. Controls are found by their accessible names, as people and screen readers
// find them.

import assert from "node:assert/strict";
import { createHmac, createPublicKey, verify } from "node:crypto";
import { mkdirSync } from "node:fs";
import path from "node:path";
import { after, before, describe, test } from "node:test";

import {
  api,
  eventually,
  launch,
  overflowsHorizontally,
  screenshots,
  signIn,
  startHookd,
  startReceiver,
} from "./support.mjs";

let hookd;
let receiver;
let browser;

before(async () => {
  hookd = await startHookd();
  receiver = await startReceiver();
  browser = await launch();
  mkdirSync(screenshots, { recursive: true });
});

after(async () => {
  await browser?.close();
  await receiver?.close();
  await hookd?.stop();
});

/** A fresh browser context (its own cookies) and page, desktop-sized. */
async function newPage(viewport = { width: 1280, height: 900 }) {
  const context = await browser.newContext({ viewport });
  context.setDefaultTimeout(10000);
  const page = await context.newPage();
  return { context, page };
}

/** Standard Webhooks: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, key from `whsec_…`. */
function verifies(secret, headers, body) {
  const key = Buffer.from(secret.replace(/^whsec_/, ""), "base64");
  const signed = `${headers["webhook-id"]}.${headers["webhook-timestamp"]}.${body}`;
  const expected = createHmac("sha256", key).update(signed).digest("base64");
  return headers["webhook-signature"].split(" ").some((s) => s === `v1,${expected}`);
}

/** Standard Webhooks `v1a`: an Ed25519 signature of "id.timestamp.body", key `whpk_…`. */
function verifiesV1a(publicKey, headers, body) {
  const x = Buffer.from(publicKey.replace(/^whpk_/, ""), "base64").toString("base64url");
  const key = createPublicKey({ key: { kty: "OKP", crv: "Ed25519", x }, format: "jwk" });
  const signed = Buffer.from(`${headers["webhook-id"]}.${headers["webhook-timestamp"]}.${body}`);
  return headers["webhook-signature"]
    .split(" ")
    .some((s) => s.startsWith("v1a,") && verify(null, signed, key, Buffer.from(s.slice(4), "base64")));
}

/** Creates a webhook through the form and returns its id and signing secret. */
async function createWebhook(page, url, events, description) {
  await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Webhooks" }).click();
  await page.getByRole("link", { name: "New webhook" }).click();
  await page.getByLabel("URL").fill(url);
  for (const e of events) await page.getByLabel(e, { exact: true }).check();
  await page.getByLabel("Description").fill(description);
  await page.getByRole("button", { name: "Create" }).click();
  await page.getByRole("heading", { name: "Webhook created" }).waitFor();
  const secret = (await page.locator("#signing-secret").textContent()).trim();
  await page.getByRole("link", { name: "Go to the webhook" }).click();
  const id = (await page.locator("#webhook-id").textContent()).trim();
  return { id, secret };
}

describe("the dashboard", () => {
  let context;
  let page;
  let webhook;

  before(async () => {
    ({ context, page } = await newPage());
  });
  after(async () => context?.close());

  test("refuses a wrong key and signs in with a right one, into a strict cookie", async () => {
    await page.goto(`${hookd.url}/dashboard`);
    assert.match(page.url(), /\/dashboard\/sign-in$/);
    await page.getByLabel("API key").fill(`hk_live_00000000.${"x".repeat(64)}`);
    await page.getByRole("button", { name: "Sign in" }).click();
    await page.getByRole("alert").filter({ hasText: "not valid" }).waitFor();

    // From the keyboard: the field is focusable and Enter submits.
    await page.getByLabel("API key").focus();
    await page.keyboard.type(hookd.key);
    await page.keyboard.press("Enter");
    await page.getByRole("heading", { name: "Webhooks", level: 1 }).waitFor();

    const cookie = (await context.cookies()).find((c) => c.name === "hookd_session");
    assert.ok(cookie, "a session cookie");
    assert.equal(cookie.httpOnly, true);
    assert.equal(cookie.sameSite, "Strict");
    assert.equal(cookie.path, "/dashboard");
    assert.ok(!page.url().includes(hookd.key), "the key is never in a URL");
  });

  test("creates a webhook pointing at a loopback receiver and shows its secret once", async () => {
    webhook = await createWebhook(page, `${receiver.url}/hooks`, ["link.created"], "orders sync");
    assert.match(webhook.id, /^wh_/);
    assert.match(webhook.secret, /^whsec_/);
    assert.match(page.url(), new RegExp(`/dashboard/webhooks/${webhook.id}$`));
    await page.getByText("orders sync").first().waitFor();
    // The list shows it with its health.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Webhooks" }).click();
    const row = page.getByRole("row").filter({ hasText: `${receiver.url}/hooks` });
    await row.getByText("enabled").waitFor();
  });

  test("sends a test event, and the delivery and its attempt appear in the log", async () => {
    await page.goto(`${hookd.url}/dashboard/webhooks/${webhook.id}`);
    const before = receiver.requests.length;
    await page.getByRole("button", { name: "Send test event" }).click();
    await page.getByText("Test event sent").waitFor();
    assert.match(page.url(), /\/dashboard\/deliveries\/dlv_/);
    const attempt = page.getByRole("article", { name: "Attempt 1" });
    await attempt.getByText("200").first().waitFor();
    await attempt.getByText("Request headers").click();
    await attempt.getByRole("rowheader", { name: "webhook-signature" }).waitFor();
    await attempt.getByText("Response headers").click();
    await attempt.getByRole("cell", { name: "browser-suite" }).waitFor();
    await page.locator("pre").filter({ hasText: "test.ping" }).first().waitFor();

    // The receiver got it, signed with the secret the dashboard showed.
    const got = await eventually(() => receiver.requests[before], 5000, "the test ping");
    assert.ok(verifies(webhook.secret, got.headers, got.body), "the signature verifies");

    await page.screenshot({ path: path.join(screenshots, "delivery.png"), fullPage: true });
  });

  test("retries a delivery", async () => {
    const before = receiver.requests.length;
    await page.getByRole("button", { name: "Retry" }).click();
    await page.getByText("Sending again now").waitFor();
    await eventually(() => receiver.requests.length > before, 10000, "the retried request");
    await eventually(
      async () => {
        await page.reload();
        return (await page.getByRole("article", { name: "Attempt 2" }).count()) === 1;
      },
      10000,
      "attempt 2 in the log",
    );
  });

  test("replays the finished deliveries since a time", async () => {
    await page.goto(`${hookd.url}/dashboard/webhooks/${webhook.id}`);
    const before = receiver.requests.length;
    await page.getByLabel("Only failed").uncheck();
    await page.getByRole("button", { name: "Replay" }).click();
    const notice = await page.getByRole("status").filter({ hasText: "Replaying" }).textContent();
    const n = Number(notice.match(/Replaying (\d+) finished deliveries/)[1]);
    assert.ok(n >= 1, notice);
    await eventually(() => receiver.requests.length >= before + n, 10000, "the replayed deliveries");
  });

  test("lists deliveries, filters them, and refreshes the log by itself", async () => {
    await page.goto(`${hookd.url}/dashboard/webhooks/${webhook.id}`);
    const rows = page.locator("#delivery-rows tr");
    await rows.filter({ hasText: "test.ping" }).first().waitFor();

    // Published while the page is open: the row appears without a reload.
    const published = await api(hookd, "POST", "/v1/events", { event: "link.created", data: { id: "lnk_1" } });
    assert.equal(published.status, 202, JSON.stringify(published.body));
    await rows.filter({ hasText: "link.created" }).first().waitFor({ timeout: 15000 });

    await page.getByLabel("Status").selectOption("failed");
    await page.getByRole("button", { name: "Filter" }).click();
    await page.getByText("No deliveries match these filters.").waitFor();
    await page.getByLabel("Status").selectOption("succeeded");
    await page.getByLabel("Event type").fill("link.created");
    await page.getByRole("button", { name: "Filter" }).click();
    await rows.filter({ hasText: "link.created" }).first().waitFor();
    assert.equal(await rows.filter({ hasText: "test.ping" }).count(), 0);
  });

  test("rotates the secret, and deliveries are signed with the new one", async () => {
    await page.goto(`${hookd.url}/dashboard/webhooks/${webhook.id}`);
    await page.getByRole("button", { name: "Rotate secret" }).click();
    await page.getByText("Secret rotated").waitFor();
    const fresh = (await page.locator("#signing-secret").textContent()).trim();
    assert.match(fresh, /^whsec_/);
    assert.notEqual(fresh, webhook.secret);
    // "Reveal secret" shows the same new secret.
    await page.getByRole("button", { name: "Reveal secret" }).click();
    assert.equal((await page.locator("#signing-secret").textContent()).trim(), fresh);

    const before = receiver.requests.length;
    await page.getByRole("button", { name: "Send test event" }).click();
    await page.getByText("Test event sent").waitFor();
    const got = await eventually(() => receiver.requests[before], 5000, "the test ping");
    assert.ok(verifies(fresh, got.headers, got.body), "signed with the new secret");
    assert.ok(verifies(webhook.secret, got.headers, got.body), "and, during the overlap, the old one");
    webhook.secret = fresh;
  });

  test("edits events and description, disables and enables", async () => {
    await page.goto(`${hookd.url}/dashboard/webhooks/${webhook.id}`);
    const edit = page.locator("form").filter({ has: page.getByRole("button", { name: "Save" }) });
    await edit.getByLabel("message.sent", { exact: true }).check();
    await edit.getByLabel("Description").fill("orders and messages");
    await edit.getByRole("button", { name: "Save" }).click();
    await page.getByText("Changes saved.").waitFor();
    const got = await api(hookd, "GET", `/v1/webhooks/${webhook.id}`);
    assert.deepEqual(got.body.data.events, ["link.created", "message.sent"]);
    assert.equal(got.body.data.description, "orders and messages");

    await page.getByRole("button", { name: "Disable" }).click();
    await page.getByText("Webhook disabled").waitFor();
    assert.equal((await api(hookd, "GET", `/v1/webhooks/${webhook.id}`)).body.data.enabled, false);
    // An event published meanwhile is held, and goes out when it is enabled with them.
    const held = await api(hookd, "POST", "/v1/events", { event: "message.sent", data: { text: "while off" } });
    assert.equal(held.status, 202);
    const heldLog = await api(hookd, "GET", `/v1/webhooks/${webhook.id}/deliveries?status=held`);
    assert.equal(heldLog.body.data.length, 1);
    await page.getByRole("button", { name: "Enable and deliver held events" }).click();
    await page.getByText("Webhook enabled").waitFor();
    assert.equal((await api(hookd, "GET", `/v1/webhooks/${webhook.id}/deliveries?status=held`)).body.data.length, 0);

    // A rule broken is shown beside its field, and nothing changes.
    await edit.getByLabel("link.created", { exact: true }).uncheck();
    await edit.getByLabel("message.sent", { exact: true }).uncheck();
    await edit.getByRole("button", { name: "Save" }).click();
    await page.locator(".field-error").first().waitFor();
    assert.deepEqual((await api(hookd, "GET", `/v1/webhooks/${webhook.id}`)).body.data.events, [
      "link.created",
      "message.sent",
    ]);
  });

  test("shows charts that read without JavaScript", async () => {
    await page.goto(`${hookd.url}/dashboard/webhooks/${webhook.id}`);
    const volume = page.getByRole("img", { name: /Attempts per hour/ });
    await volume.waitFor();
    assert.match(await volume.getAttribute("aria-label"), /[1-9]\d* succeeded/);
    await page.getByRole("img", { name: /Latency/ }).waitFor();
    await page.getByRole("link", { name: "7 days" }).click();
    await page.getByRole("img", { name: /last 168 hours/ }).first().waitFor();
    await page.screenshot({ path: path.join(screenshots, "webhook.png"), fullPage: true });
  });

  test("looks an event up and shows its deliveries", async () => {
    const published = await api(hookd, "POST", "/v1/events", { event: "message.sent", data: { n: 1 } });
    const id = published.body.data.id;
    await page.getByRole("link", { name: "Events" }).click();
    await page.getByLabel("Event id").fill(id);
    await page.getByRole("button", { name: "Look up" }).click();
    await page.getByRole("heading", { name: id }).waitFor();
    await page.locator("pre").filter({ hasText: '"n": 1' }).waitFor();
    await page.getByRole("cell", { name: webhook.id }).waitFor();
  });

  test("creates a key with its scopes, shows it once, and revokes it", async () => {
    // Settings → API Keys, as the aw_live_ product's documentation says.
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Settings" }).click();
    await page.getByRole("navigation", { name: "Settings" }).getByRole("link", { name: "API Keys" }).click();
    await page.getByRole("heading", { name: "API Keys" }).waitFor();
    await page.getByLabel("Name").fill("reporting");
    await page.getByLabel("webhooks:read", { exact: true }).check();
    await page.getByRole("button", { name: "Create key" }).click();
    await page.getByRole("heading", { name: "Key created" }).waitFor();
    const key = (await page.locator("#new-key").textContent()).trim();
    assert.match(key, /^hk_live_[0-9a-f]{8}\./);
    assert.equal((await api(hookd, "GET", "/v1/webhooks", undefined, key)).status, 200);
    assert.equal((await api(hookd, "POST", "/v1/events", { event: "link.created", data: {} }, key)).status, 403);

    await page.getByRole("link", { name: "Back to API Keys" }).click();
    const id = key.slice("hk_live_".length, "hk_live_".length + 8);
    await page.getByRole("button", { name: `Revoke reporting (key_${id})` }).click();
    await page.getByText("Key revoked").waitFor();
    await page.getByRole("row").filter({ hasText: "reporting" }).getByText("revoked").waitFor();
    await eventually(
      async () => (await api(hookd, "GET", "/v1/webhooks", undefined, key)).status === 401,
      5000,
      "the revoked key to be refused",
    );
  });

  test("refuses a form without its CSRF token with 403, and changes nothing", async () => {
    const target = `${hookd.url}/dashboard/webhooks/${webhook.id}/enabled`;
    const missing = await page.request.post(target, { form: { enabled: "false" }, maxRedirects: 0 });
    assert.equal(missing.status(), 403);
    assert.match(await missing.text(), /This form has expired/);
    const wrong = await page.request.post(target, { form: { enabled: "false", csrf: "0".repeat(64) }, maxRedirects: 0 });
    assert.equal(wrong.status(), 403);
    assert.equal((await api(hookd, "GET", `/v1/webhooks/${webhook.id}`)).body.data.enabled, true);
    // Signing in needs the token its form carries, too.
    const signIn = await page.request.post(`${hookd.url}/dashboard/sign-in`, { form: { api_key: hookd.key } });
    assert.equal(signIn.status(), 403);
  });

  test("fits a 375 px phone without sideways scrolling", async () => {
    const phone = await browser.newContext({ viewport: { width: 375, height: 812 }, isMobile: true, hasTouch: true });
    const p = await phone.newPage();
    await signIn(p, hookd);
    for (const route of ["/dashboard/webhooks", `/dashboard/webhooks/${webhook.id}`, "/dashboard/settings/keys"]) {
      await p.goto(`${hookd.url}${route}`);
      assert.equal(await overflowsHorizontally(p), false, `${route} scrolls sideways at 375 px`);
    }
    await p.goto(`${hookd.url}/dashboard/webhooks/${webhook.id}`);
    await p.getByRole("link", { name: /dlv_/ }).first().click();
    assert.equal(await overflowsHorizontally(p), false, "a delivery page scrolls sideways at 375 px");
    await p.goto(`${hookd.url}/dashboard/webhooks/${webhook.id}`);
    await p.screenshot({ path: path.join(screenshots, "phone.png"), fullPage: true });
    await phone.close();
  });

  test("labels every control and works from the keyboard", async () => {
    const unnamed = () =>
      page.evaluate(() =>
        [...document.querySelectorAll("input:not([type=hidden]), select, textarea, button, a[href]")]
          .filter((el) => {
            const labelled = el.id && document.querySelector(`label[for="${el.id}"]`);
            const named = el.getAttribute("aria-label") || el.getAttribute("title") || el.textContent.trim();
            return !labelled && !named && !el.closest("label");
          })
          .map((el) => el.outerHTML),
      );
    for (const route of [
      "/dashboard/webhooks",
      "/dashboard/webhooks/new",
      `/dashboard/webhooks/${webhook.id}`,
      "/dashboard/events",
      "/dashboard/settings/keys",
      "/dashboard/workspaces",
    ]) {
      await page.goto(`${hookd.url}${route}`);
      assert.deepEqual(await unnamed(), [], `controls without a name on ${route}`);
    }
    // Tab to "Send test event" and press Enter: no mouse needed.
    await page.goto(`${hookd.url}/dashboard/webhooks/${webhook.id}`);
    let focused = "";
    for (let i = 0; i < 40 && focused !== "Send test event"; i++) {
      await page.keyboard.press("Tab");
      focused = await page.evaluate(() => document.activeElement?.textContent.trim());
    }
    assert.equal(focused, "Send test event");
    await page.keyboard.press("Enter");
    await page.getByText("Test event sent").waitFor();
  });

  test("creates an Ed25519 webhook whose pings verify with the public key it shows", async () => {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Webhooks" }).click();
    await page.getByRole("link", { name: "New webhook" }).click();
    await page.getByLabel("URL").fill(`${receiver.url}/ed25519`);
    await page.getByLabel("link.created", { exact: true }).check();
    await page.getByLabel("Ed25519, a public key").check();
    await page.getByRole("button", { name: "Create" }).click();
    await page.getByRole("heading", { name: "Public key" }).waitFor();
    const publicKey = (await page.locator("#signing-secret").textContent()).trim();
    assert.match(publicKey, /^whpk_/);
    await page.getByRole("link", { name: "Go to the webhook" }).click();
    assert.equal((await page.locator("#public-key").textContent()).trim(), publicKey);
    const before = receiver.requests.length;
    await page.getByRole("button", { name: "Send test event" }).click();
    await page.getByText("Test event sent").waitFor();
    const got = await eventually(() => receiver.requests[before], 5000, "the test ping");
    assert.ok(verifiesV1a(publicKey, got.headers, got.body), "the v1a signature verifies");
    assert.equal(got.headers["x-hookd-signature"], undefined, "no body HMAC without a shared secret");
  });

  test("creates a webhook that delivers each ordering key in order", async () => {
    await page.getByRole("navigation", { name: "Main" }).getByRole("link", { name: "Webhooks" }).click();
    await page.getByRole("link", { name: "New webhook" }).click();
    await page.getByLabel("URL").fill(`${receiver.url}/ordered`);
    await page.getByLabel("link.created", { exact: true }).check();
    await page.getByLabel("Deliver each ordering key in order").check();
    await page.getByRole("button", { name: "Create" }).click();
    await page.getByRole("link", { name: "Go to the webhook" }).click();
    assert.match(await page.locator("#ordering").textContent(), /per key/);
    const id = (await page.locator("#webhook-id").textContent()).trim();
    assert.equal((await api(hookd, "GET", `/v1/webhooks/${id}`)).body.data.ordering, "per_key");
  });

  test("deletes a webhook after a confirmation", async () => {
    const doomed = await createWebhook(page, `${receiver.url}/doomed`, ["link.deleted"], "to delete");
    await page.getByRole("link", { name: "Delete" }).click();
    await page.getByRole("heading", { name: "Delete this webhook?" }).waitFor();
    await page.getByRole("button", { name: "Delete webhook" }).click();
    await page.getByText("Webhook deleted.").waitFor();
    assert.equal((await api(hookd, "GET", `/v1/webhooks/${doomed.id}`)).status, 404);
    await page.screenshot({ path: path.join(screenshots, "webhooks.png"), fullPage: true });
  });

  test("signs out, and the session no longer works", async () => {
    await page.getByRole("button", { name: "Sign out" }).click();
    await page.getByRole("button", { name: "Sign in" }).waitFor();
    await page.goto(`${hookd.url}/dashboard/webhooks`);
    assert.match(page.url(), /\/dashboard\/sign-in$/);
  });
});

describe("the customer portal", () => {
  let mine;
  let theirs;

  before(async () => {
    const create = (owner, suffix) =>
      api(
        hookd,
        "POST",
        "/v1/webhooks",
        { url: `${receiver.url}/${suffix}`, events: ["link.created"], owner },
        hookd.key,
      );
    mine = (await create("acct_42", "mine")).body.data;
    theirs = (await create("acct_7", "theirs")).body.data;
    assert.ok(mine?.id && theirs?.id);
  });

  test("is opened by a one-time link and shows only its owner's webhooks", async () => {
    const made = await api(hookd, "POST", "/v1/portal/sessions", { owner: "acct_42", expires_in: 600 });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const { url, expires_at } = made.body.data;
    assert.match(url, /\/portal\/open\?token=[0-9a-f]{64}$/);
    assert.ok(Date.parse(expires_at) > Date.now());

    const { context, page } = await newPage();
    await page.goto(url);
    assert.match(page.url(), /\/portal\/webhooks$/, "the token leaves the address bar");
    await page.getByRole("link", { name: `${receiver.url}/mine` }).waitFor();
    assert.equal(await page.getByText(`${receiver.url}/theirs`).count(), 0);
    assert.equal(await page.getByRole("link", { name: "Settings" }).count(), 0, "no settings in the portal");

    // Another owner's webhook is not found, by page or by action.
    const other = await page.goto(`${hookd.url}/portal/webhooks/${theirs.id}`);
    assert.equal(other.status(), 404);
    await page.goto(`${hookd.url}/portal/webhooks/${mine.id}`);
    const csrf = await page.locator('input[name="csrf"]').first().getAttribute("value");
    const poke = await page.request.post(`${hookd.url}/portal/webhooks/${theirs.id}/rotate`, { form: { csrf } });
    assert.equal(poke.status(), 404);
    assert.equal((await page.request.get(`${hookd.url}/dashboard/webhooks`, { maxRedirects: 0 })).status(), 303);

    // Its own webhook works: a test event, shown in its log.
    await page.getByRole("button", { name: "Send test event" }).click();
    await page.getByText("Test event sent").waitFor();
    await page.getByRole("article", { name: "Attempt 1" }).getByText("200").first().waitFor();

    // A webhook created in the portal belongs to its owner.
    await page.goto(`${hookd.url}/portal/webhooks/new`);
    assert.equal(await page.getByLabel("Owner").count(), 0, "the portal cannot pick an owner");
    await page.getByLabel("URL").fill(`${receiver.url}/mine-too`);
    await page.getByLabel("link.created", { exact: true }).check();
    await page.getByRole("button", { name: "Create" }).click();
    await page.getByRole("heading", { name: "Webhook created" }).waitFor();
    const listed = await api(hookd, "GET", "/v1/webhooks?limit=100");
    const created = listed.body.data.find((w) => w.url === `${receiver.url}/mine-too`);
    assert.equal(created.owner, "acct_42");

    await page.goto(`${hookd.url}/portal/webhooks`);
    await page.screenshot({ path: path.join(screenshots, "portal.png"), fullPage: true });
    await context.close();

    // The link worked once: opened again, in another browser, it does not.
    const second = await newPage();
    const again = await second.page.goto(url);
    assert.equal(again.status(), 410);
    await second.page.getByRole("heading", { name: "This link no longer works" }).waitFor();
    await second.context.close();
  });

  test("may be framed only by the configured origins; the dashboard never", async () => {
    const portal = await fetch(`${hookd.url}/portal/webhooks`, { redirect: "manual" });
    assert.match(portal.headers.get("content-security-policy"), /frame-ancestors 'none'/);
    const dashboard = await fetch(`${hookd.url}/dashboard/sign-in`);
    const csp = dashboard.headers.get("content-security-policy");
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    assert.equal(dashboard.headers.get("x-content-type-options"), "nosniff");
    assert.equal(dashboard.headers.get("referrer-policy"), "no-referrer");
  });
});
