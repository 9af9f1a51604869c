// The Redis store on a real 3-master Redis Cluster (started here on spare
// ports): every script touches one slot, so the conformance suite passes
// unchanged with node-redis createCluster and ioredis Cluster.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { Cluster } from "ioredis";
import { createClient, createCluster } from "redis";
import { runFeedConformance, runSessionsConformance, runStoreConformance, sampleRecord } from "../conformance/index.js";
import { routeOfId, userRoute } from "../core/index.js";
import { requireService } from "../testing/services.js";
import { sparePort, startRedisServer, testPrefix, until, type RedisServer } from "../testing/redis-server.js";
import { redisStore } from "./index.js";

const tools = await requireService(
  "Redis Cluster (redis-server, redis-cli)",
  async () => {
    for (const tool of ["redis-server", "redis-cli"]) {
      const result = spawnSync(tool, ["--version"], { encoding: "utf8" });
      if (result.error || result.status !== 0) throw new Error(`${tool} is not on PATH`);
    }
  },
  { hint: "install redis-server and redis-cli (e.g. apt-get install redis-server)" },
);

async function startCluster(dir: string): Promise<RedisServer[]> {
  const servers: RedisServer[] = [];
  try {
    for (let i = 0; i < 3; i++) {
      const port = await sparePort(10_000); // the cluster bus listens on port + 10000
      servers.push(
        await startRedisServer({
          port,
          dir,
          args: ["--cluster-enabled", "yes", "--cluster-config-file", join(dir, `nodes-${port}.conf`), "--cluster-node-timeout", "5000"],
        }),
      );
    }
    const create = spawnSync(
      "redis-cli",
      ["--cluster", "create", ...servers.map((s) => `127.0.0.1:${s.port}`), "--cluster-replicas", "0", "--cluster-yes"],
      { encoding: "utf8", timeout: 30_000 },
    );
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed (${create.status ?? create.signal}): ${create.stdout}${create.stderr}`);
    for (const server of servers) {
      const client = await createClient({ url: server.url }).connect();
      try {
          await until(async () => {
            const info = await client.clusterInfo();
            return /cluster_state:ok/.test(info) && /cluster_slots_ok:16384/.test(info) && /cluster_known_nodes:3/.test(info);
          }, `cluster_state:ok on port ${server.port}`, 20_000);
      } finally {
        client.destroy();
      }
    }
    return servers;
  } catch (error) {
    await Promise.all(servers.map((s) => s.kill()));
    throw error;
  }
}

if (tools.skip) {
  test("redisStore on Redis Cluster", { skip: tools.skip }, () => undefined);
} else {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-redis-cluster-"));
  let servers: RedisServer[] = [];
  try {
    servers = await startCluster(dir);
  } catch (error) {
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  const first = servers[0]!;

  const nodeCluster = createCluster({ rootNodes: [{ url: first.url }], defaults: { disableOfflineQueue: true } });
  nodeCluster.on("error", () => undefined);
  await nodeCluster.connect();

  const ioCluster = new Cluster([{ host: "127.0.0.1", port: first.port }], { enableOfflineQueue: true, redisOptions: { maxRetriesPerRequest: 1 } });
  await new Promise<void>((resolve, reject) => {
    ioCluster.once("ready", resolve);
    ioCluster.once("error", reject);
  });

  after(async () => {
    nodeCluster.destroy();
    ioCluster.disconnect();
    await Promise.all(servers.map((s) => s.kill()));
    rmSync(dir, { recursive: true, force: true });
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
  runFeedConformance({ name: "redisStore (node-redis createCluster, 3 masters)", createStore: () => redisStore({ client: nodeCluster, prefix: testPrefix() }), killListeners, ordered: false });
  runFeedConformance({ name: "redisStore (ioredis Cluster, 3 masters)", createStore: () => redisStore({ client: ioCluster, prefix: testPrefix() }), killListeners, ordered: false });

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
        assert.equal(await store.destroyUser("cluster-user"), 3);
        assert.deepEqual(await store.listUser("cluster-user"), []);
      } finally {
        direct.destroy();
      }
    });
  });
}
