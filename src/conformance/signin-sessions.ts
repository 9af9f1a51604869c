// The manager's sign-in features over a store: per-session lifetime ("Keep me
// signed in"), fresh authentication, impersonation and the per-user session limit.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { createSessions, ImpersonationError, SessionGoneError, SessionLimitError, type Session, type Sessions, type SessionsOptions } from "../core/index.js";
import type { SessionStore } from "../store/index.js";

export interface SignInConformanceOptions {
  name: string;
  createStore: () => SessionStore | Promise<SessionStore>;
}

const HOUR = 3_600_000;
const DAY = 24 * HOUR;

const tokenOf = (session: Session): string => {
  const cookie = session.cookieInstruction();
  assert.equal(cookie.action, "set");
  return (cookie as { token: string }).token;
};

/** Runs inside runSessionsConformance: every store passes it. */
export function runSignInConformance(options: SignInConformanceOptions): void {
  describe(`sign-in features: ${options.name}`, () => {
    const opened: Sessions[] = [];
    let skew = 0;
    const events: Array<{ kind: string; [key: string]: unknown }> = [];
    const fresh = async (settings: Partial<SessionsOptions> = {}) => {
      const sessions = createSessions({
        store: await options.createStore(),
        sweepInterval: false,
        allowProcessLocalStore: true,
        now: () => Date.now() + skew,
        hooks: {
          created: (event) => events.push({ kind: "created", ...event }),
          rotated: (event) => events.push({ kind: "rotated", ...event }),
          destroyed: (event) => events.push({ kind: "destroyed", ...event }),
        },
        ...settings,
      });
      opened.push(sessions);
      return sessions;
    };
    after(async () => {
      for (const sessions of opened) await sessions.close().catch(() => undefined);
    });
    const reload = (sessions: Sessions, session: Session) => sessions.load(tokenOf(session));

    it("login options: a 30-day 'Keep me signed in' beside a default browser session; each lifetime is kept, enforced on read and listed", async () => {
      skew = 0;
      const sessions = await fresh({ idleTimeout: 30 * 60_000, absoluteTimeout: 12 * HOUR });
      const remembered = await sessions.load(undefined);
      await remembered.login("lt-user", { persistent: true, idleTimeout: 30 * DAY, absoluteTimeout: 30 * DAY });
      const started = Date.now();
      const browser = await sessions.load(undefined);
      await browser.login("lt-user", { persistent: false });
      const rememberedCookie = remembered.cookieInstruction() as { expires: number | undefined };
      assert.ok(rememberedCookie.expires !== undefined && Math.abs(rememberedCookie.expires - (started + 30 * DAY)) < 5000, "the cookie lasts 30 days");
      assert.equal((browser.cookieInstruction() as { expires: number | undefined }).expires, undefined, "persistent: false: a browser-session cookie");
      const listed = new Map((await sessions.list("lt-user")).map((s) => [s.handle, s]));
      const long = listed.get(remembered.handle!)!;
      const short = listed.get(browser.handle!)!;
      assert.ok(Math.abs(long.absoluteExpiresAt - (started + 30 * DAY)) < 5000 && Math.abs(long.expiresAt - (started + 30 * DAY)) < 5000);
      assert.ok(Math.abs(short.absoluteExpiresAt - (started + 12 * HOUR)) < 5000 && Math.abs(short.expiresAt - (started + 30 * 60_000)) < 5000);
      assert.deepEqual([long.persistent, long.idleTimeout, short.persistent, short.idleTimeout], [true, 30 * DAY, false, 30 * 60_000]);
      // An hour idle: the default session has idled out (G4), the remembered one has not — and a touch keeps its own timeout.
      skew = HOUR;
      assert.equal((await reload(sessions, browser)).userId, null);
      const later = await reload(sessions, remembered);
      assert.equal(later.userId, "lt-user");
      assert.equal(await later.commit(), "saved", "touched (its touch interval is the manager's)");
      assert.ok(Math.abs(later.expiresAt! - (started + 30 * DAY)) < 5000, "the touch slides by the session's idle timeout, capped by its absolute expiry");
      skew = 29 * DAY;
      assert.equal((await reload(sessions, remembered)).userId, "lt-user");
      skew = 30 * DAY + 1000;
      assert.equal((await reload(sessions, remembered)).userId, null, "the absolute lifetime ends it");
      skew = 0;
      // A short per-session idle timeout is enforced too, with a touch interval under it.
      const brief = await sessions.load(undefined);
      await brief.login("lt-user", { idleTimeout: 2000 });
      skew = 1000;
      const touched = await reload(sessions, brief);
      assert.equal(touched.needsCommit, true, "a touch is due within the session's own idle timeout");
      assert.equal(await touched.commit(), "saved");
      skew = 2500;
      assert.equal((await reload(sessions, brief)).userId, "lt-user", "the touch kept it alive");
      skew = 5000;
      assert.equal((await reload(sessions, brief)).userId, null, "idle longer than its own timeout");
      skew = 0;
      // Bad options are a TypeError naming the fix, before any store call.
      const session = await sessions.load(undefined);
      for (const bad of [
        { idleTimeout: 0 },
        { absoluteTimeout: -1 },
        { idleTimeout: Infinity },
        { persistent: "yes" },
        { idleTimeout: 2000, absoluteTimeout: 1000 },
      ]) {
        await assert.rejects(
          session.login("lt-user", bad as never),
          (e: Error) => e instanceof TypeError && /login\(userId, \{/.test(e.message),
          JSON.stringify(bad),
        );
      }
      assert.equal(session.handle, null);
    });

    it("fresh authentication: authenticatedAt at login, reauthenticate() rotates the token and renews it without extending the lifetime, isFresh()", async () => {
      skew = 0;
      const sessions = await fresh();
      const session = await sessions.load(undefined);
      assert.equal(session.isFresh(60_000), false, "anonymous is never fresh");
      assert.equal(session.authenticatedAt, null);
      await session.login("fa-user");
      const signedInAt = session.authenticatedAt!;
      assert.ok(Math.abs(signedInAt - Date.now()) < 5000);
      session.set("cart" as never, ["a"] as never);
      await session.commit();
      skew = 10 * 60_000;
      const later = await reload(sessions, session);
      assert.equal(later.authenticatedAt, signedInAt, "stored with the session");
      assert.equal(later.isFresh(5 * 60_000), false);
      assert.equal(later.isFresh(15 * 60_000), true);
      const before = { token: tokenOf(session), absolute: (await sessions.list("fa-user"))[0]!.absoluteExpiresAt, createdAt: later.createdAt };
      later.set("theme" as never, "dark" as never);
      await later.reauthenticate();
      assert.notEqual(tokenOf(later), before.token, "a new token");
      assert.equal(later.isFresh(60_000), true);
      assert.ok(later.authenticatedAt! - signedInAt >= 10 * 60_000 - 1000);
      const [listed] = await sessions.list("fa-user");
      assert.equal(listed!.absoluteExpiresAt, before.absolute, "the absolute lifetime is not extended");
      assert.equal(listed!.authenticatedAt, later.authenticatedAt);
      assert.equal((await sessions.load(before.token)).userId, null, "the old token is dead");
      const again = await reload(sessions, later);
      assert.deepEqual(again.toJSON(), { cart: ["a"], theme: "dark" }, "data and this request's change are kept");
      assert.equal(again.createdAt, before.createdAt);
      assert.throws(() => again.isFresh(-1), TypeError);
      await assert.rejects((await sessions.load(undefined)).reauthenticate(), /needs a signed-in session/);
      // Revoked while the request held it: reauthenticate never brings it back.
      await sessions.revokeUser("fa-user");
      await assert.rejects(again.reauthenticate(), SessionGoneError);
      assert.equal(again.userId, null);
      assert.deepEqual(await sessions.list("fa-user"), []);
      skew = 0;
    });

    it("impersonation: acts as the user with impersonator set, listed for both, ended by revokeUser of the admin; stopImpersonating returns to the admin", async () => {
      skew = 0;
      events.length = 0;
      const sessions = await fresh();
      const admin = await sessions.load(undefined);
      await admin.login("im-admin", { persistent: false });
      admin.set("adminNote" as never, "secret" as never);
      await admin.commit();
      const adminToken = tokenOf(admin);
      const target = await sessions.load(undefined);
      await target.login("im-target");
      await admin.impersonate("im-target");
      assert.equal(admin.userId, "im-target");
      assert.equal(admin.impersonator, "im-admin");
      assert.notEqual(tokenOf(admin), adminToken);
      assert.equal((await sessions.load(adminToken)).userId, null, "the admin's old token is dead");
      assert.equal((admin.cookieInstruction() as { expires: number | undefined }).expires, undefined, "the admin's lifetime is kept");
      assert.deepEqual(admin.toJSON(), {}, "the admin's data is not carried into the impersonation");
      const viewing = await reload(sessions, admin);
      assert.deepEqual([viewing.userId, viewing.impersonator], ["im-target", "im-admin"]);
      assert.deepEqual(events.at(-1), {
        kind: "rotated",
        previousHandle: events.at(-1)!.previousHandle,
        handle: admin.handle,
        userId: "im-target",
        impersonator: "im-admin",
      });
      const forTarget = await sessions.list("im-target");
      assert.deepEqual(forTarget.map((s) => s.impersonator ?? null).sort(), ["im-admin", null]);
      assert.deepEqual(
        (await sessions.list("im-admin")).map((s) => [s.userId, s.impersonator]),
        [["im-target", "im-admin"]],
      );
      await assert.rejects(viewing.impersonate("someone"), (e: Error) => e instanceof ImpersonationError && /already impersonating/.test(e.message));
      await assert.rejects(target.impersonate("im-target"), ImpersonationError);
      await assert.rejects((await sessions.load(undefined)).impersonate("im-target"), /needs a signed-in session/);
      await assert.rejects(target.stopImpersonating(), /not impersonating/);
      // Stop: back to the admin, a new token, empty data.
      viewing.set("seenAsTarget" as never, true as never);
      await viewing.stopImpersonating();
      assert.deepEqual([viewing.userId, viewing.impersonator, viewing.toJSON()], ["im-admin", null, {}]);
      assert.equal((await sessions.load(tokenOf(admin))).userId, null, "the impersonation's token is dead");
      assert.deepEqual(
        (await sessions.list("im-target")).map((s) => s.impersonator ?? null),
        [null],
      );
      // revokeUser(admin) ends a running impersonation (and not the target's own session).
      await viewing.impersonate("im-target");
      const running = tokenOf(viewing);
      assert.equal(await sessions.revokeUser("im-admin"), 1);
      assert.equal((await sessions.load(running)).userId, null);
      assert.equal((await reload(sessions, target)).userId, "im-target");
      // revokeUser(target) ends an impersonation of the target too.
      const other = await sessions.load(undefined);
      await other.login("im-admin");
      await other.impersonate("im-target");
      assert.equal(await sessions.revokeUser("im-target"), 2);
      assert.equal((await sessions.load(tokenOf(other))).userId, null);
      assert.deepEqual(await sessions.list("im-admin"), []);
      // A login on an impersonating session ends the impersonation first.
      const again = await sessions.load(undefined);
      await again.login("im-admin");
      await again.impersonate("im-target");
      await again.login("im-target");
      assert.deepEqual([again.userId, again.impersonator], ["im-target", null]);
    });

    it("maxSessionsPerUser: 'end-oldest' ends the least recently used (hook reason 'limit'); 'refuse' rejects with SessionLimitError and keeps the session", async () => {
      skew = 0;
      events.length = 0;
      const sessions = await fresh({ maxSessionsPerUser: 2 });
      const devices: Session[] = [];
      for (let i = 0; i < 3; i++) {
        skew = i * 1000;
        const device = await sessions.load(undefined);
        await device.login("sl-user");
        devices.push(device);
      }
      skew = 3000;
      assert.equal((await reload(sessions, devices[0]!)).userId, null, "the least recently used ended");
      assert.equal((await reload(sessions, devices[2]!)).userId, "sl-user");
      assert.equal((await sessions.list("sl-user")).length, 2);
      assert.deepEqual(
        events.filter((e) => e.kind === "destroyed").map((e) => [e.handle, e.reason, e.userId]),
        [[devices[0]!.handle, "limit", "sl-user"]],
      );
      // Using device 1 makes device 2 the least recently used.
      skew = 4000 + 60_000;
      const used = await reload(sessions, devices[1]!);
      await used.commit();
      const fourth = await sessions.load(undefined);
      await fourth.login("sl-user");
      assert.equal((await reload(sessions, devices[2]!)).userId, null);
      assert.equal((await reload(sessions, devices[1]!)).userId, "sl-user");
      skew = 0;

      const refusing = await fresh({ maxSessionsPerUser: 1, onSessionLimit: "refuse" });
      const first = await refusing.load(undefined);
      await first.login("sr-user");
      const second = await refusing.load(undefined);
      second.set("cart" as never, ["kept"] as never);
      await second.commit();
      const anonymous = tokenOf(second);
      const error = await second.login("sr-user").then(
        () => null,
        (e: unknown) => e,
      );
      assert.ok(error instanceof SessionLimitError, String(error));
      assert.equal(error.status, 409);
      assert.match(error.message, /maxSessionsPerUser: 1/);
      assert.equal(second.userId, null);
      assert.deepEqual(second.toJSON(), { cart: ["kept"] }, "the request keeps its data");
      await second.commit();
      const stillThere = await refusing.load(second.cookieInstruction().action === "set" ? tokenOf(second) : anonymous);
      assert.deepEqual(stillThere.toJSON(), { cart: ["kept"] }, "the anonymous session (or its replacement) keeps the data");
      assert.equal((await reload(refusing, first)).userId, "sr-user");
      // Expired sessions do not count.
      skew = 13 * HOUR;
      const afterExpiry = await refusing.load(undefined);
      await afterExpiry.login("sr-user");
      assert.equal(afterExpiry.userId, "sr-user");
      skew = 0;
    });

    it("maxSessionsPerUser and onSessionLimit are validated at construction", async () => {
      const store = await options.createStore();
      try {
        assert.throws(() => createSessions({ store, maxSessionsPerUser: 0, allowProcessLocalStore: true }), /maxSessionsPerUser must be a whole number/);
        assert.throws(() => createSessions({ store, maxSessionsPerUser: 2.5, allowProcessLocalStore: true }), TypeError);
        assert.throws(
          () => createSessions({ store, maxSessionsPerUser: 2, onSessionLimit: "oldest" as never, allowProcessLocalStore: true }),
          /onSessionLimit must be/,
        );
        assert.throws(() => createSessions({ store, onSessionLimit: "refuse", allowProcessLocalStore: true }), /needs maxSessionsPerUser/);
        const limited = Object.create(store, { sessionLimits: { value: false } }) as SessionStore;
        assert.throws(
          () => createSessions({ store: limited, maxSessionsPerUser: 2, allowProcessLocalStore: true }),
          /needs a store that enforces it atomically/,
        );
      } finally {
        await store.close();
      }
    });
  });
}
