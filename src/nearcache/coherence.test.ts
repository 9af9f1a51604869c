// The coherence rules, each provoked precisely against the real Redis at
// REDIS_URL: several session managers in this process play the processes
// (the real multi-process proofs are src/*/nearcache*.test.ts). Faults are
// injected by wrapping the real store (a held reply, dropped pings), never by
// replacing it.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, beforeEach, describe, it } from "node:test";
import { createClient } from "redis";
import { createSessions, StoreUnavailableError, type Sessions, type SessionsOptions } from "../core/index.js";
import type { FeedListener, SessionStore, StoreFeed } from "../store/index.js";
import { redisStore } from "../stores/redis/index.js";
import {
  deletePrefix,
  REDIS_URL,
  requireRedis,
  requireRedisServer,
  sparePort,
  startRedisServer,
  testPrefix,
  until,
  type RedisServer,
} from "../testing/redis-server.js";

const redis = await requireRedis();
const tools = await requireRedisServer();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const LEASE = 1000;

/** `target` with some members replaced: a real store or feed with a fault injected. */
function wrap<T extends object>(target: T, overrides: Partial<Record<keyof T, unknown>>): T {
  return new Proxy(target, {
    get(object, property) {
      if (Object.hasOwn(overrides, property)) return overrides[property as keyof T];
      const value = Reflect.get(object, property, object);
      return typeof value === "function" ? value.bind(object) : value;
    },
  });
}

describe("near-cache coherence rules (real Redis)", { skip: redis.skip }, () => {
  // Each test has its own prefix, so its notices and leases are its own.
  const prefixes: string[] = [];
  let prefix = "";
  beforeEach(() => {
    prefix = testPrefix();
    prefixes.push(prefix);
  });
  const opened: Sessions[] = [];
  const manager = async (options: Partial<SessionsOptions> & { store?: SessionStore } = {}) => {
    const store = options.store ?? redisStore({ url: REDIS_URL, prefix });
    const sessions = createSessions({ sweepInterval: false, logger: { warn: () => undefined, error: () => undefined }, ...options, store });
    opened.push(sessions);
    if (options.nearCache) await until(() => sessions.stats().serving, "the near-cache to serve");
    return sessions;
  };
  const signIn = async (sessions: Sessions, user: string): Promise<string> => {
    const session = await sessions.load(undefined);
    await session.login(user);
    const cookie = session.cookieInstruction();
    assert.equal(cookie.action, "set");
    return cookie.action === "set" ? cookie.token : "";
  };
  /** Reads until one read is a cache hit (a loaded machine can lapse a lease now and then: that read bypasses). */
  const warm = async (sessions: Sessions, token: string) => {
    const before = sessions.stats().hits;
    await until(async () => {
      await sessions.load(token);
      return sessions.stats().hits > before;
    }, "a cache hit");
  };
  const publish = async (message: string) => {
    const client = await createClient({ url: REDIS_URL }).connect();
    try {
      await client.publish(`${prefix}feed`, message);
    } finally {
      client.destroy();
    }
  };
  after(async () => {
    for (const sessions of opened) await sessions.close();
    for (const used of prefixes) await deletePrefix(REDIS_URL, used);
  });

  it("a read whose reply raced an invalidation is served to its request but never cached", async () => {
    let hold: Promise<void> | null = null;
    const real = redisStore({ url: REDIS_URL, prefix });
    const held = wrap(real, {
      get: async (id: string) => {
        const record = await real.get(id); // executed by Redis now...
        if (hold) await hold; // ...but delivered late, after the invalidation
        return record;
      },
    });
    const reader = await manager({ store: held, nearCache: { lease: LEASE } });
    const writer = await manager();
    const token = await signIn(writer, "racer");
    let release!: () => void;
    hold = new Promise((resolve) => (release = resolve));
    const loading = reader.load(token);
    await sleep(30);
    await (await writer.load(token)).logout();
    await until(() => reader.stats().invalidations >= 1, "the notice to reach the reader");
    release();
    hold = null;
    assert.equal((await loading).userId, "racer", "the racing request read before the logout");
    assert.equal((await reader.load(token)).userId, null, "the raced reply was not cached");
    assert.equal(reader.stats().hits, 0);

    const control = await signIn(writer, "calm");
    await warm(reader, control);
    assert.equal((await reader.load(control)).userId, "calm", "without a race the reply is cached");
  });

  it("a sequence gap flushes the cache once the hole outlives its window; a hole filled in time does not", async () => {
    const sessions = await manager({ nearCache: { lease: LEASE } });
    const token = await signIn(sessions, "gappy");
    await warm(sessions, token);
    const hits = sessions.stats().hits;
    const notice = (seq: number) => JSON.stringify({ v: 1, p: "a-publisher", s: seq, t: Date.now() });
    for (const seq of [10, 12, 11]) await publish(notice(seq)); // out of order, complete
    await until(() => sessions.stats().invalidations >= 3, "the notices");
    await sleep(300);
    await warm(sessions, token);
    assert.equal(sessions.stats().flushes.gap, 0, "a late notice that filled its hole is no gap");
    const hitsBeforeGap = sessions.stats().hits;
    assert.ok(hitsBeforeGap > hits);
    await publish(notice(15)); // 13 and 14 never come
    await until(() => sessions.stats().invalidations >= 4, "the notice");
    await sleep(300);
    await until(async () => {
      assert.equal((await sessions.load(token)).userId, "gappy");
      return sessions.stats().flushes.gap > 0;
    }, "the gap to be detected on a read");
    const stats = sessions.stats();
    assert.equal(stats.flushes.gap, 1, "the lost notices flushed the cache");
    assert.equal(stats.hits, hitsBeforeGap, "the read after the flush went to the store");
  });

  it("an unreadable message on the feed flushes the cache (it could have named any session)", async () => {
    const sessions = await manager({ nearCache: { lease: LEASE } });
    const token = await signIn(sessions, "garbled");
    await warm(sessions, token);
    assert.equal(sessions.stats().entries, 1);
    await publish("this is not a notice");
    await until(() => sessions.stats().flushes.malformed === 1, "the flush");
    assert.equal(sessions.stats().entries, 0);
  });

  it("when its pings stop coming back, a process stops serving from its cache within its lease, reconnects its feed, and serves again once they return", async () => {
    let dropping = false;
    const real = redisStore({ url: REDIS_URL, prefix });
    const feed = wrap<StoreFeed>(real.feed!, {
      send: async (inbox: string, payload: string) => {
        if (!dropping) await real.feed!.send(inbox, payload);
      },
      ping: async (inbox: string, payload: string) => (dropping ? 1 : real.feed!.ping!(inbox, payload)),
    });
    const sessions = await manager({ store: wrap(real, { feed }), nearCache: { lease: LEASE } });
    const token = await signIn(sessions, "pingless");
    await warm(sessions, token);
    dropping = true;
    const cut = Date.now();
    await until(
      async () => {
        await sessions.load(token);
        return !sessions.stats().serving;
      },
      "the cache to stop serving",
      LEASE * 2,
    );
    // The fence is at most lease - margin after the last round that got its ping back; the slack
    // is for this test noticing it on a loaded machine.
    assert.ok(Date.now() - cut <= LEASE + 500, `stopped ${Date.now() - cut} ms after the pings stopped, within the lease`);
    const { flushes } = sessions.stats();
    assert.ok(flushes.feedLost + flushes.lease >= 1, `flushed: ${JSON.stringify(flushes)}`);
    const bypassed = sessions.stats().bypasses;
    assert.equal((await sessions.load(token)).userId, "pingless", "reads go to the store meanwhile");
    assert.equal(sessions.stats().bypasses, bypassed + 1);
    // Its ping timed out: the feed is reset and the lease dropped (a deaf process holds none, so strict revocations do not wait for it).
    await until(async () => (await real.feed!.liveLeases()).length === 0, "the deaf process's lease to be dropped", LEASE * 2);
    await sleep(LEASE);
    assert.equal((await real.feed!.liveLeases()).length, 0, "while still deaf it takes no lease again");
    dropping = false;
    await until(() => sessions.stats().serving, "the cache to serve again", LEASE * 3);
  });

  it("a cached copy that looks idle-expired is re-read, not destroyed: another process may have touched it", async () => {
    const clock = { now: Date.now() };
    const options = { idleTimeout: 60_000, touchInterval: 10_000, now: () => clock.now };
    const stale = await manager({ ...options, nearCache: { lease: LEASE } });
    const active = await manager(options);
    const token = await signIn(active, "toucher");
    await stale.load(token); // cached with last-seen = now
    clock.now += 50_000;
    const touching = await active.load(token);
    assert.equal(await touching.commit(), "saved", "the other process touched it");
    clock.now += 30_000; // 80 s after the cached last-seen, 30 s after the touch
    assert.equal((await stale.load(token)).userId, "toucher", "still signed in");
    assert.equal((await active.load(token)).userId, "toucher", "and not destroyed");
  });

  for (const variant of ["a read whose touch is due", "a request that sets a key"] as const) {
    it(`a stale cached copy that expires during ${variant} is checked with the store before the session is ended`, async () => {
      const clock = { now: Date.now() };
      const options = { idleTimeout: 60_000, touchInterval: 10_000, now: () => clock.now };
      const stale = await manager({ ...options, nearCache: { lease: LEASE } });
      const active = await manager(options);
      const token = await signIn(active, "victim");
      await warm(stale, token); // cached with last-seen T0
      clock.now += 50_000;
      assert.equal(await (await active.load(token)).commit(), "saved", "another process touched it: the store says T0+50s");
      clock.now += 9_999; // the cached copy still looks alive...
      const hits = stale.stats().hits;
      const session = await stale.load(token);
      assert.equal(stale.stats().hits, hits + 1, "served from the cache");
      if (variant === "a request that sets a key") session.set("theme", "dark");
      clock.now += 5; // ...and looks expired by the time the request commits
      assert.equal(await session.commit(), "saved");
      assert.equal((await active.load(token)).userId, "victim", "the session is alive until T0+110s and was not destroyed");
    });
  }

  it("a session the store no longer has (deleted out of band) is dropped from the cache as soon as a write finds it gone", async () => {
    const sessions = await manager({ nearCache: { lease: LEASE }, touchInterval: 0 });
    const token = await signIn(sessions, "deleted");
    await warm(sessions, token);
    const direct = await createClient({ url: REDIS_URL }).connect();
    try {
      const keys: string[] = [];
      for await (const batch of direct.scanIterator({ MATCH: `${prefix}*:s:*` })) keys.push(...batch);
      assert.equal(await direct.del(keys), 1, "an operator deletes the session key by hand: no notice");
    } finally {
      direct.destroy();
    }
    const served = await sessions.load(token);
    assert.equal(served.userId, "deleted", "the cache does not know yet");
    assert.equal(await served.commit(), "gone", "its touch finds it gone");
    assert.equal((await sessions.load(token)).userId, null, "and the cache forgot it");
  });

  it("a ping sent through no shard (a cluster between topologies) proves nothing: the cache does not serve", async () => {
    const real = redisStore({ url: REDIS_URL, prefix });
    const feed = wrap<StoreFeed>(real.feed!, { ping: async () => 0 });
    const sessions = await manager({ store: wrap(real, { feed }) });
    const cached = createSessions({
      store: wrap(real, { feed }),
      nearCache: { lease: LEASE },
      sweepInterval: false,
      logger: { warn: () => undefined, error: () => undefined },
    });
    try {
      await sleep(LEASE);
      assert.equal(cached.stats().serving, false);
      assert.equal(cached.stats().feed, "verifying");
    } finally {
      await cached.close();
      await sessions.close();
    }
  });

  it("a ping that cannot be sent (the store failing) is a failed round, not a deaf feed: the subscription is kept", async () => {
    let failing = false;
    const warnings: string[] = [];
    const real = redisStore({ url: REDIS_URL, prefix });
    const feed = wrap<StoreFeed>(real.feed!, {
      ping: async (inbox: string, payload: string) => {
        if (failing) throw new Error("PUBLISH timed out");
        return real.feed!.ping!(inbox, payload);
      },
    });
    const sessions = await manager({
      store: wrap(real, { feed }),
      nearCache: { lease: LEASE },
      logger: { warn: (m) => warnings.push(m), error: () => undefined },
    });
    failing = true;
    await until(() => !sessions.stats().serving, "the lease to run out", LEASE * 2);
    assert.equal(sessions.stats().flushes.feedLost, 0, "the feed was not reset");
    assert.equal(warnings.filter((w) => w.includes("went silent")).length, 0);
    assert.equal(warnings.length, 1, `one warning for the episode: ${warnings.join(" | ")}`);
    failing = false;
    await until(() => sessions.stats().serving, "the cache to serve again", LEASE * 2);
    assert.ok(warnings.at(-1)!.includes("serves again"));
  });

  it("close() during a strict revocation rejects it instead of reporting success", async () => {
    const real = redisStore({ url: REDIS_URL, prefix });
    // A busy process: every message reaches it 800 ms late, so it cannot acknowledge in time.
    const slow = wrap<StoreFeed>(real.feed!, {
      listen: (inbox: string, listener: FeedListener) =>
        real.feed!.listen(inbox, { ...listener, message: (payload) => void setTimeout(() => listener.message(payload), 800) }),
    });
    const cached = await manager({ store: wrap(real, { feed: slow }), nearCache: { lease: 3000 } });
    const revoker = await manager({ revocation: "strict" });
    await until(() => revoker.stats().feed === "ready", "the revoker's feed");
    const token = await signIn(revoker, "closing");
    await warm(cached, token);
    const revoking = revoker.revokeUser("closing");
    await sleep(50);
    await revoker.close();
    await assert.rejects(revoking, (error: Error) => error instanceof StoreUnavailableError && /closed before every process acknowledged/.test(error.message));
  });

  it("strict revocation from a process without a cache waits for the processes that have one", async () => {
    const cached = await manager({ nearCache: { lease: LEASE } });
    const revoker = await manager({ revocation: "strict" });
    await until(() => revoker.stats().feed === "ready", "the revoker's feed");
    const token = await signIn(revoker, "remote");
    await warm(cached, token);
    assert.equal(await revoker.revokeUser("remote"), 1);
    const waited = revoker.stats();
    assert.equal(waited.strictWaitMs.count, 1);
    assert.equal(waited.strictWaitedOut, 0, "the cached process acknowledged");
    assert.equal((await cached.load(token)).userId, null);
  });
});

describe("a renewal round that spans a feed reconnect (private redis-server)", { skip: tools.skip }, () => {
  let server: RedisServer | undefined;
  const dir = mkdtempSync(join(tmpdir(), "latchkey-coherence-"));
  const opened: Sessions[] = [];
  after(async () => {
    for (const sessions of opened) await sessions.close();
    await server?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it("changes nothing: the process serves only under a lease taken after it listened again, so a strict revocation waits for it", async () => {
    server = await startRedisServer({ port: await sparePort(), dir });
    const quiet = { warn: () => undefined, error: () => undefined };
    const real = redisStore({ url: server.url, prefix: "span:" });
    let hold: Promise<void> | null = null;
    let held = false;
    const feed = wrap<StoreFeed>(real.feed!, {
      // A busy event loop: every message is handled 100 ms after it arrived, in order.
      listen: (inbox: string, listener: FeedListener) =>
        real.feed!.listen(inbox, { ...listener, message: (payload) => void setTimeout(() => listener.message(payload), 100) }),
      // One renewal is executed by Redis but its reply arrives late.
      renewLease: async (inbox: string, ttl: number) => {
        await real.feed!.renewLease(inbox, ttl);
        if (hold) {
          held = true;
          await hold;
        }
      },
    });
    const cached = createSessions({ store: wrap(real, { feed }), nearCache: { lease: 3000 }, sweepInterval: false, logger: quiet });
    const revoker = createSessions({ store: redisStore({ url: server.url, prefix: "span:" }), revocation: "strict", sweepInterval: false, logger: quiet });
    opened.push(cached, revoker);
    await until(() => cached.stats().serving && revoker.stats().feed === "ready", "both ready");
    const signed = await revoker.load(undefined);
    await signed.login("spanner");
    const token = (signed.cookieInstruction() as { token: string }).token;

    let release!: () => void;
    hold = new Promise((resolve) => (release = resolve));
    await until(() => held, "a renewal to be held");
    hold = null;
    const admin = await createClient({ url: server.url }).connect();
    try {
      await admin.sendCommand(["CLIENT", "KILL", "TYPE", "pubsub"]);
    } finally {
      admin.destroy();
    }
    await until(() => cached.stats().feed !== "ready", "the feed to drop");
    await until(() => cached.stats().feed === "verifying", "the feed to be back");
    release(); // the stale round completes now, after the lease was dropped
    await until(() => cached.stats().serving, "the cache to serve again", 10_000);
    assert.ok((await real.feed!.liveLeases()).length >= 1, "serving with a lease in the store");
    await until(async () => {
      const hits = cached.stats().hits;
      await cached.load(token);
      return cached.stats().hits > hits;
    }, "a cache hit");
    await revoker.revokeUser("spanner");
    assert.equal((await cached.load(token)).userId, null, "after the strict revocation resolved the token is refused");
    assert.equal(revoker.stats().strictWaitedOut, 0, "the revoker waited for its acknowledgement");
  });
});
