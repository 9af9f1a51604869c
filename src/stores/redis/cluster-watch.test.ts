// sessions.watch and hooks.ended with two OS processes on a 3-master Redis Cluster.
import { test } from "node:test";
import { remoteNode } from "../../testing/watch-node.js";
import { runWatchSuite } from "../../testing/watch-suite.js";
import { requireClusterTools, startCluster, type RedisCluster } from "../../testing/redis-cluster.js";
import { testPrefix } from "../../testing/redis-server.js";

const tools = await requireClusterTools();
if (tools.skip) {
  test("sessions.watch across processes: Redis Cluster", { skip: tools.skip }, () => undefined);
} else {
  // Started before the suite: under load a cluster takes a while, and the file has one timeout.
  const cluster: RedisCluster = await startCluster();
  const prefix = testPrefix();
  runWatchSuite({
    name: "two processes, a 3-master Redis Cluster (node-redis)",
    feed: true,
    skipFaults: true, // frozen and crashed watchers: the lease is the feed's, run on standalone Redis
    start: (options) => remoteNode(`redis-cluster:${cluster.url}|${prefix}`, options),
    cleanup: () => cluster.stop(),
  });
}
