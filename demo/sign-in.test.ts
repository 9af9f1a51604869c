// The demo's sign-in features in real headless Chromium (setup: browser.ts):
// CSRF tokens in every form, flash messages, "Keep me signed in", at most 5
// devices, the password prompt before "Log out everywhere", and the admin's
// "View as".
import assert from "node:assert/strict";
import { test } from "node:test";
import { assertFits, base, browser, confirmIfAsked, DAY, formTokens, FRESH_MS, IPHONE, logIn, press, screenshot, upgradeStatus, useDemo } from "./browser.js";

if (useDemo()) {
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
    const contexts = [
      await browser.newContext(),
      await browser.newContext({ viewport: { width: 375, height: 740 }, userAgent: IPHONE, isMobile: true, hasTouch: true }),
    ];
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
    const contexts = [
      await browser.newContext(),
      await browser.newContext({ viewport: { width: 375, height: 740 }, userAgent: IPHONE, isMobile: true, hasTouch: true }),
    ];
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
}
