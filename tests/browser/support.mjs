// What the browser tests share: a real hookd on a random loopback port with a fresh
// SQLite file, a real receiver, Chromium, and a few API calls.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "../..");

/** The hookd binary: $HOOKD_BIN, else the release build, else the debug build. */
export function hookdBinary() {
  if (process.env.HOOKD_BIN) return process.env.HOOKD_BIN;
  for (const profile of ["release", "debug"]) {
    const p = path.join(root, "target", profile, "hookd");
    if (existsSync(p)) return p;
  }
  throw new Error("no hookd binary: run `cargo build --release` first, or set HOOKD_BIN");
}

export async function freePort() {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

/** Polls `check` until it returns something truthy, or fails after `ms`. */
export async function eventually(check, ms = 15000, what = "condition") {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      const v = await check();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${last.message}` : ""}`);
}

export const CONFIG = `
secret_retrieval = true
[[event_types]]
name = "link.created"
[[event_types]]
name = "link.deleted"
[[event_types]]
name = "message.sent"
`;

/**
 * Starts `hookd serve --dev` in a temporary directory with `config` as hookd.toml.
 * Returns its base URL, the first API key it printed, and stop().
 */
export async function startHookd(config = CONFIG) {
  const dir = mkdtempSync(path.join(tmpdir(), "hookd-browser-"));
  writeFileSync(path.join(dir, "hookd.toml"), config);
  const port = await freePort();
  const child = spawn(hookdBinary(), ["serve", "--dev", "--listen", `127.0.0.1:${port}`], {
    cwd: dir,
    env: { ...process.env, HOOKD_LOG_FORMAT: "text", HOOKD_LOG_LEVEL: "warn" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  child.stdout.on("data", (d) => (out += d));
  child.stderr.on("data", (d) => (out += d));
  const url = `http://127.0.0.1:${port}`;
  const key = await eventually(() => out.match(/API key: (\S+)/)?.[1], 60000, `hookd's first key (output: ${out})`);
  await eventually(async () => (await fetch(`${url}/readyz`)).ok, 30000, "hookd to be ready");
  return {
    url,
    key,
    dir,
    output: () => out,
    async stop() {
      child.kill("SIGTERM");
      await new Promise((r) => (child.exitCode !== null ? r() : child.once("exit", r)));
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A receiver on loopback that records every request and answers `status`. */
export async function startReceiver() {
  const r = { requests: [], status: 200 };
  const server = http.createServer((req, res) => {
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      r.requests.push({ path: req.url, headers: req.headers, body });
      res.writeHead(r.status, { "content-type": "application/json", "x-receiver": "browser-suite" });
      res.end(JSON.stringify({ received: true }));
    });
  });
  await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
  r.url = `http://127.0.0.1:${server.address().port}`;
  r.close = () => new Promise((resolve) => server.close(resolve));
  return r;
}

/** Debian's Chromium, headless, with nothing that reaches beyond loopback. */
export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: [
      "--headless=new",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-dev-shm-usage",
    ],
  });
}

/** One API call; returns { status, body }. */
export async function api(hookd, method, route, body, key = hookd.key, headers = {}) {
  const res = await fetch(`${hookd.url}${route}`, {
    method,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : null };
}

/** Signs `page` in with `key`, the way a person would. */
export async function signIn(page, hookd, key = hookd.key) {
  await page.goto(`${hookd.url}/dashboard`);
  await page.getByLabel("API key").fill(key);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Webhooks", level: 1 }).waitFor();
}

/** Whether the page scrolls sideways. */
export async function overflowsHorizontally(page) {
  return page.evaluate(() => document.documentElement.scrollWidth > document.documentElement.clientWidth);
}

export const screenshots = path.join(root, "docs", "screenshots");
