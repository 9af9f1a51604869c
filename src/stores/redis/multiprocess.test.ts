import { test } from "node:test";
import { deletePrefix, REDIS_URL, requireRedis, testPrefix } from "../../testing/redis-server.js";
import { runMultiProcessSuite } from "../../testing/multiprocess-suite.js";
import { runSessionLimitSuite } from "../../testing/limit-suite.js";

const redis = await requireRedis();
if (redis.skip) {
  test("multi-process guarantees: two processes, one Redis", { skip: redis.skip }, () => undefined);
} else {
  const prefix = testPrefix();
  runMultiProcessSuite({
    name: "two processes, one Redis",
    storeSpec: () => `redis:${REDIS_URL}|${prefix}`,
    cleanup: async () => {
      await deletePrefix(REDIS_URL, prefix);
    },
  });
  const limitPrefix = testPrefix();
  runSessionLimitSuite({
    name: "two processes, one Redis, near-cache and strict revocation",
    storeSpec: () => `redis:${REDIS_URL}|${limitPrefix}`,
    options: { nearCache: true, revocation: "strict" },
    cleanup: async () => {
      await deletePrefix(REDIS_URL, limitPrefix);
    },
  });
}
