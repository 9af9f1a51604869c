// `durability` on a real Redis Cluster with one replica per master (started
// here on spare ports), through node-redis createCluster and ioredis Cluster:
// each write WAITs on the master that ran it, a stopped replica fails only its
// own master's writes (clearly, within the deadline), and a slot that moves
// mid-way (ASK, then MOVED) is followed to its new master.
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { Cluster } from "ioredis";
import { createClient, createCluster } from "redis";
import { sampleRecord } from "../../conformance/index.js";
import { routeOfId, userRoute } from "../../store/index.js";
import { connectClusterClients, requireClusterTools, startCluster, type RedisCluster } from "../../testing/redis-cluster.js";
import { testPrefix } from "../../testing/redis-server.js";
import { ReplicationUnconfirmedError } from "./durability.js";
import { redisStore } from "./index.js";
import { keySlot } from "./slot.js";

const tools = await requireClusterTools();

type Direct = ReturnType<typeof createClient>;

async function direct<T>(url: string, fn: (client: Direct) => Promise<T>): Promise<T> {
  const client = await createClient({ url }).connect();
  try {
    return await fn(client);
  } finally {
    client.destroy();
  }
}

/** CLUSTER NODES as { id, port, master (its master's id, or null), slots }. */
async function topology(cluster: RedisCluster) {
  const text = (await direct(cluster.url, (c) => c.sendCommand(["CLUSTER", "NODES"]))) as string;
  return text
    .trim()
    .split("\n")
    .map((line) => {
      const [id, address, flags, master, , , , , ...slots] = line.split(" ");
      return { id: id!, port: Number(address!.split("@")[0]!.split(":")[1]), master: flags!.includes("slave") ? master! : null, slots };
    });
}

function ownerOf(nodes: Awaited<ReturnType<typeof topology>>, slot: number) {
  return nodes.find(
    (node) =>
      node.master === null &&
      node.slots.some((range) => {
        const [from, to = from] = range.split("-").map(Number);
        return slot >= from! && slot <= to!;
      }),
  )!;
}

if (tools.skip) {
  test("redisStore durability on Redis Cluster", { skip: tools.skip }, () => undefined);
} else {
  describe("redisStore durability on a Redis Cluster with one replica per master", () => {
    let cluster: RedisCluster;
    let nodeCluster: ReturnType<typeof createCluster>;
    let ioCluster: Cluster;
    before(async () => {
      cluster = await startCluster(3, [], { replicas: 1 });
      ({ node: nodeCluster, io: ioCluster } = await connectClusterClients(cluster.servers[0]!));
      ioCluster.on("error", () => undefined); // failovers here: errors after the connect are expected
    });
    after(async () => {
      nodeCluster?.destroy();
      ioCluster?.disconnect();
      await cluster?.stop();
    });
    const clients = () =>
      [
        ["node-redis", nodeCluster],
        ["ioredis", ioCluster],
      ] as const;

    test("keySlot agrees with CLUSTER KEYSLOT", async () => {
      const keys = [
        "",
        "a",
        "foo{}{bar}",
        "foo{{bar}}zap",
        "foo{bar}{zap}",
        "latchkey:{ab12}:s:x",
        "é日本{ü}x",
        ...Array.from({ length: 50 }, () => sampleRecord().id),
      ];
      await direct(cluster.url, async (c) => {
        for (const key of keys) assert.equal(keySlot(key), Number(await c.sendCommand(["CLUSTER", "KEYSLOT", key])), key);
      });
    });

    test(
      "each durable write is confirmed by its own master's replica; a stopped replica fails only its master's writes, within the deadline",
      { timeout: 60_000 },
      async () => {
        for (const [library, client] of clients()) {
          const prefix = testPrefix();
          const store = redisStore({ client, prefix, commandTimeout: 2000, durability: { replicas: 1, timeout: 300, everyWrite: true } });
          // Users whose slots fall on every master.
          const nodes = await topology(cluster);
          const users = Array.from({ length: 24 }, (_, i) => `durable-${library}-${i}`);
          const masterOfUser = (user: string) => ownerOf(nodes, keySlot(`${prefix}{${userRoute(user)}}:u:${user}`));
          assert.equal(new Set(users.map((user) => masterOfUser(user).id)).size, 3, "the users' slots cover the three masters");
          const records = users.map((userId) => sampleRecord({ userId }));
          for (const record of records) await store.create(record);
          for (const record of records) {
            // The replica already has it: WAIT ran on the connection that wrote it.
            const replica = nodes.find((node) => node.master === masterOfUser(record.userId!).id)!;
            const key = `${prefix}{${userRoute(record.userId!)}}:s:${record.id.slice(5)}`;
            assert.equal(
              await direct(`redis://127.0.0.1:${replica.port}`, async (c) => (await c.sendCommand(["READONLY"]), Number(await c.exists(key)))),
              1,
              `${library}: ${key} on the replica`,
            );
          }

          // Stop the replica of one master: its writes are refused, the others' are confirmed.
          const stopped = masterOfUser(users[0]!);
          const replicaIndex = cluster.servers.findIndex((s) => s.port === nodes.find((node) => node.master === stopped.id)!.port);
          cluster.servers[replicaIndex]!.child.kill("SIGSTOP");
          try {
            for (const record of records) {
              const started = performance.now();
              const ended = store.destroy(record.id);
              if (masterOfUser(record.userId!).id === stopped.id) {
                await assert.rejects(
                  ended,
                  (error: Error) => error instanceof ReplicationUnconfirmedError && error.acknowledged === 0,
                  `${library}: unconfirmed`,
                );
                assert.ok(performance.now() - started < 1500, `${library}: refused within the WAIT timeout, not hung`);
              } else {
                assert.notEqual(await ended, null, `${library}: confirmed on a master whose replica runs`);
              }
            }
            // A read of a slot whose replica is stopped still works; the refused logouts stand on the primary.
            for (const record of records) assert.equal(await store.get(record.id), null);
          } finally {
            cluster.servers[replicaIndex]!.child.kill("SIGCONT");
          }
          await cluster.settle();
        }
      },
    );

    test("a slot that moves mid-way is followed: ASK while it migrates, MOVED once it moved", { timeout: 60_000 }, async () => {
      for (const [library, client] of clients()) {
        const prefix = testPrefix();
        const store = redisStore({ client, prefix, durability: { replicas: 1, timeout: 500, everyWrite: true } });
        const user = `moving-${library}`;
        const route = userRoute(user);
        const slot = keySlot(`${prefix}{${route}}:u:${user}`);
        const first = sampleRecord({ userId: user });
        await store.create(first);
        const nodes = await topology(cluster);
        const source = ownerOf(nodes, slot);
        const target = nodes.find((node) => node.master === null && node.id !== source.id)!;
        const url = (node: { port: number }) => `redis://127.0.0.1:${node.port}`;
        // Migrating: the slot's keys go to the target, the source answers ASK for keys it no longer has.
        await direct(url(target), (c) => c.sendCommand(["CLUSTER", "SETSLOT", String(slot), "IMPORTING", source.id]));
        await direct(url(source), (c) => c.sendCommand(["CLUSTER", "SETSLOT", String(slot), "MIGRATING", target.id]));
        await direct(url(source), async (c) => {
          const keys = (await c.sendCommand(["CLUSTER", "GETKEYSINSLOT", String(slot), "1000"])) as string[];
          assert.ok(keys.length >= 2, `${library}: the user's keys are in slot ${slot}`);
          await c.sendCommand(["MIGRATE", "127.0.0.1", String(target.port), "", "0", "5000", "KEYS", ...keys]);
        });
        // ASK: the source no longer has the user's index; log out everywhere runs on the target (ASKING + EVAL + WAIT there).
        assert.equal((await store.destroyUser(user)).length, 1, `${library}: log out everywhere while the slot migrates`);
        // TRYAGAIN: a new session's keys exist on neither master until the slot has moved; it is retried,
        // and lands once the move completes (MOVED from the source, then the target).
        const second = sampleRecord({ userId: user });
        const created = store.create(second);
        await new Promise((resolve) => setTimeout(resolve, 150));
        for (const node of nodes.filter((n) => n.master === null)) {
          await direct(url(node), (c) => c.sendCommand(["CLUSTER", "SETSLOT", String(slot), "NODE", target.id]));
        }
        await created;
        // MOVED: the client's map is stale until refreshed.
        const third = sampleRecord({ userId: user });
        await store.create(third);
        assert.deepEqual((await store.listUser(user)).map((s) => s.id).sort(), [second.id, third.id].sort(), `${library}: both sessions, on the target`);
        assert.equal((await store.destroyUser(user)).length, 2, `${library}: log out everywhere after MOVED`);
        await direct(url(target), async (c) => assert.equal(Number(await c.sendCommand(["CLUSTER", "COUNTKEYSINSLOT", String(slot)])), 0));
        // Move it back, so that the next library starts from the same map.
        await direct(url(source), (c) => c.sendCommand(["CLUSTER", "SETSLOT", String(slot), "IMPORTING", target.id]));
        await direct(url(target), (c) => c.sendCommand(["CLUSTER", "SETSLOT", String(slot), "MIGRATING", source.id]));
        for (const node of nodes.filter((n) => n.master === null)) {
          await direct(url(node), (c) => c.sendCommand(["CLUSTER", "SETSLOT", String(slot), "NODE", source.id]));
        }
        await cluster.settle();
      }
    });

    test(
      "a killed master's promoted replica is found without the old master coming back (node-redis only re-reads its map on MOVED)",
      { timeout: 90_000 },
      async () => {
        const prefix = testPrefix();
        const stores = clients().map(([library, client]) => [library, redisStore({ client, prefix, commandTimeout: 1000 })] as const);
        const record = sampleRecord();
        await stores[0]![1].create(record);
        const nodes = await topology(cluster);
        const owner = cluster.servers.findIndex((s) => s.port === ownerOf(nodes, keySlot(`${prefix}{${routeOfId(record.id)}}:s:${record.id.slice(5)}`)).port);
        await cluster.kill(owner);
        try {
          for (const [library, store] of stores) {
            const started = performance.now();
            let found = false;
            while (!found && performance.now() - started < 20_000) {
              found = await store.get(record.id).then(
                (got) => got !== null,
                () => false,
              );
              if (!found) await new Promise((resolve) => setTimeout(resolve, 200));
            }
            assert.ok(found, `${library}: the session is read from the promoted replica while the old master stays down`);
          }
        } finally {
          await cluster.start(owner);
          await cluster.settle(60_000);
        }
      },
    );
  });
}
