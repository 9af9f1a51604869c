import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createSessions } from "../../core/index.js";
import { memoryStore } from "../../stores/memory/index.js";
import { SessionSealedError } from "../../core/index.js";
import { readCookieSession, SessionFailureError, withCookieSession, type CookieAttributes, type CookieJar } from "./index.js";

const quiet = { warn: () => undefined, error: () => undefined };

/** A request's cookie jar as Next.js's cookies() gives it: what the request sent, and what the action set. */
class Jar implements CookieJar {
  readonly written: Array<{ name: string; value: string; attributes: CookieAttributes }> = [];
  constructor(readonly cookies: Record<string, string> = {}) {}
  get(name: string) {
    return name in this.cookies ? { value: this.cookies[name]! } : undefined;
  }
  set(name: string, value: string, attributes: CookieAttributes) {
    this.written.push({ name, value, attributes });
    this.cookies[name] = value;
  }
  /** The next request's jar, as a browser would send it. */
  next(): Jar {
    const last = this.written.at(-1);
    return new Jar(last && last.attributes.maxAge !== 0 ? { [last.name]: last.value } : {});
  }
}

describe("withCookieSession (server actions)", () => {
  it("commits, then writes the cookie to the jar, before it resolves; the next request reads it", async () => {
    const store = memoryStore();
    const sessions = createSessions<{ cart?: string[] }>({ store, sweepInterval: false, logger: quiet });
    const jar = new Jar();
    const headers = new Headers({ "user-agent": "action/1", "x-forwarded-proto": "https", "x-forwarded-for": "198.51.100.4" });
    assert.equal(
      await withCookieSession(sessions, jar, async (session) => (await session.login("ann"), session.set("cart", ["a"]), "done"), { headers }),
      "done",
    );
    const [written] = jar.written;
    assert.equal(written!.name, "__Host-sid", "https (and no Host): Secure, so __Host-");
    assert.deepEqual({ ...written!.attributes, expires: undefined }, { path: "/", httpOnly: true, sameSite: "lax", secure: true, expires: undefined });
    assert.ok(written!.attributes.expires! > new Date());
    const [listed] = await sessions.list("ann");
    assert.equal(listed!.userAgent, "action/1", "the device list sees the request headers");
    const handle = await withCookieSession(
      sessions,
      jar.next(),
      (session) => (assert.equal(session.userId, "ann"), session.set("cart", ["a", "b"]), session.handle),
    );
    assert.deepEqual((await store.get(handle!))?.data.cart, ["a", "b"], "stored when the promise resolved");
    const out = jar.next();
    await withCookieSession(sessions, out, (session) => session.logout());
    assert.equal(out.written[0]!.attributes.maxAge, 0, "logout clears the cookie");
    assert.equal((await sessions.list("ann")).length, 0);
    await sessions.close();
  });

  it("an action that throws commits nothing; a store outage rejects with SessionFailureError 503 before the action runs", async () => {
    const store = memoryStore();
    const sessions = createSessions<{ cart?: string[] }>({ store, sweepInterval: false, logger: quiet });
    const jar = new Jar();
    const handle = await withCookieSession(sessions, jar, async (session) => (await session.login("bo"), session.handle));
    await assert.rejects(
      withCookieSession(sessions, jar.next(), (session) => (session.set("cart", ["lost"]), Promise.reject(new Error("boom")))),
      /boom/,
    );
    assert.equal((await store.get(handle!))?.data.cart, undefined);
    await assert.rejects(
      withCookieSession(sessions, {} as never, () => undefined),
      /needs a cookie jar/,
    );
    await store.close();
    let ran = false;
    const failure = await withCookieSession(sessions, jar.next(), () => (ran = true)).catch((error: unknown) => error);
    assert.ok(failure instanceof SessionFailureError);
    assert.equal(failure.status, 503);
    assert.equal(ran, false);
    await sessions.close().catch(() => undefined);
  });

  it("the cookie follows the Host as on every adapter; X-Forwarded-For counts only through trustProxy, from the right", async () => {
    const sessions = createSessions({ store: memoryStore(), sweepInterval: false, logger: quiet, recordIp: true });
    const forwarded = { "x-forwarded-for": "198.51.100.66, 203.0.113.9" };
    const local = new Jar();
    await withCookieSession(sessions, local, (session) => session.login("lo"), { headers: new Headers({ host: "localhost:3000", ...forwarded }) });
    assert.equal(local.written[0]!.name, "sid");
    assert.equal(local.written[0]!.attributes.secure, false, "plain HTTP to localhost");
    assert.equal((await sessions.list("lo"))[0]!.ip, undefined, "X-Forwarded-For is not trusted by default");
    const behindProxy = new Jar();
    await withCookieSession(sessions, behindProxy, (session) => session.login("pr"), {
      headers: new Headers({ host: "app.example.com", ...forwarded }),
      trustProxy: 1,
    });
    assert.equal(behindProxy.written[0]!.name, "__Host-sid");
    assert.equal(behindProxy.written[0]!.attributes.secure, true, "a public host: Secure without any proxy header");
    assert.equal((await sessions.list("pr"))[0]!.ip, "203.0.113.9", "the entry the trusted proxy appended, not the client's");
    await assert.rejects(
      withCookieSession(sessions, new Jar(), () => undefined, { trustProxy: true as never }),
      /give the number of reverse proxies/i,
    );
    await sessions.close();
  });

  it("readCookieSession (server components) reads the cookie of the request's scope: __Host-sid on a public host, never a tossed sid", async () => {
    const sessions = createSessions({ store: memoryStore(), sweepInterval: false, logger: quiet });
    const publicHost = new Headers({ host: "app.example.com" });
    const victim = new Jar();
    await withCookieSession(sessions, victim, (session) => session.login("victim"), { headers: publicHost });
    const mallory = new Jar();
    await withCookieSession(sessions, mallory, (session) => session.login("mallory"), { headers: publicHost });
    const victimToken = victim.written[0]!.value;
    const malloryToken = mallory.written[0]!.value;
    assert.equal(victim.written[0]!.name, "__Host-sid");
    // What `sessions.load(jar.getAll(sessions.cookie.name))` did: it read "sid", which a sibling subdomain can set.
    const tossed = new Jar({ sid: malloryToken });
    assert.equal(
      (await readCookieSession(sessions, tossed, { headers: publicHost })).userId,
      null,
      "the unprefixed twin is never read where __Host- is in use",
    );
    const both = new Jar({ sid: malloryToken, "__Host-sid": victimToken });
    const page = await readCookieSession(sessions, both, { headers: publicHost });
    assert.equal(page.userId, "victim");
    assert.throws(() => page.set("x" as never, 1 as never), SessionSealedError, "a server component cannot write a cookie: the session is read-only");
    assert.deepEqual(both.written, []);
    const local = new Jar();
    await withCookieSession(sessions, local, (session) => session.login("dev"), { headers: new Headers({ host: "localhost:3000" }) });
    assert.equal(
      (await readCookieSession(sessions, local.next(), { headers: new Headers({ host: "localhost:3000" }) })).userId,
      "dev",
      "plain HTTP to localhost: sid",
    );
    await sessions.close();
  });
});
