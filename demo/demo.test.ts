// The demo as people use it, in real headless Chromium: the real `npm start`
// server (2 cluster workers, its own temporary SQLite file) on a free port, two
// browsers (a desktop and a phone) signed in as one user, "Log out other
// devices" from one, CSRF tokens, flash messages, "Keep me signed in", the
// 5-device limit, the password prompt before "Log out everywhere", the admin's
// "view as", and bad input answered on the page. Without Chromium the
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
import { chromium, request, type Browser, type BrowserContext, type Page } from "playwright-core";
import { WebSocket } from "ws";
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

const FRESH_MS = 4000;
const DAY = 86_400_000;

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
    // Sensitive actions ask for the password 4 s after signing in (5 minutes in the real demo), so a test can get there.
    env: { ...process.env, PORT: "0", DEMO_DB: join(dir, "sessions.db"), DEMO_FRESH_MS: String(FRESH_MS) },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true, // its own process group, so cleanup reaches the workers too
  });
  let output = "";
  demo.stderr!.on("data", (chunk: Buffer) => (output += chunk));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo did not start in 60 s:\n${output}`)), 60_000);
    demo.once("exit", (code) => reject(new Error(`the demo exited (${code}) before listening:\n${output}`)));
    demo.stdout!.on("data", (chunk: Buffer) => {
      output += chunk;
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
      res.on("data", (chunk: Buffer) => (body += chunk));
      res.on("end", () => resolve(/id="worker">([^<]+)</.exec(body)?.[1] ?? "none"));
    }).on("error", reject);
  });
}

/** Clicks the button named `name` and waits for the page it leads to. */
async function press(page: Page, name: string): Promise<void> {
  await Promise.all([page.waitForNavigation(), page.getByRole("button", { name, exact: true }).click()]);
}

async function logIn(page: Page, name: string, { keep = false } = {}): Promise<void> {
  await page.goto(`${base}/`);
  await page.fill("#name", name);
  if (keep) await page.check('input[name="remember"]');
  await press(page, "Log in");
}

/** After pressing a sensitive action's button: when the page asks for the password (the sign-in is not recent), gives it. */
async function confirmIfAsked(page: Page, button: string): Promise<void> {
  if ((await page.locator("#password").count()) === 0) return;
  await page.fill("#password", "demo");
  await press(page, button);
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

/** The status of a WebSocket upgrade to /live with this Cookie and Origin: 101 when it opened. */
function upgradeStatus(cookie: string, origin: string): Promise<number> {
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
async function formTokens(page: Page): Promise<string[]> {
  return (await page.evaluate(`[...document.forms].map((form) => form.elements._csrf?.value ?? "missing")`)) as string[];
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
      assert.equal(await onPhone.textContent(".notice"), "Signed in on this device until you close the browser.");
      await onDesktop.reload();

      for (const page of [onDesktop, onPhone]) {
        const labels = await page.locator(".device .label").allTextContents();
        assert.equal(labels.length, 2, `two devices listed: ${labels.join(", ")}`);
        assert.ok(labels.some((label) => /Chrom/.test(label)), `a Chrome device is listed: ${labels.join(", ")}`);
        assert.ok(labels.some((label) => /Safari|iOS/.test(label)), `an iPhone is listed: ${labels.join(", ")}`);
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
      await confirmIfAsked(first!, "Log out everywhere");
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
      assert.equal(await first!.textContent(".notice"), "This device's session expired (30 minutes without activity, or 12 hours after signing in; 30 days with “Keep me signed in”).");
    } finally {
      await Promise.all(contexts.map((context) => context.close()));
    }
  });

  test("CSRF: every form carries the session's token, new at login; a post with a wrong or no token is refused, a cross-site form acts as nobody", async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await page.goto(`${base}/`);
      const before = await formTokens(page);
      await logIn(page, "gina");
      await page.fill("#note", "mine");
      await press(page, "Save");
      const tokens = await formTokens(page);
      assert.ok(tokens.length >= 4, `${tokens.length} forms`);
      assert.equal(new Set(tokens).size, 1, "one token, in every form");
      assert.match(tokens[0]!, /^[\w-]{43}$/);
      assert.notEqual(tokens[0], before[0], "login replaced the token the anonymous page had");

      // A script with the session cookie, posting the form with a wrong token, then with none.
      for (const form of [{ note: "forged", _csrf: before[0]! }, { note: "forged" }] as Record<string, string>[]) {
        const forged = await page.request.post(`${base}/note`, { form, maxRedirects: 0 });
        assert.equal(forged.status(), 403);
        const html = await forged.text();
        assert.match(html, /its CSRF token does not match\); nothing was changed\. Reload the page and try again\./);
        assert.doesNotMatch(html, /<form|gina/, "a refused post shows no forms and nothing of the session");
      }

      // Another site's page with a form that posts here: the browser does not send the SameSite=Lax cookie, so it acts as nobody.
      const attacker = await context.newPage();
      await attacker.setContent(`<form method="post" action="${base}/logout-everywhere"><input name="note" value="evil"></form>`);
      const [response] = await Promise.all([attacker.waitForNavigation(), attacker.evaluate(`document.forms[0].submit()`)]);
      assert.equal(response!.status(), 403);
      await attacker.close();

      // The live badge's WebSocket, opened with this visitor's cookie: from this page's origin it opens, from another site's it is refused.
      const cookie = (await context.cookies()).map(({ name, value }) => `${name}=${value}`).join("; ");
      assert.equal(await upgradeStatus(cookie, base), 101);
      assert.equal(await upgradeStatus(cookie, "https://evil.example"), 403);

      await page.reload();
      assert.equal(await page.textContent("#user"), "gina", "still signed in");
      assert.equal(await page.inputValue("#note"), "mine", "nothing was changed");
      assert.deepEqual(await formTokens(page), tokens, "the token stays until the next login");
    } finally {
      await context.close();
    }
  });

  test("flash: what a post did is shown once after its redirect, from the session (no cookie of the demo's own)", async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      await logIn(page, "hana");
      await page.fill("#note", "kept");
      const [response] = await Promise.all([page.waitForNavigation(), page.getByRole("button", { name: "Save", exact: true }).click()]);
      assert.equal(response!.request().redirectedFrom()?.method(), "POST", "the page came from the post's redirect");
      assert.equal(await page.textContent(".notice"), "Saved.");
      assert.deepEqual((await context.cookies()).map((cookie) => cookie.name).sort(), ["demo_signed_in_until", "sid"]);
      await page.reload();
      assert.equal(await page.locator(".notice").count(), 0, "shown once");
      assert.equal(await page.inputValue("#note"), "kept");
    } finally {
      await context.close();
    }
  });

  test("'Keep me signed in' gives a 30-day cookie; without it the cookie ends with the browser", async () => {
    const context = await browser.newContext();
    try {
      const page = await context.newPage();
      const sid = async () => (await context.cookies()).find((cookie) => cookie.name === "sid")!;
      await logIn(page, "kim");
      assert.equal(await page.textContent(".notice"), "Signed in on this device until you close the browser.");
      assert.equal((await sid()).expires, -1, "a browser-session cookie (no Expires)");
      assert.equal(await page.textContent(".device.mine .lifetime"), "until the browser closes");
      await press(page, "Log out");

      await logIn(page, "kim", { keep: true });
      assert.equal(await page.textContent(".notice"), "Signed in on this device for 30 days.");
      const days = ((await sid()).expires * 1000 - Date.now()) / DAY;
      assert.ok(days > 29.9 && days <= 30.01, `the cookie expires in ${days.toFixed(3)} days`);
      assert.equal(await page.textContent(".device.mine .lifetime"), "kept signed in");
      await screenshot(page, "desktop-kept-signed-in");
    } finally {
      await context.close();
    }
  });

  test("at most 5 devices: a 6th login signs out the one used longest ago, which is told why", async () => {
    const contexts = await Promise.all(Array.from({ length: 6 }, () => browser.newContext()));
    try {
      const pages = await Promise.all(contexts.map((context) => context.newPage()));
      for (const page of pages) await logIn(page, "lee");
      const sixth = pages[5]!;
      assert.deepEqual(await sixth.locator(".notice").allTextContents(), [
        "At most 5 devices stay signed in: the one used longest ago was signed out.",
        "Signed in on this device until you close the browser.",
      ]);
      assert.equal(await sixth.locator(".device").count(), 5);

      await pages[0]!.reload();
      assert.equal(await pages[0]!.textContent(".notice"), "This device was signed out from another device.");
      assert.equal(await pages[0]!.locator("#user").count(), 0, "the oldest device is signed out");
      for (const page of pages.slice(1)) {
        await page.reload();
        assert.equal(await page.textContent("#user"), "lee", "the 5 newest stay signed in");
      }
    } finally {
      await Promise.all(contexts.map((context) => context.close()));
    }
  });

  test("'Log out everywhere' asks for the password when the sign-in is not recent; a wrong one changes nothing", async () => {
    const contexts = [await browser.newContext(), await browser.newContext({ viewport: { width: 375, height: 740 }, userAgent: IPHONE, isMobile: true, hasTouch: true })];
    try {
      const [first, second] = await Promise.all(contexts.map((context) => context.newPage()));
      await logIn(first!, "max");
      await logIn(second!, "max");
      await second!.waitForTimeout(FRESH_MS + 500);

      await press(second!, "Log out everywhere");
      assert.equal(await second!.locator("#password").count(), 1, "the password is asked for");
      assert.equal(await second!.textContent("#demo-password"), "demo", "the demo's password is on the page");
      assert.equal(await second!.locator("input[name=_csrf]").count(), 1, "the prompt's form carries the CSRF token");
      await assertFits(second!);
      await screenshot(second!, "phone-password-prompt");

      await second!.fill("#password", "wrong");
      const [refused] = await Promise.all([second!.waitForNavigation(), second!.getByRole("button", { name: "Log out everywhere", exact: true }).click()]);
      assert.equal(refused!.status(), 403);
      assert.equal(await second!.textContent(".error"), "That is not the password; in this demo it is “demo”.");
      await first!.reload();
      assert.equal(await first!.textContent("#user"), "max", "nothing was ended");

      await second!.fill("#password", "demo");
      await press(second!, "Log out everywhere");
      assert.equal(await second!.textContent(".notice"), "Signed out everywhere: ended 2 sessions, this one included.");
      await first!.reload();
      assert.equal(await first!.textContent(".notice"), "This device was signed out from another device.");
    } finally {
      await Promise.all(contexts.map((context) => context.close()));
    }
  });

  test("the admin views as another user under a banner, and stops; nobody else can", async () => {
    const contexts = [await browser.newContext(), await browser.newContext({ viewport: { width: 375, height: 740 }, userAgent: IPHONE, isMobile: true, hasTouch: true })];
    try {
      const [admin, bob] = await Promise.all(contexts.map((context) => context.newPage()));
      await logIn(bob!, "bob");
      assert.equal(await bob!.locator("#view-as").count(), 0, "no 'View as' for other users");
      const [token] = await formTokens(bob!);
      const refused = await bob!.request.post(`${base}/view-as`, { form: { name: "admin", _csrf: token! }, maxRedirects: 0 });
      assert.equal(refused.status(), 403);
      assert.match(await refused.text(), /Only the user named “admin” can view as another user\./);

      await logIn(admin!, "admin");
      await admin!.fill("#view-as", "bob");
      await press(admin!, "View as");
      await confirmIfAsked(admin!, "View as");
      assert.match((await admin!.textContent(".impersonating"))!, /^Viewing as bob \(you are admin\) —\s*Stop$/);
      assert.equal(await admin!.textContent("#user"), "bob");
      assert.equal(await admin!.textContent(".notice"), "Now viewing as bob. Press Stop to be admin again.");
      await screenshot(admin!, "desktop-viewing-as");
      await bob!.reload();
      assert.match((await bob!.locator(".device").allTextContents()).join(" "), /admin viewing as bob/, "bob sees who is viewing as him");
      await assertFits(bob!);
      await screenshot(bob!, "phone-viewed-by-admin");

      await press(admin!, "Stop");
      assert.equal(await admin!.textContent("#user"), "admin");
      assert.equal(await admin!.locator(".impersonating").count(), 0);
      assert.equal(await admin!.textContent(".notice"), "Stopped viewing as another user: you are admin again.");
      await bob!.reload();
      assert.equal(await bob!.locator(".device").count(), 1, "the impersonation is gone from bob's list");
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

      // A JSON body (a script, not the form) with the session cookie but no x-csrf-token header: latchkey refuses it (403).
      const json = await page.request.post(`${base}/login`, { data: { name: "mallory" }, maxRedirects: 0 });
      assert.equal(json.status(), 403);
      assert.match(await json.text(), /This request did not come from a form of this page \(its CSRF token is missing\); nothing was changed\./);
      // Without a session cookie it has no authority to abuse; the page refuses it before reading it.
      const cookieless = await request.newContext();
      try {
        const answer = await cookieless.post(`${base}/login`, { data: { name: "mallory" }, maxRedirects: 0 });
        assert.equal(answer.status(), 415);
        const html = await answer.text();
        assert.match(html, /This page takes form posts \(application\/x-www-form-urlencoded\), not application\/json\./);
        assert.doesNotMatch(html, TRACE);
        assert.doesNotMatch(html, /<form/, "a refused post gets no forms");
      } finally {
        await cookieless.dispose();
      }

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
