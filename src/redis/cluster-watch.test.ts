// sessions.watch and hooks.ended with two OS processes on a 3-master Redis Cluster.
import { test } from "node:test";
import { remoteNode } from "../testing/watch-node.js";
import { runWatchSuite } from "../testing/watch-suite.js";
import { requireClusterTools, startCluster, type RedisCluster } from "../testing/redis-cluster.js";
import { testPrefix } from "../testing/redis-server.js";

const tools = await requireClusterTools();
if (tools.skip) {
  test("sessions.watch across processes: Redis Cluster", { skip: tools.skip }, () => undefined);
} else {
  let cluster: RedisCluster | undefined;
  const prefix = testPrefix();
  runWatchSuite({
    name: "two processes, a 3-master Redis Cluster (node-redis)",
    feed: true,
    start: async (options) => {
      cluster ??= await startCluster();
      return remoteNode(`redis-cluster:${cluster.url}|${prefix}`, options);
    },
    cleanup: async () => {
      await cluster?.stop();
    },
  });
}
