// The manager's contract over a store: identical input checks on every store
// (a bad input is a TypeError / SessionValueError naming the field, raised
// before the store is called), log out other devices, and the device list.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { runSignInConformance } from "./signin-sessions.js";
import { createSessions, SessionInputError, SessionValueError, type RequestContext, type Session, type Sessions } from "../core/index.js";
import type { SessionStore } from "../store/index.js";

export interface SessionsConformanceOptions {
  /** Shown as the suite's title. */
  name: string;
  /** A store for one test. Called once per test; every store is closed afterwards. */
  createStore: () => SessionStore | Promise<SessionStore>;
  /** Called once after the suite. */
  cleanup?: () => void | Promise<void>;
}

const FIREFOX_LINUX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const SAFARI_IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

/**
 * A request as an adapter describes it, for tests that call `sessions.load()` directly.
 * @example
 * const session = await sessions.load(undefined, requestFrom("curl/8.5.0", "192.0.2.1"));
 */
export function requestFrom(userAgent: string | undefined, ip?: string): RequestContext {
  return { cookieHeader: undefined, userAgent, ip: () => ip };
}

/** The store, with a count of every call made to it (the real store answers each one). */
function counted(store: SessionStore): { store: SessionStore; calls: string[] } {
  const calls: string[] = [];
  const proxy = new Proxy(store, {
    get(target, property, receiver) {
      const value = Reflect.get(target, property, receiver) as unknown;
      if (typeof value !== "function" || property === "close") return value;
      return (...args: unknown[]) => {
        calls.push(String(property));
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return { store: proxy, calls };
}

const BAD_USER_IDS: Array<[string, unknown]> = [
  ["a number", 42],
  ["null", null],
  ["an empty string", ""],
  ["257 characters", "u".repeat(257)],
  ["a NUL character", "ali\u0000ce"],
  ["a newline", "ali\nce"],
  ["DEL", "ali\u007fce"],
  ["a lone surrogate", "ali\ud800ce"],
];
const BAD_HANDLES: Array<[string, unknown]> = [
  ["a number", 7],
  ["an empty string", ""],
  ["a token-like string", "not-a-handle"],
  ["a NUL character", `abcd:${"a".repeat(42)}\u0000`],
];
const BAD_KEYS: Array<[string, unknown]> = [
  ["an empty string", ""],
  ["201 characters", "k".repeat(201)],
  ["a NUL character", "ca\u0000rt"],
  ["a control character", "ca\trt"],
  ["a lone surrogate", "ca\udc00rt"],
  ["__proto__", "__proto__"],
  ["a number", 5],
];
const BAD_VALUES: Array<[string, unknown]> = [
  ["undefined", undefined],
  ["a function", () => 1],
  ["a BigInt", 10n],
  ["a NUL character", "a\u0000b"],
  ["a nested NUL character", { deep: ["x\u0000"] }],
  ["a lone surrogate", "\ud83d"],
  ["a key with a lone surrogate", { ["\udfff"]: 1 }],
];

/**
 * Runs the manager-level contract on a store: every latchkey store passes it.
 * @example
 * runSessionsConformance({ name: "my store", createStore: () => myStore() });
 */
export function runSessionsConformance(options: SessionsConformanceOptions): void {
  describe(`sessions conformance: ${options.name}`, () => {
    const opened: Sessions[] = [];
    const fresh = async (settings: { recordIp?: boolean; bearer?: boolean; csrf?: boolean } = {}) => {
      const { store, calls } = counted(await options.createStore());
      const sessions = createSessions({ store, sweepInterval: false, allowProcessLocalStore: true, ...settings });
      opened.push(sessions);
      return { sessions, calls };
    };
    after(async () => {
      for (const sessions of opened) await sessions.close().catch(() => undefined);
      await options.cleanup?.();
    });

    /** Signs `userId` in from a device; returns the session after its commit. */
    const signIn = async (sessions: Sessions, userId: string, request?: RequestContext): Promise<Session> => {
      const session = await sessions.load(undefined, request);
      await session.login(userId);
      await session.commit();
      return session;
    };
    const tokenOf = (session: Session): string => {
      const cookie = session.cookieInstruction();
      assert.equal(cookie.action, "set");
      return (cookie as { token: string }).token;
    };

    it("bearer tokens, CSRF tokens and flash messages (latchkey's reserved keys) work alike on this store", async () => {
      const { sessions } = await fresh({ bearer: true, csrf: true });
      const bearer = { transport: "bearer" } as const;
      const api = await sessions.load(undefined);
      await api.login("bearer-user", bearer);
      const csrf = api.csrfToken;
      api.flash("notice", "Saved");
      api.flash("notice", { n: 2 });
      assert.equal(await api.commit(), "saved");
      assert.equal(api.cookieInstruction().action, "none", "a bearer login sets no cookie");
      const token = api.token!;
      const next = await sessions.load(token, undefined, bearer);
      assert.equal(next.userId, "bearer-user");
      assert.equal(next.verifyCsrf(csrf), true);
      assert.deepEqual(next.flashes(), { notice: ["Saved", { n: 2 }] });
      assert.deepEqual(next.toJSON(), {}, "reserved keys never show");
      assert.equal(await next.commit(), "saved");
      const third = await sessions.load(token, undefined, bearer);
      assert.deepEqual(third.flashes(), {}, "shown once");
      await third.logout();
      assert.equal((await sessions.load(token, undefined, bearer)).userId, null);
    });

    it("a bad user id is a TypeError naming userId, before any store call", async () => {
      const { sessions, calls } = await fresh();
      const session = await sessions.load(undefined);
      for (const [label, userId] of BAD_USER_IDS) {
        const named = (error: unknown) =>
          error instanceof SessionInputError && error instanceof TypeError && error.field === "userId" && error.status === 400 && /userId/.test(error.message);
        await assert.rejects(session.login(userId as string), named, `login with ${label}`);
        await assert.rejects(sessions.revokeUser(userId as string), named, `revokeUser with ${label}`);
        await assert.rejects(sessions.list(userId as string), named, `list with ${label}`);
      }
      assert.deepEqual(calls, [], "the store was never called");
      assert.equal(session.isNew, true);
    });

    it("a bad handle is a TypeError naming the handle, before any store call", async () => {
      const { sessions, calls } = await fresh();
      for (const [label, handle] of BAD_HANDLES) {
        await assert.rejects(
          sessions.revoke(handle as string),
          (e: Error) => e instanceof SessionInputError && e.field === "handle" && /handle/.test(e.message),
          `revoke with ${label}`,
        );
        await assert.rejects(
          sessions.revokeUser("alice", { except: handle as string }),
          (e: Error) => e instanceof SessionInputError && e.field === "except" && /except/.test(e.message),
          `revokeUser except ${label}`,
        );
      }
      await assert.rejects(sessions.revokeUser("alice", null as never), TypeError);
      assert.deepEqual(calls, []);
    });

    it("a bad key or value is a SessionValueError naming the key, and the session keeps what it had", async () => {
      const { sessions, calls } = await fresh();
      const session = await signIn(sessions, "kim");
      session.set("theme" as never, "dark" as never);
      assert.equal(await session.commit(), "saved");
      calls.length = 0;
      for (const [label, key] of BAD_KEYS) {
        assert.throws(
          () => session.set(key as never, 1 as never),
          (e: Error) => e instanceof SessionValueError && e.status === 400 && /key/.test(e.message),
          `set with a key of ${label}`,
        );
        assert.throws(() => session.unset(key as never), SessionValueError, `unset with a key of ${label}`);
      }
      for (const [label, value] of BAD_VALUES) {
        assert.throws(
          () => session.set("cart" as never, value as never),
          (e: Error) => e instanceof SessionValueError && /"cart"/.test(e.message),
          `set with ${label}`,
        );
      }
      const circular: Record<string, unknown> = {};
      circular.self = circular;
      assert.throws(() => session.set("cart" as never, circular as never), SessionValueError);
      assert.equal(session.dirty, false, "nothing was queued");
      assert.equal(await session.commit(), "unchanged");
      assert.deepEqual(calls, [], "the store was never called");
      const reread = await sessions.load(tokenOf(session));
      assert.deepEqual(reread.toJSON(), { theme: "dark" });
    });

    it("awkward but valid user ids, keys and values round-trip alike", async () => {
      const { sessions } = await fresh();
      const userIds = ["ünïcødé ✓ 😀", "u".repeat(256), "{tag}:with:colons and spaces", 'q"uote\\back'];
      for (const userId of userIds) {
        const session = await signIn(sessions, userId);
        session.set("k".repeat(200) as never, "\\u0000 is only text here" as never);
        session.set("emoji 😀" as never, { "\\ud800": "escaped text, not a surrogate" } as never);
        assert.equal(await session.commit(), "saved");
        const listed = await sessions.list(userId);
        assert.deepEqual(
          listed.map((s) => s.userId),
          [userId],
        );
        const reread = await sessions.load(tokenOf(session));
        assert.equal(reread.userId, userId);
        assert.deepEqual(reread.toJSON(), { ["k".repeat(200)]: "\\u0000 is only text here", "emoji 😀": { "\\ud800": "escaped text, not a surrogate" } });
        assert.equal(await sessions.revokeUser(userId), 1);
      }
    });

    it("logoutOthers ends every other session of the user and keeps this one", async () => {
      const { sessions } = await fresh();
      const laptop = await signIn(sessions, "lena", requestFrom(FIREFOX_LINUX));
      const phone = await signIn(sessions, "lena", requestFrom(SAFARI_IPHONE));
      const tablet = await signIn(sessions, "lena");
      const bystander = await signIn(sessions, "lars");
      const current = await sessions.load(tokenOf(laptop));
      assert.equal(await current.logoutOthers(), 2);
      assert.equal(await current.commit(), "unchanged");
      assert.equal((await sessions.load(tokenOf(phone))).userId, null);
      assert.equal((await sessions.load(tokenOf(tablet))).userId, null);
      assert.equal((await sessions.load(tokenOf(laptop))).userId, "lena", "this device stays signed in");
      assert.equal((await sessions.load(tokenOf(bystander))).userId, "lars");
      assert.deepEqual(
        (await sessions.list("lena")).map((s) => s.handle),
        [laptop.handle],
      );
      assert.equal(await current.logoutOthers(), 0);
      const anonymous = await sessions.load(undefined);
      await assert.rejects(anonymous.logoutOthers(), /needs a signed-in session/);
      // The same through the manager:
      const again = await signIn(sessions, "lena");
      assert.equal(await sessions.revokeUser("lena", { except: again.handle! }), 1);
      assert.deepEqual(
        (await sessions.list("lena")).map((s) => s.handle),
        [again.handle],
      );
    });

    it("list shows each device: its label and user agent, and the IP only with recordIp", async () => {
      const { sessions } = await fresh();
      await signIn(sessions, "mia", requestFrom(FIREFOX_LINUX, "203.0.113.9"));
      await signIn(sessions, "mia", requestFrom(SAFARI_IPHONE, "203.0.113.10"));
      await signIn(sessions, "mia", requestFrom("curl/8.5.0"));
      await signIn(sessions, "mia", requestFrom(`${"x".repeat(600)}\u0000`));
      await signIn(sessions, "mia");
      const listed = await sessions.list("mia");
      assert.deepEqual(listed.map((s) => s.device).sort(), ["Firefox on Linux", "Safari on iOS", "Unknown device", "Unknown device", "curl"].sort());
      assert.ok(
        listed.every((s) => s.ip === undefined),
        "no IP without recordIp",
      );
      assert.ok(listed.some((s) => s.userAgent === FIREFOX_LINUX));
      const long = listed.find((s) => s.userAgent?.startsWith("xxx"));
      assert.equal(long?.userAgent, "x".repeat(512), "the user agent is cut to 512 characters, control characters dropped");

      const withIp = await fresh({ recordIp: true });
      await signIn(withIp.sessions, "noah", requestFrom(FIREFOX_LINUX, "2001:db8::1"));
      // A login on top of an anonymous session (a rotation) records the device too.
      const anonymous = await withIp.sessions.load(undefined, requestFrom(SAFARI_IPHONE, "198.51.100.4"));
      anonymous.set("cart" as never, ["x"] as never);
      await anonymous.commit();
      const upgraded = await withIp.sessions.load(tokenOf(anonymous), requestFrom(SAFARI_IPHONE, "198.51.100.4"));
      await upgraded.login("noah");
      await upgraded.commit();
      const devices = (await withIp.sessions.list("noah")).map((s) => [s.device, s.ip]).sort();
      assert.deepEqual(devices, [
        ["Firefox on Linux", "2001:db8::1"],
        ["Safari on iOS", "198.51.100.4"],
      ]);
    });
  });
  runSignInConformance(options);
}
