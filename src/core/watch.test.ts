// sessions.watch, sessions.touch and hooks.ended on the memory store: two
// managers in this process share one memoryStore (no feed: the other one polls).
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { runWatchSuite } from "../testing/watch-suite.js";
import { memoryStore } from "../stores/memory/index.js";
import { localNode, WatchNode } from "../testing/watch-node.js";
import { createSessions, type RequestContext, type SessionEndedEvent, type SessionsMetrics, type SessionsOptions } from "./index.js";
import type { SessionStore } from "../store/contract.js";

let shared: SessionStore | null = null;
runWatchSuite({
  name: "two managers, one memoryStore",
  feed: false,
  start: async (options) => {
    shared ??= memoryStore();
    // Closing one manager closes the store: the suite closes them all at the end.
    const node = new WatchNode(shared, options);
    return localNode(node, async () => {
      await node.sessions.close().catch(() => undefined);
    });
  },
});

describe("sessions.watch and hooks.ended in one process", () => {
  const HOUR = 3_600_000;
  const setup = (extra: Partial<SessionsOptions> = {}) => {
    const ended: SessionEndedEvent[] = [];
    const counted = new Map<string, number>();
    const metrics: SessionsMetrics = {
      created: () => undefined,
      rotated: () => undefined,
      ended: (reason, count) => counted.set(reason, (counted.get(reason) ?? 0) + count),
      storeOperation: () => undefined,
      propagation: () => undefined,
      strictWait: () => undefined,
      observe: () => undefined,
      close: () => undefined,
    };
    const sessions = createSessions({ store: memoryStore(), sweepInterval: false, metrics, hooks: { ended: (event) => ended.push(event) }, ...extra });
    const login = async (user: string) => {
      const session = await sessions.load(undefined, { userAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0" } as RequestContext);
      await session.login(user);
      return session;
    };
    return { sessions, ended, counted, login };
  };

  it("refuses a bad handle or listener with a TypeError", () => {
    const { sessions } = setup();
    assert.throws(() => sessions.watch("nope", () => undefined), TypeError);
    assert.throws(() => sessions.watch(`${"a".repeat(4)}:${"b".repeat(43)}`, "x" as never), /listener must be a function/);
    assert.throws(() => createSessions({ store: memoryStore(), watchInterval: 0 }), /watchInterval must be a positive number/);
  });

  it("a stopped watch is never called; a throwing listener does not keep others from theirs; a second end tells nobody twice", async () => {
    const errors: string[] = [];
    const { sessions, login } = setup({ logger: { warn: () => undefined, error: (message) => errors.push(message) } });
    const session = await login("ann");
    const calls: string[] = [];
    const stop = sessions.watch(session.handle!, () => calls.push("stopped"));
    sessions.watch(session.handle!, () => {
      throw new Error("boom");
    });
    sessions.watch(session.handle!, ({ reason, userId }) => calls.push(`${reason}:${userId}`));
    stop();
    await new Promise((resolve) => setTimeout(resolve, 20));
    await sessions.revoke(session.handle!);
    await sessions.revoke(session.handle!);
    assert.deepEqual(calls, ["revoke:ann"]);
    assert.equal(errors.length, 1);
    assert.match(errors[0]!, /listener threw/);
  });

  it("watching a handle that does not exist tells it at once; touch of it resolves false", async () => {
    const { sessions, login } = setup();
    const session = await login("bob");
    const handle = session.handle!;
    await session.logout();
    const told = await new Promise((resolve) => sessions.watch(handle, resolve));
    assert.deepEqual(told, { handle, userId: null, reason: "gone" });
    assert.equal(await sessions.touch(handle), false);
  });

  it("touch writes at most once per touchInterval", async () => {
    let now = Date.now();
    const { sessions, login } = setup({ now: () => now, touchInterval: 60_000, idleTimeout: HOUR });
    const session = await login("cid");
    const seen = async () => (await sessions.list("cid"))[0]!.lastSeenAt;
    const first = await seen();
    now += 1000;
    assert.equal(await sessions.touch(session.handle!), true);
    assert.equal(await seen(), first, "not due: no write");
    now += 60_000;
    assert.equal(await sessions.touch(session.handle!), true);
    assert.equal(await seen(), now, "due: last-seen moved");
  });

  it("the ended hook and the OpenTelemetry counter agree, reason by reason, with the device recorded at login", async () => {
    let now = Date.now();
    const { sessions, ended, counted, login } = setup({ now: () => now, idleTimeout: 60_000, touchInterval: 1000 });
    const a = await login("dee");
    await login("dee");
    const kept = await login("dee");
    await login("eve");
    const expiring = await login("fay");
    await a.logout();
    assert.equal(await kept.logoutOthers(), 1);
    assert.equal(await sessions.revokeUser("eve"), 1);
    await sessions.revoke(kept.handle!);
    now += 120_000;
    assert.equal(await sessions.sweep(), 1);
    const reasons = ended.map((event) => event.reason).sort();
    assert.deepEqual(reasons, ["expired", "logout", "logout-others", "revoke", "revoke-user"]);
    assert.deepEqual(Object.fromEntries([...counted].sort()), { expired: 1, logout: 1, "logout-others": 1, revoke: 1, "revoke-user": 1 });
    const revoked = ended.find((event) => event.reason === "revoke")!;
    assert.equal(revoked.userId, "dee", "a revoke by handle knows the user from the store");
    assert.match(revoked.device?.userAgent ?? "", /Firefox/);
    assert.equal(ended.find((event) => event.reason === "expired")!.handle, expiring.handle);
  });
});
