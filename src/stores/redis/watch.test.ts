// sessions.watch and hooks.ended with two OS processes on one Redis (notices on its feed).
import { test } from "node:test";
import { remoteNode } from "../../testing/watch-node.js";
import { runWatchSuite } from "../../testing/watch-suite.js";
import { deletePrefix, REDIS_URL, requireRedis, testPrefix } from "../../testing/redis-server.js";

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
