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
    now,
  });
  assert.doesNotMatch(html, /<img|<script>alert|<b>Evil/);
  assert.match(html, /&lt;img src=x onerror=&quot;alert\(1\)&quot;&gt;/);
  assert.match(html, /<meta name="viewport" content="width=device-width, initial-scale=1">/);
  assert.match(html, /Firefox on Linux<\/b>\s*<div class="meta">Last active <span class="last-active">2 minutes ago<\/span>/);
  assert.match(html, /<span class="badge">This device<\/span>/);
  assert.equal(html.match(/action="\/revoke"/g)?.length, 1, "a sign-out button for the other device only");
});
