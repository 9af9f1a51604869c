import assert from "node:assert/strict";
import { test } from "node:test";
import { ago, page } from "./page.js";

test("ago() says how long ago, in words", () => {
  const now = Date.UTC(2026, 0, 10, 12);
  assert.equal(ago(now, now), "just now");
  assert.equal(ago(now - 59_000, now), "just now");
  assert.equal(ago(now - 60_000, now), "1 minute ago");
  assert.equal(ago(now - 2 * 60_000 - 10_000, now), "2 minutes ago");
  assert.equal(ago(now - 3 * 3_600_000, now), "3 hours ago");
  assert.equal(ago(now - 86_400_000, now), "yesterday");
  assert.equal(ago(now - 5 * 86_400_000, now), "5 days ago");
  assert.equal(ago(now + 2 * 3_600_000, now), "in 2 hours");
});

test("page() escapes what users typed and marks this device", () => {
  const now = Date.now();
  const html = page({
    worker: "worker 1 (pid 1)",
    userId: `<img src=x onerror="alert(1)">`,
    note: `"><script>alert(2)</script>`,
    handle: "h1",
    sessions: [
      {
        handle: "h1",
        userId: "u",
        createdAt: now - 3_600_000,
        lastSeenAt: now - 120_000,
        expiresAt: now + 1,
        absoluteExpiresAt: now + 1,
        device: "Firefox on Linux",
        persistent: true,
        idleTimeout: 1_800_000,
      },
      {
        handle: "h2",
        userId: "u",
        createdAt: now,
        lastSeenAt: now,
        expiresAt: now + 1,
        absoluteExpiresAt: now + 1,
        device: "<b>Evil</b>",
        persistent: true,
        idleTimeout: 1_800_000,
      },
    ],
    csrf: `tok"en`,
    now,
  });
  assert.doesNotMatch(html, /<img|<script>alert|<b>Evil/);
  assert.match(html, /&lt;img src=x onerror=&quot;alert\(1\)&quot;&gt;/);
  assert.match(html, /<meta name="viewport" content="width=device-width, initial-scale=1">/);
  assert.match(html, /Firefox on Linux<\/b>\s*<div class="meta">Last active <span class="last-active">2 minutes ago<\/span>/);
  assert.match(html, /<span class="badge">This device<\/span>/);
  assert.equal(html.match(/action="\/revoke"/g)?.length, 1, "a sign-out button for the other device only");
  // Every form carries the session's CSRF token (escaped like anything else).
  const forms = html.match(/<form [^>]*>/g) ?? [];
  assert.ok(forms.length >= 4, `${forms.length} forms`);
  assert.equal(html.match(/<form [^>]*><input type="hidden" name="_csrf" value="tok&quot;en">/g)?.length, forms.length);
});

test("page() without a CSRF token is bare: the sentence and a link back, no forms", () => {
  const html = page({ worker: "w", userId: "u", note: "", handle: "h1", sessions: [], csrf: null, error: "Refused.", now: Date.now() });
  assert.doesNotMatch(html, /<form/);
  assert.match(html, /<p class="error" role="alert">Refused\.<\/p>/);
  assert.match(html, /<a href="\/">Back to the page<\/a>/);
});

test("page() asks for the password in place of the page, carrying the action's fields; the admin's banner and 'View as'", () => {
  const base = { worker: "w", note: "", handle: "h1", sessions: [], csrf: "tok", now: Date.now() };
  const prompt = page({
    ...base,
    userId: "admin",
    admin: true,
    confirm: { action: "/view-as", label: "View as", fields: { name: `<bob>` }, within: "5 minutes", password: "demo" },
  });
  assert.match(
    prompt,
    /<form method="post" action="\/view-as"[^>]*><input type="hidden" name="_csrf" value="tok"><input type="hidden" name="name" value="&lt;bob&gt;">/,
  );
  assert.match(prompt, /<input id="password" name="password" type="password"/);
  assert.match(prompt, /the password is <b id="demo-password">demo<\/b>/);
  assert.doesNotMatch(prompt, /action="\/logout-everywhere"|id="view-as"/, "the prompt replaces the page");

  assert.match(page({ ...base, userId: "admin", admin: true }), /id="view-as"/);
  const viewing = page({ ...base, userId: "bob", impersonator: "admin", admin: false });
  assert.match(
    viewing,
    /<div class="impersonating" role="status"><span>Viewing as <b>bob<\/b> <span class="meta">\(you are admin\)<\/span> —<\/span><form method="post" action="\/stop-viewing">/,
  );
  assert.doesNotMatch(viewing, /id="view-as"/);
});
