import { test } from "node:test";
import { runDataLimitSuite } from "../../testing/limits-suite.js";
import { deletePrefix, REDIS_URL, requireRedis, testPrefix } from "../../testing/redis-server.js";

const redis = await requireRedis();
if (redis.skip) {
  test("maxDataBytes across processes: one Redis", { skip: redis.skip }, () => undefined);
} else {
  const prefix = testPrefix();
  runDataLimitSuite({
    name: "two Express processes, one Redis",
    storeSpec: () => `redis:${REDIS_URL}|${prefix}`,
    cleanup: async () => {
      await deletePrefix(REDIS_URL, prefix);
    },
  });
}
