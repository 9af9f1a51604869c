// sessions.watch() and hooks.ended with two processes on one real store: an
// actor that ends sessions every way there is, and a watcher (another OS
// process; for the memory store another manager in this process). Every
// store runs it. Times are CLOCK_MONOTONIC (process.hrtime), shared by every
// process on the machine.
import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import type { SessionEndedEvent, SessionsOptions } from "../core/index.js";
import { waitFor } from "./client.js";
import type { Heard, NodeHandle } from "./watch-node.js";

export interface WatchSuiteOptions {
  name: string;
  /** Starts one node on the shared store (call it twice for two processes). */
  start(options: Partial<SessionsOptions>): Promise<NodeHandle>;
  /** The store has a feed: watchers learn the exact reason at once (else "gone", within watchInterval). */
  feed: boolean;
  cleanup?: () => void | Promise<void>;
  /** Leave out the frozen/crashed watcher cases (the same lease mechanism is run on another store). */
  skipFaults?: boolean;
}

const IDLE_MS = 2500;
const WATCH_INTERVAL_MS = 300;
const BASE: Partial<SessionsOptions> = { idleTimeout: IDLE_MS, touchInterval: 200, watchInterval: WATCH_INTERVAL_MS };
const ms = (from: bigint, to: bigint) => Number(to - from) / 1e6;
const sleep = (delay: number) => new Promise((resolve) => setTimeout(resolve, delay));

type Login = { handle: string; token: string };

export function runWatchSuite(options: WatchSuiteOptions): void {
  describe(`sessions.watch across processes: ${options.name}`, () => {
    const nodes: NodeHandle[] = [];
    const start = async (extra: Partial<SessionsOptions> = {}) => {
      const node = await options.start({ ...BASE, ...extra });
      nodes.push(node);
      return node;
    };
    after(async () => {
      await Promise.all(nodes.map((node) => node.close().catch(() => undefined)));
      await options.cleanup?.();
    });
    /** How long a watcher may take to hear an end by another process. */
    const bound = options.feed ? 1000 : WATCH_INTERVAL_MS + 1000;

    const heardBy = async (node: NodeHandle, handles: string[], count: number): Promise<Heard[]> => {
      let heard: Heard[] = [];
      await waitFor(
        async () => {
          heard = (await node.run<Heard[]>({ op: "heard" })).result.filter((event) => handles.includes(event.handle));
          return heard.length >= count;
        },
        `${count} watch events`,
        IDLE_MS + 5000,
      );
      return heard;
    };

    it("a watcher in another process hears each kind of end once, with its reason; kept, later and other sessions are not told", async () => {
      const [actor, watcher] = await Promise.all([start(), start()]);
      const login = async (user: string) => (await actor.run<Login>({ op: "login", user })).result;
      const loggedOut = await login("w-logout");
      const revoked = await login("w-revoke");
      const everywhere = [await login("w-all"), await login("w-all")];
      const kept = await login("w-others");
      const others = [await login("w-others"), await login("w-others")];
      const rotated = await login("w-rotate");
      const bystander = await login("w-bystander");
      const ended = [loggedOut, revoked, ...everywhere, ...others, rotated];
      const handles = [...ended, kept, bystander].map((session) => session.handle);
      await watcher.run({ op: "watch", handles });
      await sleep(300); // the watcher's first read of them (and, with a feed, its subscription)

      const done = new Map<string, bigint>();
      const note = (sessions: Login[], at: bigint) => sessions.forEach((session) => done.set(session.handle, at));
      note([loggedOut], (await actor.run({ op: "logout", token: loggedOut.token })).resolvedAt);
      note([revoked], (await actor.run({ op: "revoke", handle: revoked.handle })).resolvedAt);
      note(everywhere, (await actor.run({ op: "revokeUser", user: "w-all" })).resolvedAt);
      assert.equal((await actor.run({ op: "logoutOthers", token: kept.token })).result, 2);
      note(others, process.hrtime.bigint());
      const relogin = await actor.run<Login>({ op: "relogin", token: rotated.token });
      note([rotated], relogin.resolvedAt);
      // Created after the revocation of its user: a user-level notice must not reach it.
      const later = await login("w-all");
      await watcher.run({ op: "watch", handles: [later.handle, relogin.result.handle] });

      const heard = await heardBy(watcher, handles, ended.length);
      await sleep(WATCH_INTERVAL_MS * 3); // anything more would be a false alarm or a second call
      const all = (await watcher.run<Heard[]>({ op: "heard" })).result;
      assert.deepEqual(
        all.map((event) => event.handle).sort(),
        ended.map((session) => session.handle).sort(),
        "each ended session told once; kept, later, rotated-to and bystander sessions never",
      );
      const reasonOf = new Map(heard.map((event) => [event.handle, event.reason]));
      const expected = (reason: string) => (options.feed ? reason : "gone");
      assert.equal(reasonOf.get(loggedOut.handle), expected("logout"));
      assert.equal(reasonOf.get(revoked.handle), expected("revoke"));
      for (const session of everywhere) assert.equal(reasonOf.get(session.handle), expected("revoke-user"));
      for (const session of others) assert.equal(reasonOf.get(session.handle), expected("logout-others"));
      assert.equal(reasonOf.get(rotated.handle), expected("rotated"));
      for (const event of heard) {
        const delay = ms(done.get(event.handle)!, BigInt(event.at));
        assert.ok(delay < bound, `${event.reason} of ${event.handle.slice(0, 8)} heard after ${delay.toFixed(0)} ms (bound ${bound} ms)`);
      }
      assert.ok(heard.every((event) => event.userId === null || event.userId.startsWith("w-")));
    });

    it("expiry is told at the expiry time without any request, and activity elsewhere (touch) postpones it", async () => {
      const [actor, watcher] = await Promise.all([start(), start()]);
      const idle = await actor.run<Login>({ op: "login", user: "x-idle" });
      const busy = await actor.run<Login>({ op: "login", user: "x-busy" });
      await watcher.run({ op: "watch", handles: [idle.result.handle, busy.result.handle] });
      await sleep(1000);
      const touched = await actor.run<boolean>({ op: "touch", handle: busy.result.handle });
      assert.equal(touched.result, true, "touch of a live session resolves true");
      const [first] = await heardBy(watcher, [idle.result.handle], 1);
      assert.equal(first!.reason, "expired");
      const late = ms(idle.resolvedAt, BigInt(first!.at)) - IDLE_MS;
      assert.ok(Math.abs(late) <= 1000, `idle expiry told ${late.toFixed(0)} ms from its expiry time`);
      const [second] = await heardBy(watcher, [busy.result.handle], 1);
      assert.equal(second!.reason, "expired");
      const after = ms(touched.resolvedAt, BigInt(second!.at)) - IDLE_MS;
      assert.ok(Math.abs(after) <= 1000, `the touched session expired ${after.toFixed(0)} ms from its new expiry time (touched in the other process)`);
      assert.equal((await actor.run<boolean>({ op: "touch", handle: busy.result.handle })).result, false, "touch of an expired session resolves false");
    });

    it("hooks.ended fires exactly once per ended session across both processes", async () => {
      const [a, b] = await Promise.all([start(), start()]);
      const revokedRace = await Promise.all(Array.from({ length: 6 }, () => a.run<Login>({ op: "login", user: "e-race" })));
      const expiring = await Promise.all(Array.from({ length: 6 }, (_, i) => (i % 2 ? a : b).run<Login>({ op: "login", user: "e-idle" })));
      // Ends racing each other: a revokes the user while b logs each session out.
      await Promise.all([a.run({ op: "revokeUser", user: "e-race" }), ...revokedRace.map((login) => b.run({ op: "logout", token: login.result.token }))]);
      await sleep(IDLE_MS + 300);
      // Both sweep while both read (touch) the expired sessions.
      await Promise.all([
        a.run({ op: "sweep" }),
        b.run({ op: "sweep" }),
        ...expiring.flatMap((login) => [a, b].map((node) => node.run({ op: "touch", handle: login.result.handle }))),
      ]);
      await Promise.all([a.run({ op: "sweep" }), b.run({ op: "sweep" })]);
      const events = [...(await a.run<SessionEndedEvent[]>({ op: "ended" })).result, ...(await b.run<SessionEndedEvent[]>({ op: "ended" })).result];
      const count = (handle: string) => events.filter((event) => event.handle === handle).length;
      for (const login of revokedRace) assert.equal(count(login.result.handle), 1, "a raced revocation is reported once");
      for (const login of expiring) {
        assert.equal(count(login.result.handle), 1, "an expired session is reported once");
        assert.equal(events.find((event) => event.handle === login.result.handle)!.reason, "expired");
      }
      const race = events.filter((event) => event.userId === "e-race");
      assert.ok(race.every((event) => event.reason === "revoke-user" || event.reason === "logout"));
      assert.ok(events.every((event) => typeof event.at === "number" && "device" in event));
    });

    if (!options.feed) return;

    it('revocation: "strict": logout and revokeUser resolve only after the watcher in the other process ran its listener', async () => {
      const strict = { revocation: "strict" as const };
      const [actor, watcher] = await Promise.all([start(strict), start(strict)]);
      const one = (await actor.run<Login>({ op: "login", user: "s-one" })).result;
      const many = [(await actor.run<Login>({ op: "login", user: "s-many" })).result, (await actor.run<Login>({ op: "login", user: "s-many" })).result];
      await watcher.run({ op: "watch", handles: [one.handle, ...many.map((login) => login.handle)] });
      await waitFor(async () => (await watcher.run<{ serving: boolean }>({ op: "stats" })).result.serving, "the watcher's lease", 10_000);
      const logout = await actor.run({ op: "logout", token: one.token });
      const revokeUser = await actor.run({ op: "revokeUser", user: "s-many" });
      const heard = (await watcher.run<Heard[]>({ op: "heard" })).result;
      const at = (handle: string) => heard.find((event) => event.handle === handle)?.at;
      assert.ok(at(one.handle) !== undefined && BigInt(at(one.handle)!) <= logout.resolvedAt, "the listener ran before logout resolved");
      for (const login of many) {
        assert.ok(
          at(login.handle) !== undefined && BigInt(at(login.handle)!) <= revokeUser.resolvedAt,
          "revokeUser resolved after the re-checked listeners ran",
        );
      }
    });

    for (const signal of options.skipFaults ? [] : (["SIGSTOP", "SIGKILL"] as const)) {
      it(`revocation: "strict": a ${signal === "SIGSTOP" ? "frozen" : "crashed"} watcher holds a logout no longer than one lease`, async () => {
        const strict = { revocation: "strict" as const };
        const [actor, watcher] = await Promise.all([start(strict), start(strict)]);
        const login = (await actor.run<Login>({ op: "login", user: `f-${signal}` })).result;
        await watcher.run({ op: "watch", handles: [login.handle] });
        await waitFor(async () => (await watcher.run<{ serving: boolean }>({ op: "stats" })).result.serving, "the watcher's lease", 10_000);
        watcher.kill!(signal);
        const started = process.hrtime.bigint();
        const logout = await actor.run({ op: "logout", token: login.token });
        const held = ms(started, logout.resolvedAt);
        assert.ok(held < 2000 + 1000, `the logout was held ${held.toFixed(0)} ms (lease 2000 ms)`);
        if (signal === "SIGSTOP") {
          watcher.kill!("SIGCONT");
          const heard = await heardBy(watcher, [login.handle], 1);
          assert.equal(heard.length, 1, "thawed, it is told once");
        }
      });
    }
  });
}
