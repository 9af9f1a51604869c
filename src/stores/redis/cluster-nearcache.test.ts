// Near-cache guarantees with real server processes sharing a real 3-master
// Redis Cluster: notices are published on the master that owns a session's
// slot and reach each process's subscriber over the cluster bus.
import { after, test } from "node:test";
import { runNearCacheSuite } from "../../testing/nearcache-suite.js";
import { requireClusterTools, startCluster, type RedisCluster } from "../../testing/redis-cluster.js";
import { testPrefix } from "../../testing/redis-server.js";

const tools = await requireClusterTools();
if (tools.skip) {
  test("near-cache across processes: Redis Cluster", { skip: tools.skip }, () => undefined);
} else {
  let cluster: RedisCluster | undefined;
  after(async () => {
    await cluster?.stop();
  });
  runNearCacheSuite({
    name: "three processes, a 3-master Redis Cluster (node-redis)",
    storeSpec: async () => {
      cluster ??= await startCluster();
      return `redis-cluster:${cluster.url}|${testPrefix()}`;
    },
  });
}
