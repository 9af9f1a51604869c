// What the demo's browser tests share: the real `npm start` server (2 cluster
// workers, its own temporary SQLite file) on a free port, headless Chromium,
// and helpers that use the page as a person does. Without Chromium the tests
// are skipped loudly (fail with CI=true). DEMO_SCREENSHOTS=dir keeps
// desktop and phone screenshots there.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type Page } from "playwright-core";
import { WebSocket } from "ws";
import { requireService } from "../src/testing/services.js";

const CANDIDATES = process.env.CHROMIUM_PATH ? [process.env.CHROMIUM_PATH] : ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];
const executablePath = CANDIDATES.find((path) => existsSync(path));
export const { skip } = await requireService(
  "Chromium",
  async () => {
    if (!executablePath) throw new Error(`no browser at ${CANDIDATES.join(", ")}`);
  },
  { hint: "apt-get install -y chromium, or set CHROMIUM_PATH" },
);

export const IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
export const SCREENSHOTS = process.env.DEMO_SCREENSHOTS;
// A stack trace line ("    at fn (file.ts:1:2)") or an error class name must never reach the page.
export const TRACE = /\n\s+at \S|\w+Error\b|node_modules/;

export const FRESH_MS = 4000;
export const DAY = 86_400_000;

let demo: ChildProcess;
/** The demo's address, its temporary directory (holding its SQLite file) and the browser: set by useDemo()'s before hook. */
export let base = "";
export let dir = "";
export let browser: Browser;

/** Starts `demo/server.ts` as `npm start` does, on a free port; resolves once both workers listen. */
async function startDemo(): Promise<void> {
  dir = mkdtempSync(join(tmpdir(), "latchkey-demo-"));
  const root = fileURLToPath(new URL("..", import.meta.url));
  demo = spawn(process.execPath, ["--import", "tsx", "demo/server.ts"], {
    cwd: root,
    // Sensitive actions ask for the password 4 s after signing in (5 minutes in the real demo), so a test can get there.
    env: { ...process.env, PORT: "0", DEMO_DB: join(dir, "sessions.db"), DEMO_FRESH_MS: String(FRESH_MS) },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group, so cleanup reaches the workers too
  });
  let output = "";
  demo.stderr!.on("data", (chunk: Buffer) => (output += String(chunk)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo did not start in 60 s:\n${output}`)), 60_000);
    demo.once("exit", (code) => reject(new Error(`the demo exited (${code}) before listening:\n${output}`)));
    demo.stdout!.on("data", (chunk: Buffer) => {
      output += String(chunk);
      const ports = [...output.matchAll(/listening on http:\/\/localhost:(\d+)/g)].map((m) => m[1]);
      if (ports.length === 2) {
        clearTimeout(timer);
        assert.equal(ports[0], ports[1], "both workers share one port");
        base = `http://127.0.0.1:${ports[0]}`;
        resolve();
      }
    });
  });
}

async function stopDemo(): Promise<void> {
  if (!demo || demo.exitCode !== null) return;
  const exited = new Promise((resolve) => demo.once("exit", resolve));
  process.kill(-demo.pid!, "SIGTERM");
  const timer = setTimeout(() => process.kill(-demo.pid!, "SIGKILL"), 10_000);
  await exited;
  clearTimeout(timer);
}

/** One GET on a connection of its own (no keep-alive): the page's worker line. */
export function workerOnFreshConnection(): Promise<string> {
  return new Promise((resolve, reject) => {
    get(`${base}/`, { agent: false }, (res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => (body += String(chunk)));
      res.on("end", () => resolve(/id="worker">([^<]+)</.exec(body)?.[1] ?? "none"));
    }).on("error", reject);
  });
}

/** Clicks the button named `name` and waits for the page it leads to. */
export async function press(page: Page, name: string): Promise<void> {
  await Promise.all([page.waitForNavigation(), page.getByRole("button", { name, exact: true }).click()]);
}

export async function logIn(page: Page, name: string, { keep = false } = {}): Promise<void> {
  await page.goto(`${base}/`);
  await page.fill("#name", name);
  if (keep) await page.check('input[name="remember"]');
  await press(page, "Log in");
}

/** After pressing a sensitive action's button: when the page asks for the password (the sign-in is not recent), gives it. */
export async function confirmIfAsked(page: Page, button: string): Promise<void> {
  if ((await page.locator("#password").count()) === 0) return;
  await page.fill("#password", "demo");
  await press(page, button);
}

export async function screenshot(page: Page, name: string): Promise<void> {
  if (!SCREENSHOTS) return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** The page fits its viewport: nothing sticks out sideways (no horizontal scrolling on a phone). */
export async function assertFits(page: Page): Promise<void> {
  // (Browser-side code as strings: this project type-checks without the DOM library.)
  // Against the device's width, not window.innerWidth: a mobile browser widens its layout viewport to fit wide content.
  const scrollWidth = (await page.evaluate("document.documentElement.scrollWidth")) as number;
  const width = page.viewportSize()!.width;
  assert.ok(scrollWidth <= width, `the page is ${scrollWidth}px wide on a ${width}px screen`);
}

/** The status of a WebSocket upgrade to /live with this Cookie and Origin: 101 when it opened. */
export function upgradeStatus(cookie: string, origin: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${base.replace("http:", "ws:")}/live`, { headers: { cookie, origin } });
    ws.on("open", () => {
      resolve(101);
      ws.close();
    });
    ws.on("unexpected-response", (request, response) => {
      resolve(response.statusCode ?? 0);
      request.destroy();
    });
    ws.on("error", reject);
  });
}

/** The _csrf field of every form on the page. */
export async function formTokens(page: Page): Promise<string[]> {
  return (await page.evaluate(`[...document.forms].map((form) => form.elements._csrf?.value ?? "missing")`)) as string[];
}

/** Submits the login form with `value` as the name, past the browser's own checks (required, maxlength). */
export async function submitName(page: Page, value: string): Promise<{ status: number; html: string }> {
  await page.goto(`${base}/`);
  const [response] = await Promise.all([
    page.waitForNavigation(),
    page.evaluate(`{
      const form = document.querySelector('form[action="/login"]');
      const input = form.querySelector("#name");
      form.noValidate = true;
      input.removeAttribute("maxlength");
      input.value = ${JSON.stringify(value)};
      form.submit();
    }`),
  ]);
  return { status: response!.status(), html: await page.content() };
}

/**
 * Registers the hooks that start the demo and Chromium before this file's tests and stop them after;
 * without Chromium, one skipped test that says why. Returns false then: register no tests.
 * @example
 * if (useDemo()) test("…", async () => { await logIn(await browser.newPage(), "ann"); });
 */
export function useDemo(): boolean {
  if (skip) {
    test("demo in a browser", { skip }, () => {});
    return false;
  }
  before(async () => {
    await startDemo();
    browser = await chromium.launch({ executablePath, args: process.getuid?.() === 0 ? ["--no-sandbox"] : [] });
  });
  after(async () => {
    await browser?.close();
    await stopDemo();
    rmSync(dir, { recursive: true, force: true });
  });
  return true;
}
