// sessions.watch and hooks.ended with two OS processes on one Redis (notices on its feed).
import assert from "node:assert/strict";
import { describe, it, test } from "node:test";
import { createSessions } from "../../core/index.js";
import { remoteNode } from "../../testing/watch-node.js";
import { runWatchSuite } from "../../testing/watch-suite.js";
import { deletePrefix, REDIS_URL, requireRedis, testPrefix } from "../../testing/redis-server.js";
import { redisStore } from "./index.js";

const redis = await requireRedis();
if (redis.skip) {
  test("sessions.watch across processes: Redis", { skip: redis.skip }, () => undefined);
} else {
  const prefix = testPrefix();
  runWatchSuite({
    name: "two processes, one Redis",
    feed: true,
    start: (options) => remoteNode(`redis:${REDIS_URL}|${prefix}`, options),
    cleanup: async () => void (await deletePrefix(REDIS_URL, prefix)),
  });
}

/** `target` with some members replaced, its own methods bound to it (they use private fields). */
function wrap<T extends object>(target: T, overrides: Record<string, unknown>): T {
  return new Proxy(target, {
    get(object, property) {
      if (typeof property === "string" && Object.hasOwn(overrides, property)) return overrides[property];
      const value = Reflect.get(object, property, object) as unknown;
      return typeof value === "function" ? (value as (...args: unknown[]) => unknown).bind(object) : value;
    },
  });
}

// A read's reply and a notice travel on different connections: a watcher whose first read finds the
// session already deleted waits a moment for the notice, which names the real reason.
if (!redis.skip) {
  describe("sessions.watch on Redis, a notice slower than the read", () => {
    it("a session logged out just before it was watched is told 'logout', not 'gone', when the notice comes after the read", async () => {
      const prefix = testPrefix();
      const writer = createSessions({ sweepInterval: false, store: redisStore({ url: REDIS_URL, prefix }) });
      const readerStore = redisStore({ url: REDIS_URL, prefix });
      const feed = readerStore.feed!;
      // The reader's feed hands on every notice 40 ms late.
      const slowFeed = wrap(feed, {
        listen: (inbox: string, listener: Parameters<typeof feed.listen>[1]) =>
          feed.listen(inbox, { ...listener, message: (payload: string) => void setTimeout(() => listener.message(payload), 40) }),
      });
      const reader = createSessions({ sweepInterval: false, nearCache: true, store: wrap(readerStore, { feed: slowFeed }) });
      try {
        const session = await writer.load([]);
        await session.login("watched-user");
        await session.commit();
        const handle = session.handle!;
        await reader.load([]);
        await new Promise((resolve) => setTimeout(resolve, 300)); // the reader's feed is listening
        await session.logout();
        const told = new Promise<string>((resolve) => reader.watch(handle, (event) => resolve(event.reason)));
        assert.equal(await told, "logout");
      } finally {
        await Promise.all([writer.close(), reader.close()]);
        await deletePrefix(REDIS_URL, prefix);
      }
    });
  });
}
