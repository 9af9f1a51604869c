// The demo as people use it, in real headless Chromium (setup: browser.ts):
// both workers answer, two browsers (a desktop and a phone) signed in as one
// user, "Log out other devices" from one (the other's live badge turns), a
// stale page, an expired session, and bad input answered on the page.
import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import Database from "better-sqlite3";
import { request, type BrowserContext } from "playwright-core";
import {
  assertFits,
  base,
  browser,
  confirmIfAsked,
  dir,
  IPHONE,
  logIn,
  press,
  screenshot,
  submitName,
  TRACE,
  useDemo,
  workerOnFreshConnection,
} from "./browser.js";

if (useDemo()) {
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
      assert.equal(
        await first!.textContent(".notice"),
        "This device's session expired (30 minutes without activity, or 12 hours after signing in; 30 days with “Keep me signed in”).",
      );
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
