import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { memoryStore } from "../stores/memory/index.js";
import { createSessions, SessionValueError, type SessionsOptions } from "./index.js";
import { idOfToken } from "../store/token.js";

const MIN = 60_000;

function setup(overrides: Partial<SessionsOptions> = {}) {
  const clock = { now: 1_700_000_000_000 };
  const events: string[] = [];
  const store = memoryStore();
  const sessions = createSessions({
    store,
    idleTimeout: 30 * MIN,
    absoluteTimeout: 120 * MIN,
    touchInterval: MIN,
    sweepInterval: false,
    now: () => clock.now,
    hooks: {
      created: (e) => events.push(`created ${e.userId}`),
      rotated: (e) => events.push(`rotated ${e.userId}`),
      destroyed: (e) => events.push(`destroyed ${e.reason} ${e.count}`),
    },
    ...overrides,
  });
  /** Simulates one request: load from a token, run, commit; returns the new token. */
  const request = async (token: string | null, fn: (s: Awaited<ReturnType<typeof sessions.load>>) => Promise<void> | void) => {
    const session = await sessions.load(token ?? undefined);
    await fn(session);
    const outcome = await session.commit();
    const cookie = session.cookieInstruction();
    const next = cookie.action === "set" ? cookie.token : cookie.action === "clear" ? null : token;
    return { session, outcome, token: next };
  };
  return { clock, events, store, sessions, request };
}

describe("createSessions options", () => {
  const store = memoryStore();
  const bad: Array<[string, Partial<SessionsOptions>, RegExp]> = [
    ["no store", { store: undefined as never }, /options.store is required/],
    ["negative idle", { idleTimeout: -1 }, /idleTimeout must be a positive number/],
    ["absolute < idle", { idleTimeout: 10 * MIN, absoluteTimeout: MIN }, /absoluteTimeout .* shorter than idleTimeout/],
    ["touch >= idle", { idleTimeout: MIN, touchInterval: MIN }, /touchInterval .* must be shorter/],
    ["bad sameSite", { cookie: { sameSite: "loose" as never } }, /sameSite must be/],
    ["none without secure", { cookie: { sameSite: "none" } }, /needs cookie.secure: true/],
    ["bad cookie name", { cookie: { name: "s id" } }, /not a valid cookie name/],
    ["hostPrefix with domain", { cookie: { hostPrefix: true, domain: "example.com" } }, /forbids cookie.domain/],
    ["hostPrefix insecure", { cookie: { hostPrefix: true, secure: false } }, /needs Secure/],
    ["a domain under the default __Host- name", { cookie: { domain: "example.com" } }, /forbids cookie.domain.*hostPrefix: false/],
    ["a path under the default __Host- name", { cookie: { path: "/app" } }, /needs cookie.path "\/".*hostPrefix: false/],
    ["a name that carries a prefix", { cookie: { name: "__Host-sid" } }, /give the bare name/],
    ["a hostPrefix that is not a boolean", { cookie: { hostPrefix: "auto" as never } }, /hostPrefix must be true or false/],
    ["bad conflicts", { conflicts: "merge" as never }, /conflicts must be/],
  ];
  for (const [label, options, message] of bad) {
    it(`refuses ${label}`, () => {
      assert.throws(
        () => createSessions({ store, sweepInterval: false, ...options } as SessionsOptions),
        (error: Error) => error instanceof TypeError && message.test(error.message),
      );
    });
  }
  it("applies the __Host- prefix", () => {
    const sessions = createSessions({ store, sweepInterval: false, cookie: { hostPrefix: true } });
    assert.equal(sessions.cookie.name, "__Host-sid");
    assert.equal(sessions.cookie.secure, true);
  });
  it("names the cookie __Host-sid when Secure and sid otherwise, unless hostPrefix: false (which allows a domain and a path)", () => {
    const names = (cookie: SessionsOptions["cookie"]) => {
      const { name, secureName } = createSessions({ store, sweepInterval: false, cookie }).cookie;
      return [name, secureName];
    };
    assert.deepEqual(names({}), ["sid", "__Host-sid"]);
    assert.deepEqual(names({ name: "app" }), ["app", "__Host-app"]);
    assert.deepEqual(names({ hostPrefix: false, domain: "example.com", path: "/app" }), ["sid", "sid"]);
    assert.deepEqual(names({ secure: false, domain: "example.com" }), ["sid", "__Host-sid"], "never Secure, so never prefixed: a domain is allowed");
  });
});

describe("session lifecycle", () => {
  it("mints 256-bit tokens and stores only their hash (G5)", async () => {
    const { request, store } = setup();
    const { token, session } = await request(null, (s) => s.set("theme", "dark"));
    assert.ok(token && token.length === 48);
    assert.equal(session.handle, idOfToken(token));
    const stored = await store.get(idOfToken(token));
    assert.ok(stored);
    assert.ok(!JSON.stringify(stored).includes(token.slice(0, 43)), "the token is not in the store");
  });

  it("login keeps data and rotates; switching user starts empty", async () => {
    const { request, events, sessions } = setup();
    const first = await request(null, (s) => s.set("cart", ["x"]));
    const login = await request(first.token, (s) => s.login("alice"));
    assert.notEqual(login.token, first.token);
    assert.equal((await sessions.load(first.token!)).userId, null, "old token dead");
    const loaded = await sessions.load(login.token!);
    assert.equal(loaded.userId, "alice");
    assert.deepEqual(loaded.get("cart"), ["x"]);
    const switched = await request(login.token, (s) => s.login("mallory"));
    const asMallory = await sessions.load(switched.token!);
    assert.equal(asMallory.userId, "mallory");
    assert.equal(asMallory.get("cart"), undefined, "alice's data does not leak to mallory");
    assert.deepEqual(events, ["created null", "rotated alice", "destroyed logout 1", "created mallory"]);
  });

  it("idle timeout slides with use, absolute timeout does not (G4)", async () => {
    const { request, clock, sessions, events } = setup();
    let { token } = await request(null, (s) => s.login("bob"));
    for (let i = 0; i < 5; i++) {
      clock.now += 20 * MIN; // each visit within the 30-minute idle window
      const visit = await request(token, (s) => assert.equal(s.userId, "bob", `visit ${i}`));
      assert.equal(visit.outcome, "saved", "touch written (interval passed)");
      token = visit.token;
    }
    clock.now += 20 * MIN; // 120 minutes since login: absolute expiry
    assert.equal((await sessions.load(token!)).userId, null);
    assert.ok(events.includes("destroyed expired 1"));
  });

  it("an idle session expires even if the store kept it", async () => {
    const { request, clock, sessions, store } = setup();
    const { token } = await request(null, (s) => s.login("carol"));
    clock.now += 30 * MIN;
    const session = await sessions.load(token!);
    assert.equal(session.userId, null);
    assert.equal(session.cookieInstruction().action, "clear");
    assert.equal(await store.get(idOfToken(token!)), null, "expired record deleted on read");
  });

  it("a session that idles out during a request is not extended by its commit (G4)", async () => {
    const { request, clock, sessions } = setup();
    const { token } = await request(null, (s) => s.login("hal"));
    clock.now += 29 * MIN;
    const slow = await sessions.load(token!);
    assert.equal(slow.userId, "hal");
    clock.now += 2 * MIN; // idle timeout passes while the request runs
    slow.set("cart", ["late"]);
    assert.equal(await slow.commit(), "gone");
    assert.equal((await sessions.load(token!)).userId, null);
  });

  it("a clock or timeout with fractions still writes whole milliseconds", async () => {
    const { request, store } = setup({ now: () => 1_700_000_000_000.75, idleTimeout: 30 * MIN + 0.4 });
    const { token } = await request(null, (s) => s.login("ivan"));
    const record = await store.get(idOfToken(token!));
    assert.ok(record && Number.isInteger(record.createdAt) && Number.isInteger(record.expiresAt) && Number.isInteger(record.absoluteExpiresAt));
  });

  it("touch is throttled to one write per touchInterval", async () => {
    const { request, clock } = setup();
    const { token } = await request(null, (s) => s.login("dan"));
    clock.now += 10_000;
    assert.equal((await request(token, () => undefined)).outcome, "unchanged");
    clock.now += 50_000;
    assert.equal((await request(token, () => undefined)).outcome, "saved");
    clock.now += 1_000;
    assert.equal((await request(token, () => undefined)).outcome, "unchanged");
  });

  it("a write to a logged-out session is gone, never resurrected (G1)", async () => {
    const { request, sessions } = setup();
    const { token } = await request(null, (s) => s.login("erin"));
    const slow = await sessions.load(token!);
    await request(token, (s) => s.logout());
    slow.set("cart", ["late"]);
    assert.equal(await slow.commit(), "gone");
    assert.equal((await sessions.load(token!)).userId, null);
    assert.deepEqual(await sessions.list("erin"), []);
  });

  it('conflicts: "reject" refuses a stale write to the session', async () => {
    const { request, sessions } = setup({ conflicts: "reject" });
    const { token } = await request(null, (s) => s.login("fay"));
    const one = await sessions.load(token!);
    const two = await sessions.load(token!);
    one.set("theme", "a");
    two.set("theme", "b");
    assert.equal(await one.commit(), "saved");
    assert.equal(await two.commit(), "conflict");
    assert.equal((await sessions.load(token!)).get("theme"), "a");
  });

  it("refuses session data over maxDataBytes with a clear error", async () => {
    const { sessions } = setup({ maxDataBytes: 100 });
    const session = await sessions.load(undefined);
    session.set("big", "x".repeat(200));
    await assert.rejects(session.commit(), (e: Error) => e instanceof SessionValueError && /over maxDataBytes/.test(e.message));
  });

  it("values that are not JSON are refused with a clear error", async () => {
    const sessions = createSessions({ store: memoryStore(), sweepInterval: false });
    const session = await sessions.load(undefined);
    assert.throws(() => session.set("x", undefined as never), /use session.unset/);
    assert.throws(() => session.set("x", 1n as never), /not JSON-serialisable/);
    await sessions.close();
  });

  it("get() and has() see only the session's own keys, never Object.prototype's", async () => {
    const { request, sessions } = setup();
    const { token } = await request(null, (s) => s.set("theme", "dark"));
    for (const session of [await sessions.load(undefined), await sessions.load(token!)]) {
      for (const key of ["constructor", "__proto__", "toString", "hasOwnProperty", "valueOf"]) {
        assert.equal(session.get(key), undefined, key);
        assert.equal(session.has(key), false, key);
      }
    }
    assert.equal((await sessions.load(token!)).get("theme"), "dark");
  });

  it("revokeUser counts, list shows handles, revoke(handle) ends one", async () => {
    const { request, sessions, events } = setup();
    const a = await request(null, (s) => s.login("gina"));
    const b = await request(null, (s) => s.login("gina"));
    const listed = await sessions.list("gina");
    assert.equal(listed.length, 2);
    assert.ok(listed.every((info) => !("token" in info)));
    assert.equal(await sessions.revoke(listed[0]!.handle), true);
    await assert.rejects(sessions.revoke("not-a-handle"), /revoke: handle must be a session handle/);
    assert.equal(await sessions.revokeUser("gina"), 1);
    assert.equal((await sessions.load(a.token!)).userId, null);
    assert.equal((await sessions.load(b.token!)).userId, null);
    assert.ok(events.includes("destroyed revoke 1") && events.includes("destroyed revoke-user 1"));
  });

  it("revoke(handle, { userId }) refuses another user's (or an anonymous) session and revokes nothing", async () => {
    const { request, sessions } = setup();
    const gina = await request(null, (s) => s.login("gina"));
    const hal = await request(null, (s) => s.login("hal"));
    const anonymous = await request(null, (s) => s.set("theme", "dark"));
    const halHandle = (await sessions.list("hal"))[0]!.handle;
    assert.equal(await sessions.revoke(halHandle, { userId: "gina" }), false);
    assert.equal((await sessions.load(hal.token!)).userId, "hal", "hal is still signed in");
    assert.equal(await sessions.revoke((await sessions.load(anonymous.token!)).handle!, { userId: "gina" }), false);
    assert.equal((await sessions.load(anonymous.token!)).get("theme"), "dark");
    assert.equal(await sessions.revoke((await sessions.list("gina"))[0]!.handle, { userId: "gina" }), true);
    assert.equal((await sessions.load(gina.token!)).userId, null);
    await assert.rejects(sessions.revoke(halHandle, null as never), /options must be an object/);
    await assert.rejects(sessions.revoke(halHandle, { userId: "" }), /revoke/);
  });

  it("a hook that throws is logged, never breaks the request", async () => {
    const logged: string[] = [];
    const { request } = setup({
      hooks: {
        created: () => {
          throw new Error("audit down");
        },
      },
      logger: { warn: () => undefined, error: (m) => logged.push(m) },
    });
    const { outcome } = await request(null, (s) => s.set("a", 1));
    assert.equal(outcome, "saved");
    assert.match(logged[0]!, /hook threw.*audit down/s);
  });
});
