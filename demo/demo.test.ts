// The demo as people use it, in real headless Chromium: the real `npm start`
// server (2 cluster workers, its own temporary SQLite file) on a free port, two
// browsers (a desktop and a phone) signed in as one user, "Log out other
// devices" from one, and bad input answered on the page. Without Chromium the
// tests are skipped loudly (fail with CI=true). DEMO_SCREENSHOTS=dir keeps a
// desktop and a phone screenshot there.
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { get } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { fileURLToPath } from "node:url";
import Database from "better-sqlite3";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright-core";
import { requireService } from "../src/testing/services.js";

const CANDIDATES = process.env.CHROMIUM_PATH ? [process.env.CHROMIUM_PATH] : ["/usr/bin/chromium", "/usr/bin/chromium-browser", "/usr/bin/google-chrome"];
const executablePath = CANDIDATES.find((path) => existsSync(path));
const { skip } = await requireService(
  "Chromium",
  async () => {
    if (!executablePath) throw new Error(`no browser at ${CANDIDATES.join(", ")}`);
  },
  { hint: "apt-get install -y chromium, or set CHROMIUM_PATH" },
);

const IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";
const SCREENSHOTS = process.env.DEMO_SCREENSHOTS;
// A stack trace line ("    at fn (file.ts:1:2)") or an error class name must never reach the page.
const TRACE = /\n\s+at \S|\w+Error\b|node_modules/;

let demo: ChildProcess;
let base = "";
let dir = "";
let browser: Browser;

/** Starts `demo/server.ts` as `npm start` does, on a free port; resolves once both workers listen. */
async function startDemo(): Promise<void> {
  dir = mkdtempSync(join(tmpdir(), "latchkey-demo-"));
  const root = fileURLToPath(new URL("..", import.meta.url));
  demo = spawn(process.execPath, ["--import", "tsx", "demo/server.ts"], {
    cwd: root,
    env: { ...process.env, PORT: "0", DEMO_DB: join(dir, "sessions.db") },
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
function workerOnFreshConnection(): Promise<string> {
  return new Promise((resolve, reject) => {
    get(`${base}/`, { agent: false }, (res) => {
      let body = "";
      res.on("data", (chunk: Buffer) => (body += String(chunk)));
      res.on("end", () => resolve(/id="worker">([^<]+)</.exec(body)?.[1] ?? "none"));
    }).on("error", reject);
  });
}

/** Clicks the button named `name` and waits for the page it leads to. */
async function press(page: Page, name: string): Promise<void> {
  await Promise.all([page.waitForNavigation(), page.getByRole("button", { name, exact: true }).click()]);
}

async function logIn(page: Page, name: string): Promise<void> {
  await page.goto(`${base}/`);
  await page.fill("#name", name);
  await press(page, "Log in");
}

async function screenshot(page: Page, name: string): Promise<void> {
  if (!SCREENSHOTS) return;
  mkdirSync(SCREENSHOTS, { recursive: true });
  await page.screenshot({ path: join(SCREENSHOTS, `${name}.png`), fullPage: true });
}

/** The page fits its viewport: nothing sticks out sideways (no horizontal scrolling on a phone). */
async function assertFits(page: Page): Promise<void> {
  // (Browser-side code as strings: this project type-checks without the DOM library.)
  // Against the device's width, not window.innerWidth: a mobile browser widens its layout viewport to fit wide content.
  const scrollWidth = (await page.evaluate("document.documentElement.scrollWidth")) as number;
  const width = page.viewportSize()!.width;
  assert.ok(scrollWidth <= width, `the page is ${scrollWidth}px wide on a ${width}px screen`);
}

/** Submits the login form with `value` as the name, past the browser's own checks (required, maxlength). */
async function submitName(page: Page, value: string): Promise<{ status: number; html: string }> {
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

if (skip) {
  test("demo in a browser", { skip }, () => {});
} else {
  before(async () => {
    await startDemo();
    browser = await chromium.launch({ executablePath, args: process.getuid?.() === 0 ? ["--no-sandbox"] : [] });
  });
  after(async () => {
    await browser?.close();
    await stopDemo();
    rmSync(dir, { recursive: true, force: true });
  });

  test("both workers answer, and every response says which one did", async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 40 && seen.size < 2; i++) seen.add(await workerOnFreshConnection());
    assert.equal(seen.size, 2, `answers came from ${[...seen].join(", ")}`);
    for (const worker of seen) assert.match(worker, /^worker \d+ \(pid \d+\)$/);
  });

  test("two devices: both listed with their labels; 'Log out other devices' signs the other out, and it is told why", async () => {
    let desktop: BrowserContext | undefined;
    let phone: BrowserContext | undefined;
    try {
      desktop = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      phone = await browser.newContext({ viewport: { width: 375, height: 740 }, userAgent: IPHONE, isMobile: true, hasTouch: true, deviceScaleFactor: 2 });
      const onDesktop = await desktop.newPage();
      const onPhone = await phone.newPage();
      await logIn(onDesktop, "dana");
      await logIn(onPhone, "dana");
      assert.equal(await onPhone.textContent(".notice"), "Signed in on this device.");
      await onDesktop.reload();

      for (const page of [onDesktop, onPhone]) {
        const labels = await page.locator(".device .label").allTextContents();
        assert.equal(labels.length, 2, `two devices listed: ${labels.join(", ")}`);
        assert.ok(
          labels.some((label) => /Chrom/.test(label)),
          `a Chrome device is listed: ${labels.join(", ")}`,
        );
        assert.ok(
          labels.some((label) => /Safari|iOS/.test(label)),
          `an iPhone is listed: ${labels.join(", ")}`,
        );
        assert.equal(await page.locator(".device.mine .badge").textContent(), "This device");
        assert.match((await page.locator(".device.mine .last-active").textContent())!, /just now|minute/);
        assert.match((await page.textContent("#worker"))!, /^worker \d+ \(pid \d+\)$/);
      }
      assert.match((await onPhone.locator(".device.mine .label").textContent())!, /Safari|iOS/);
      await assertFits(onPhone);
      await screenshot(onPhone, "phone-signed-in");
      await screenshot(onDesktop, "desktop-signed-in");

      await onPhone.waitForFunction(`document.getElementById("live").dataset.state === "live"`, undefined, { timeout: 10_000 });
      await press(onDesktop, "Log out other devices");
      assert.equal(await onDesktop.textContent(".notice"), "Ended 1 other session.");
      assert.equal(await onDesktop.locator(".device").count(), 1);
      assert.equal(await onDesktop.textContent("#user"), "dana", "this device stays signed in");
      // Without a reload, the phone's live badge turns: the server closed its WebSocket (4401) in whichever worker held it.
      await onPhone.waitForFunction(`document.getElementById("live").dataset.state === "ended"`, undefined, { timeout: 5000 });
      assert.equal(await onPhone.textContent("#live"), "Signed out from another device");

      const response = await onPhone.reload();
      assert.equal(response!.status(), 200);
      assert.equal(await onPhone.textContent(".notice"), "This device was signed out from another device.");
      assert.equal(await onPhone.locator("#user").count(), 0, "the phone is signed out");
      assert.equal(await onPhone.locator("#name").count(), 1, "and offered the login form");
      await assertFits(onPhone);
      await screenshot(onPhone, "phone-signed-out");

      await onPhone.reload();
      assert.equal(await onPhone.locator(".notice").count(), 0, "the reason is said once");
      await onDesktop.reload();
      assert.equal(await onDesktop.textContent("#user"), "dana", "the desktop is still signed in after the other device's next load");
    } finally {
      await desktop?.close();
      await phone?.close();
    }
  });

  test("a page left open on a signed-out device changes nothing and says why; an expired session is called expired", async () => {
    const contexts = await Promise.all([browser.newContext(), browser.newContext()]);
    try {
      const [first, second] = await Promise.all(contexts.map((context) => context.newPage()));
      await logIn(first!, "<b>erin</b>");
      assert.equal(await first!.textContent("#user"), "<b>erin</b>", "a name is shown as typed, never as markup");
      await logIn(second!, "<b>erin</b>");
      await first!.reload();
      await press(first!, "Log out other devices");
      assert.equal(await first!.textContent(".notice"), "Ended 1 other session.");

      // The second device still shows its old page and posts from it.
      await second!.fill("#note", "written on a stale page");
      await press(second!, "Save");
      assert.equal(await second!.textContent(".notice"), "This device was signed out from another device. Nothing was changed.");
      assert.equal(await second!.locator("#user").count(), 0);
      assert.equal(await second!.inputValue("#note"), "", "the value was not saved");

      await press(first!, "Log out everywhere");
      assert.equal(await first!.textContent(".notice"), "Signed out everywhere: ended 1 session, this one included.");
      await first!.reload();
      assert.equal(await first!.locator(".notice").count(), 0, "signing out here is not reported as 'from another device'");

      // Expiry: the cookies a browser holds once its session has expired on its own
      // (a session cookie that names no session, and an expiry time in the past).
      await logIn(first!, "<b>erin</b>");
      const before = await contexts[0]!.cookies();
      await press(first!, "Log out");
      assert.equal(await first!.textContent(".notice"), "Signed out on this device.");
      await first!.reload();
      assert.equal(await first!.locator(".notice").count(), 0);
      const sid = before.find((cookie) => cookie.name === "sid")!;
      await contexts[0]!.addCookies([
        { ...sid, expires: -1 },
        { name: "demo_signed_in_until", value: String(Date.now() - 1000), url: base },
      ]);
      await first!.reload();
      assert.equal(await first!.textContent(".notice"), "This device's session expired (30 minutes without activity, or 12 hours after signing in).");
    } finally {
      await Promise.all(contexts.map((context) => context.close()));
    }
  });

  test("bad input is answered on the page with a 4xx and a sentence, a store failure with a 503 and a sentence, never a trace", async () => {
    const context = await browser.newContext({ viewport: { width: 320, height: 640 }, isMobile: true });
    try {
      const page = await context.newPage();
      const cases: [string, number, string][] = [
        ["", 400, "Enter a name to log in."],
        ["x".repeat(5 * 1024), 400, "A name is at most 40 characters; this one has 5120."],
        ["a\u0000b", 400, "A name cannot contain control characters (such as NUL)."],
      ];
      for (const [name, status, sentence] of cases) {
        const answer = await submitName(page, name);
        assert.equal(answer.status, status, `status for ${JSON.stringify(name.slice(0, 10))}`);
        assert.equal(await page.textContent(".error"), sentence);
        assert.doesNotMatch(answer.html, TRACE);
        assert.equal(await page.locator("#user").count(), 0, "not signed in");
        await assertFits(page);
      }
      await screenshot(page, "phone-bad-input");

      // A JSON body (a script, not the form): refused before it is read, with a sentence.
      const json = await page.request.post(`${base}/login`, { data: { name: "mallory" }, maxRedirects: 0 });
      assert.equal(json.status(), 415);
      const html = await json.text();
      assert.match(html, /This page takes form posts \(application\/x-www-form-urlencoded\), not application\/json\./);
      assert.doesNotMatch(html, TRACE);

      // A form far over the body limit.
      const huge = await page.request.post(`${base}/login`, { form: { name: "x".repeat(64 * 1024) }, maxRedirects: 0 });
      assert.equal(huge.status(), 413);
      assert.match(await huge.text(), /That form is too large: at most 16 KB\./);

      // The store cannot take the write (another process holds SQLite's write lock past
      // the busy timeout): a 503 page with a sentence, not signed in, and fine afterwards.
      const lock = new Database(join(dir, "sessions.db"));
      lock.exec("BEGIN IMMEDIATE");
      try {
        const down = await submitName(page, "nina");
        assert.equal(down.status, 503);
        assert.equal(await page.textContent(".error"), "The session store cannot be reached right now; try again in a moment.");
        assert.doesNotMatch(down.html, TRACE);
      } finally {
        lock.exec("ROLLBACK");
        lock.close();
      }

      // Nothing above signed anyone in.
      await page.goto(`${base}/`);
      assert.equal(await page.locator("#user").count(), 0);

      // The longest name there is, unbroken, still fits the narrowest phone.
      await logIn(page, "W".repeat(40));
      await assertFits(page);
      await screenshot(page, "phone-320-long-name");
    } finally {
      await context.close();
    }
  });
}
