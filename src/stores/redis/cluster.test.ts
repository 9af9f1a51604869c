// The Redis store on a real 3-master Redis Cluster (started here on spare
// ports): every script touches one slot, so the conformance suite passes
// unchanged with node-redis createCluster and ioredis Cluster.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { createClient } from "redis";
import { runFeedConformance, runSessionsConformance, runStoreConformance, sampleRecord } from "../../conformance/index.js";
import { routeOfId, userRoute } from "../../store/index.js";
import { connectClusterClients, requireClusterTools, startCluster } from "../../testing/redis-cluster.js";
import { testPrefix } from "../../testing/redis-server.js";
import { redisStore } from "./index.js";

const tools = await requireClusterTools();

if (tools.skip) {
  test("redisStore on Redis Cluster", { skip: tools.skip }, () => undefined);
} else {
  const cluster = await startCluster();
  const servers = cluster.servers;
  const first = servers[0]!;

  const { node: nodeCluster, io: ioCluster } = await connectClusterClients(first);

  after(async () => {
    nodeCluster.destroy();
    ioCluster.disconnect();
    await cluster.stop();
  });

  const nodePrefix = testPrefix();
  runStoreConformance({ name: "redisStore (node-redis createCluster, 3 masters)", createStore: () => redisStore({ client: nodeCluster, prefix: nodePrefix }) });

  const ioPrefix = testPrefix();
  runStoreConformance({ name: "redisStore (ioredis Cluster, 3 masters)", createStore: () => redisStore({ client: ioCluster, prefix: ioPrefix }) });
  runSessionsConformance({ name: "redisStore (ioredis Cluster, 3 masters)", createStore: () => redisStore({ client: ioCluster, prefix: ioPrefix }) });

  // The feed on a cluster: notices published by scripts on every master reach a
  // subscriber connected to any one of them (classic pub/sub is cluster-wide).
  const killListeners = async () => {
    for (const server of servers) {
      const admin = await createClient({ url: server.url }).connect();
      try {
        await admin.sendCommand(["CLIENT", "KILL", "TYPE", "pubsub"]);
      } finally {
        admin.destroy();
      }
    }
  };
  runFeedConformance({
    name: "redisStore (node-redis createCluster, 3 masters)",
    createStore: () => redisStore({ client: nodeCluster, prefix: testPrefix() }),
    killListeners,
    ordered: false,
  });
  runFeedConformance({
    name: "redisStore (ioredis Cluster, 3 masters)",
    createStore: () => redisStore({ client: ioCluster, prefix: testPrefix() }),
    killListeners,
    ordered: false,
  });

  describe("redisStore on Redis Cluster", () => {
    test("sessions spread over the masters; a user's sessions and index share one slot", async () => {
      const prefix = testPrefix();
      const store = redisStore({ client: nodeCluster, prefix });
      assert.equal(store.name, `redis(cluster 127.0.0.1:${first.port} ${prefix})`);
      await store.ready();
      await redisStore({ client: ioCluster, prefix }).ready();
      const anonymous = Array.from({ length: 30 }, () => sampleRecord());
      for (const record of anonymous) await store.create(record);
      const direct = await createClient({ url: first.url }).connect();
      try {
        const slotOf = (key: string) => direct.clusterKeySlot(key);
        const masters = new Set<string>();
        for (const record of anonymous) {
          masters.add(nodeCluster.getSlotMaster(await slotOf(`${prefix}{${routeOfId(record.id)}}:s:${record.id.slice(5)}`)).address);
        }
        assert.ok(masters.size >= 2, `sessions landed on ${masters.size} master(s)`);

        const route = userRoute("cluster-user");
        const mine = [sampleRecord({ userId: "cluster-user" }), sampleRecord({ userId: "cluster-user" })];
        for (const record of mine) await store.create(record);
        const slots = new Set([
          await slotOf(`${prefix}{${route}}:u:cluster-user`),
          ...(await Promise.all(mine.map((r) => slotOf(`${prefix}{${route}}:s:${r.id.slice(5)}`)))),
        ]);
        assert.equal(slots.size, 1);
        // Login from an anonymous session crosses slots (two steps); log out everywhere is one script.
        const now = Date.now();
        const newId = sampleRecord({ userId: "cluster-user" }).id;
        const rotated = await store.rotate(anonymous[0]!.id, {
          newId,
          userId: "cluster-user",
          change: { set: { logged: true }, unset: [] },
          createdAt: now,
          lastSeenAt: now,
          expiresAt: now + 60_000,
          absoluteExpiresAt: now + 60_000,
        });
        assert.equal(rotated.status, "ok");
        assert.equal(await store.get(anonymous[0]!.id), null);
        assert.equal((await store.destroyUser("cluster-user")).length, 3);
        assert.deepEqual(await store.listUser("cluster-user"), []);
      } finally {
        direct.destroy();
      }
    });
  });
}
