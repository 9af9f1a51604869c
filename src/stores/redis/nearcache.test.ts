// Near-cache guarantees with real server processes sharing the Redis at REDIS_URL.
import { test } from "node:test";
import { runNearCacheSuite } from "../../testing/nearcache-suite.js";
import { deletePrefix, REDIS_URL, requireRedis, testPrefix } from "../../testing/redis-server.js";

const redis = await requireRedis();
if (redis.skip) {
  test("near-cache across processes: Redis", { skip: redis.skip }, () => undefined);
} else {
  const prefix = testPrefix();
  runNearCacheSuite({
    name: "three processes, one Redis",
    storeSpec: () => `redis:${REDIS_URL}|${prefix}`,
    cleanup: async () => {
      await deletePrefix(REDIS_URL, prefix);
    },
  });
}
