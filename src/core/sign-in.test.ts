// Session-level tests of the sign-in features of issue 17 owned by the HTTP layer's
// design: bearer tokens (session.token, transport), CSRF tokens, flash messages,
// and the reserved keys that hold them.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { memoryStore } from "../stores/memory/index.js";
import { createSessions, CsrfError, RESERVED_KEY_PREFIX, SessionValueError, type Session, type SessionsOptions } from "./index.js";

function setup(overrides: Partial<SessionsOptions> = {}) {
  const store = memoryStore();
  const sessions = createSessions({ store, sweepInterval: false, ...overrides });
  /** One request: load (cookie or bearer), run, commit. */
  const request = async (token: string | null, fn: (session: Session) => unknown, transport: "cookie" | "bearer" = "cookie") => {
    const session = await sessions.load(token ?? undefined, undefined, { transport });
    await fn(session);
    const outcome = await session.commit();
    return { session, outcome, cookie: session.cookieInstruction() };
  };
  return { store, sessions, request };
}

describe("bearer tokens", () => {
  it("login with transport bearer sets no cookie and exposes the new token only in that request", async () => {
    const { sessions, request } = setup({ bearer: true });
    const login = await request(null, (s) => s.login("ann", { transport: "bearer" }));
    assert.equal(login.cookie.action, "none", "no Set-Cookie for a bearer login");
    const token = login.session.token;
    assert.ok(token && token.length === 48);
    const read = await request(token, (s) => assert.equal(s.userId, "ann"), "bearer");
    assert.equal(read.session.token, null, "a later request does not see the token again");
    assert.equal(read.session.transport, "bearer");
    assert.equal(read.cookie.action, "none");
    // A rotation in a bearer request issues a new bearer token; the old one dies.
    const again = await request(token, (s) => s.login("ann"), "bearer");
    assert.ok(again.session.token && again.session.token !== token);
    assert.equal(again.cookie.action, "none");
    assert.equal((await sessions.load(token, undefined, { transport: "bearer" })).userId, null);
    // Logout ends it everywhere, like a cookie session.
    const out = await request(again.session.token, (s) => s.logout(), "bearer");
    assert.equal(out.cookie.action, "none");
    assert.equal(out.session.token, null);
    assert.equal((await sessions.list("ann")).length, 0);
  });

  it("a cookie login never exposes its token", async () => {
    const { request } = setup({ bearer: true });
    const login = await request(null, (s) => s.login("bea"));
    assert.equal(login.cookie.action, "set");
    assert.equal(login.session.token, null);
  });

  it("a cookie session handed to a bearer client: the browser's dead cookie is cleared", async () => {
    const { request } = setup({ bearer: true });
    const first = await request(null, (s) => s.set("cart", ["a"]));
    assert.equal(first.cookie.action, "set");
    const cookieToken = first.cookie.action === "set" ? first.cookie.token : "";
    const handed = await request(cookieToken, (s) => s.login("cid", { transport: "bearer" }));
    assert.equal(handed.cookie.action, "clear");
    assert.ok(handed.session.token);
    assert.deepEqual((await request(handed.session.token, () => undefined, "bearer")).session.get("cart"), ["a"]);
  });

  it("an invalid bearer token is anonymous and cannot store anonymous data", async () => {
    const { request } = setup({ bearer: true });
    await request(
      `${"A".repeat(43)}.AAAA`,
      (s) => {
        assert.equal(s.userId, null);
        assert.throws(() => s.set("x", 1), /anonymous bearer session cannot be stored/);
      },
      "bearer",
    );
  });

  it("transport bearer without the bearer option is refused", async () => {
    const { request } = setup();
    await request(null, async (s) => {
      await assert.rejects(s.login("dan", { transport: "bearer" }), /createSessions\(\{ bearer: true \}\)/);
    });
    assert.throws(() => setup({ bearer: "yes" as never }), /bearer must be true or false/);
  });
});

describe("CSRF tokens", () => {
  it("created at first read, stored with the commit, verified in constant time, rotated at login", async () => {
    const { request } = setup({ csrf: true });
    let csrf = "";
    const first = await request(null, (s) => {
      csrf = s.csrfToken;
      assert.equal(s.csrfToken, csrf, "stable within the request");
    });
    assert.equal(first.outcome, "saved", "reading the token stores it");
    const token = first.cookie.action === "set" ? first.cookie.token : "";
    let rotated = "";
    const login = await request(token, async (s) => {
      assert.equal(s.csrfToken, csrf, "the next request sees it");
      assert.equal(s.verifyCsrf(csrf), true);
      assert.equal(s.verifyCsrf(`${csrf}x`), false);
      assert.equal(s.verifyCsrf(undefined), false);
      await s.login("eve");
      rotated = s.csrfToken;
    });
    assert.notEqual(rotated, csrf, "login replaces it");
    const next = login.cookie.action === "set" ? login.cookie.token : "";
    await request(next, (s) => {
      assert.equal(s.verifyCsrf(csrf), false, "the old token is refused after login");
      assert.equal(s.verifyCsrf(rotated), true);
    });
  });

  it("a locked session reads as anonymous and refuses changes until verifyCsrf accepts the field", async () => {
    const { request } = setup({ csrf: true });
    let csrf = "";
    const login = await request(null, async (s) => {
      await s.login("fay");
      s.set("cart", [1]);
      csrf = s.csrfToken;
    });
    const token = login.cookie.action === "set" ? login.cookie.token : "";
    await request(token, (s) => {
      s.lockUntilCsrfVerified();
      assert.equal(s.userId, null);
      assert.equal(s.get("cart"), undefined);
      assert.deepEqual(s.toJSON(), {});
      assert.throws(() => s.set("cart", []), CsrfError);
      assert.equal(s.verifyCsrf("wrong"), false);
      assert.equal(s.userId, null);
      assert.equal(s.verifyCsrf(csrf), true);
      assert.equal(s.userId, "fay");
      assert.deepEqual(s.get("cart"), [1]);
    });
  });

  it("needs the csrf option, and validates it", () => {
    const { sessions } = setup();
    return sessions.load(undefined).then((s) => {
      assert.throws(() => s.csrfToken, /csrf: true/);
      assert.throws(() => setup({ csrf: { header: "cookie" } }), /csrf.header/);
      assert.throws(() => setup({ csrf: { forms: 1 as never } }), /csrf.forms/);
    });
  });
});

describe("flash messages", () => {
  it("shown once, in order, on the next request; reading them is a commit of that key only", async () => {
    const { request, store } = setup();
    const first = await request(null, (s) => {
      s.set("theme", "dark");
      s.flash("notice", "Saved");
      s.flash("notice", "Mailed");
      s.flash("error", { field: "name" });
    });
    const token = first.cookie.action === "set" ? first.cookie.token : "";
    const shown = await request(token, (s) => {
      assert.deepEqual(s.flashes(), { notice: ["Saved", "Mailed"], error: [{ field: "name" }] });
    });
    assert.equal(shown.outcome, "saved");
    const id = shown.session.handle!;
    assert.deepEqual((await store.get(id))?.data, { theme: "dark" }, "only the flash key was removed");
    const again = await request(token, (s) => assert.deepEqual(s.flashes(), {}));
    assert.equal(again.outcome, "unchanged", "no flashes: nothing to write");
  });

  it("two overlapping requests that flash both keep their message (each message is a key of its own)", async () => {
    const { sessions, request } = setup();
    const first = await request(null, (s) => s.set("a", 1));
    const token = first.cookie.action === "set" ? first.cookie.token : "";
    const [tab1, tab2] = await Promise.all([sessions.load(token), sessions.load(token)]);
    tab1.flash("notice", "from tab 1");
    tab2.flash("notice", "from tab 2");
    await tab1.commit();
    await tab2.commit();
    const shown = await request(token, (s) => {
      assert.deepEqual(s.flashes().notice?.sort(), ["from tab 1", "from tab 2"]);
    });
    assert.equal(shown.outcome, "saved");
  });

  it("flash keys are checked like session keys", async () => {
    const { request } = setup();
    await request(null, (s) => {
      assert.throws(() => s.flash("__proto__", 1), SessionValueError);
      assert.throws(() => s.flash("x", undefined as never), SessionValueError);
    });
  });
});

describe("reserved keys", () => {
  it("cannot be set by the app and never appear in get, has or toJSON", async () => {
    const { request } = setup({ csrf: true });
    await request(null, (s) => {
      void s.csrfToken;
      s.flash("notice", "hi");
      s.set("a", 1);
      assert.throws(() => s.set(`${RESERVED_KEY_PREFIX}csrf`, "forged"), /latchkey's own/);
      assert.throws(() => s.unset(`${RESERVED_KEY_PREFIX}flash:x`), /latchkey's own/);
      assert.equal(s.get(`${RESERVED_KEY_PREFIX}csrf`), undefined);
      assert.equal(s.has(`${RESERVED_KEY_PREFIX}csrf`), false);
      assert.deepEqual(s.toJSON(), { a: 1 });
    });
  });
});

describe("bearer tokens through the near-cache (Redis)", async () => {
  const { deletePrefix, REDIS_URL, requireRedis, testPrefix } = await import("../testing/redis-server.js");
  const { redisStore } = await import("../stores/redis/index.js");
  const redis = await requireRedis();
  it("a cached bearer session keeps its transport, and a logout drops it from the cache", { skip: redis.skip }, async () => {
    const prefix = testPrefix();
    const sessions = createSessions({ store: redisStore({ url: REDIS_URL, prefix }), nearCache: true, bearer: true, sweepInterval: false });
    try {
      const bearer = { transport: "bearer" } as const;
      const api = await sessions.load(undefined);
      await api.login("nia", bearer);
      const token = api.token!;
      for (let i = 0; i < 200 && !sessions.stats().serving; i++) await new Promise((resolve) => setTimeout(resolve, 25));
      await sessions.load(token, undefined, bearer); // fills the cache
      const cached = sessions.loadCached([token], undefined, bearer);
      assert.ok(cached, "served by the near-cache");
      assert.equal(cached.transport, "bearer");
      assert.equal(cached.userId, "nia");
      cached.set("k", 1);
      await cached.commit();
      assert.equal(cached.cookieInstruction().action, "none", "a cached bearer session sets no cookie");
      await cached.logout();
      assert.equal(sessions.loadCached([token], undefined, bearer), undefined);
      assert.equal((await sessions.load(token, undefined, bearer)).userId, null);
    } finally {
      await sessions.close();
      await deletePrefix(REDIS_URL, prefix);
    }
  });
});
