import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createSessions } from "../core/index.js";
import { honoSessions } from "../adapters/hono/index.js";
import { memoryStore } from "../stores/memory/index.js";
import { nodeSessions } from "../adapters/node/index.js";
import { withSession } from "../adapters/web/index.js";
import { forwardedEntry, isLocalRequest, isLoopbackHost, resolveTrustProxy } from "./transport.js";

describe("transport: local development and forwarded headers", () => {
  it("a loopback Host is localhost, *.localhost, 127.x.x.x or [::1], with any port; nothing else", () => {
    for (const host of ["localhost", "LOCALHOST:3000", "app.localhost", "localhost.", "127.0.0.1", "127.1.2.3:8080", "[::1]", "[::1]:3000"])
      assert.ok(isLoopbackHost(host), host);
    for (const host of ["app.example.com", "localhost.example.com", "notlocalhost", "127.0.0.1.nip.io", "10.0.0.1", "[::2]:3000", "[::1", ""])
      assert.ok(!isLoopbackHost(host), host);
  });

  it("a request is local only when no header names a public host or https", () => {
    assert.ok(isLocalRequest("localhost:3000", undefined, undefined));
    assert.ok(isLocalRequest("localhost:3000", "localhost:5173", "http"));
    assert.ok(!isLocalRequest(undefined, undefined, undefined), "no Host: not local");
    assert.ok(!isLocalRequest("localhost:3000", "app.example.com", undefined));
    assert.ok(!isLocalRequest("localhost:3000", "localhost, app.example.com", undefined));
    assert.ok(!isLocalRequest("localhost:3000", undefined, "https"));
    assert.ok(!isLocalRequest("localhost:3000", undefined, "http, https"));
  });

  it("X-Forwarded-For through n trusted proxies is the n-th entry from the right (the leftmost when there are fewer)", () => {
    assert.equal(forwardedEntry("198.51.100.66, 203.0.113.9", 1), "203.0.113.9");
    assert.equal(forwardedEntry("198.51.100.66, 203.0.113.9, 10.0.0.2", 2), "203.0.113.9");
    assert.equal(forwardedEntry("203.0.113.9", 3), "203.0.113.9");
    assert.equal(forwardedEntry(["198.51.100.66", "203.0.113.9"], 1), "203.0.113.9");
    assert.equal(forwardedEntry("203.0.113.9", 0), undefined);
    assert.equal(forwardedEntry(undefined, 1), undefined);
    assert.equal(forwardedEntry("a, ", 1), undefined);
  });

  it("trustProxy is a count of proxies; true is refused at construction, on every adapter that reads X-Forwarded-*", async () => {
    assert.equal(resolveTrustProxy(undefined, "x"), 0);
    assert.equal(resolveTrustProxy(false, "x"), 0);
    assert.equal(resolveTrustProxy(2, "x"), 2);
    for (const bad of [-1, 1.5, 33, "1"]) assert.throws(() => resolveTrustProxy(bad, "x"), /whole number from 0 to 32/);
    const sessions = createSessions({ store: memoryStore(), sweepInterval: false });
    const refused = (error: Error) => error instanceof TypeError && /trustProxy: true is not accepted.*e\.g\. trustProxy: 1/.test(error.message);
    assert.throws(() => nodeSessions(sessions, () => undefined, { trustProxy: true as never }), refused);
    assert.throws(() => honoSessions(sessions, { trustProxy: true as never }), refused);
    assert.throws(() => withSession(sessions, () => new Response(), { trustProxy: true as never }), refused);
    await sessions.close();
  });
});
