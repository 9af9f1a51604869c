// The Redis store's feed on a real 3-master Redis Cluster, with both client
// libraries: one subscriber connection per master, each message delivered
// once (the first copy; the copies forwarded over the cluster bus dropped),
// pings kept apart per master, and the loss of any one connection reported.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { createClient } from "redis";
import { sampleRecord } from "../../conformance/index.js";
import { connectClusterClients, requireClusterTools, startCluster } from "../../testing/redis-cluster.js";
import { sparePort, startRedisServer, testPrefix, until } from "../../testing/redis-server.js";
import { Recorder } from "../../conformance/feed.js";
import { redisStore } from "./index.js";

const tools = await requireClusterTools();

/** A node-redis and an ioredis client of the cluster at `root`, each with a store (one prefix) whose feed is listening. */
async function listeningThroughBothLibraries(root: { url: string; port: number }) {
  const { node, io } = await connectClusterClients(root);
  const prefix = testPrefix();
  const listeners = [redisStore({ client: node, prefix }), redisStore({ client: io, prefix })].map((store) => {
    const inbox = randomBytes(9).toString("base64url");
    const recorder = new Recorder();
    return { store, inbox, recorder, subscription: store.feed!.listen(inbox, recorder) };
  });
  return { node, io, prefix, listeners };
}

const later = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

if (tools.skip) {
  test("Redis feed on Redis Cluster", { skip: tools.skip }, () => undefined);
} else {
  const cluster = await startCluster();
  const servers = cluster.servers;
  const admins = await Promise.all(servers.map((server) => createClient({ url: server.url }).connect()));

  const { node: nodeCluster, io: ioCluster } = await connectClusterClients(servers[0]!);

  after(async () => {
    admins.forEach((admin) => admin.destroy());
    nodeCluster.destroy();
    ioCluster.disconnect();
    await cluster.stop();
  });

  /** The port of the master each library would have picked for a single subscriber (its first known master). */
  const firstMasterPort = {
    "node-redis": () => Number(String(nodeCluster.masters[0]!.address).split(":").pop()),
    ioredis: () => Number(ioCluster.nodes("master")[0]!.options.port),
  };
  const clients = { "node-redis": nodeCluster, ioredis: ioCluster };

  for (const library of ["node-redis", "ioredis"] as const) {
    describe(`Redis feed on a 3-master Cluster (${library})`, () => {
      const listening = async () => {
        const prefix = testPrefix();
        const store = redisStore({ client: clients[library], prefix });
        const inbox = randomBytes(9).toString("base64url");
        const recorder = new Recorder();
        const subscription = store.feed!.listen(inbox, recorder);
        await until(() => recorder.ups === 1, "the feed up");
        return { store, feed: store.feed!, inbox, recorder, prefix, close: () => subscription.close() };
      };

      test("one subscriber connection per master; each notice and inbox message reaches the listener once", async () => {
        const { store, feed, inbox, recorder, prefix, close } = await listening();
        try {
          for (const admin of admins) {
            const channels = (await admin.sendCommand(["PUBSUB", "CHANNELS", `${prefix}feed*`])) as string[];
            assert.deepEqual(channels.filter((channel) => !channel.includes(":ping:")).sort(), [`${prefix}feed`, `${prefix}feed:${inbox}`]);
          }
          const expected = Array.from({ length: 12 }, (_, i) => `notice ${i}`);
          // Random ids: the scripts run (and publish) on all three masters.
          await Promise.all(expected.map((notice) => store.destroy(sampleRecord().id, { notice })));
          await feed.send(inbox, "to the inbox");
          expected.push("to the inbox");
          await until(() => recorder.messages.length >= expected.length, "every message");
          await later(150); // the copies over the bus arrive meanwhile, and must not be delivered
          assert.deepEqual([...recorder.messages].sort(), [...expected].sort(), "each message once, not once per master");
        } finally {
          await close();
          await store.close();
        }
      });

      test("a ping goes through each master on a channel only that master's connection subscribes to", async () => {
        const { store, feed, inbox, recorder, prefix, close } = await listening();
        try {
          for (const [i, admin] of admins.entries()) {
            const pings = (await admin.sendCommand(["PUBSUB", "CHANNELS", `${prefix}feed:${inbox}:ping:*`])) as string[];
            assert.equal(pings.length, 1, `master ${i}: ${pings.join(", ")}`);
            assert.ok(pings[0]!.endsWith(`:${servers[i]!.port}`), `master ${i} (port ${servers[i]!.port}) holds ${pings[0]}`);
          }
          const copies = await feed.ping!(inbox, "probe");
          assert.equal(copies, 3);
          await until(() => recorder.messages.filter((m) => m === "probe").length === 3, "one copy per master");
          await later(150);
          assert.equal(recorder.messages.filter((m) => m === "probe").length, 3, "no copy delivered from another master's bus");
        } finally {
          await close();
          await store.close();
        }
      });

      test("losing the connection to any one master reports the feed lost; it comes back on every master", async () => {
        const { store, inbox, recorder, prefix, close } = await listening();
        try {
          // Not the master a single subscriber would have used: its loss must be seen too.
          const victim = admins[servers.findIndex((server) => server.port !== firstMasterPort[library]())]!;
          await victim.sendCommand(["CLIENT", "KILL", "TYPE", "pubsub"]);
          await until(() => recorder.downs === 1, "down after one master's connection was cut");
          await until(() => recorder.ups === 2, "up again");
          for (const admin of admins) {
            const numsub = (await admin.sendCommand(["PUBSUB", "NUMSUB", `${prefix}feed:${inbox}`])) as Array<string | number>;
            assert.equal(Number(numsub[1]), 1, "resubscribed through every master");
          }
          await store.destroy(sampleRecord().id, { notice: "after the cut" });
          await until(() => recorder.messages.includes("after the cut"), "delivery after resubscribing");
        } finally {
          await close();
          await store.close();
        }
      });
    });
  }

  describe("Redis feed on a Cluster whose layout changed", () => {
    test("a new subscription asks the cluster for its masters: one that gave up its slots is left out, on both libraries", async () => {
      const resharded = await startCluster();
      const [a, , c] = resharded.servers;
      const direct = await Promise.all(resharded.servers.map((server) => createClient({ url: server.url }).connect()));
      const { node, io, prefix, listeners } = await listeningThroughBothLibraries(a!);
      try {
        await until(() => listeners.every(({ recorder }) => recorder.ups === 1), "both feeds up");
        for (const admin of direct) {
          const numsub = (await admin.sendCommand(["PUBSUB", "NUMSUB", `${prefix}feed`])) as Array<string | number>;
          assert.equal(Number(numsub[1]), 2, "before: both feeds subscribe through every master");
        }
        // Every slot of the third master moves to the first: it is no master of the cluster's layout any more,
        // and neither client has been redirected yet to learn it.
        const [idA, idC] = await Promise.all([direct[0]!.sendCommand(["CLUSTER", "MYID"]), direct[2]!.sendCommand(["CLUSTER", "MYID"])]);
        const reshard = spawnSync(
          "redis-cli",
          [
            "--cluster",
            "reshard",
            `127.0.0.1:${a!.port}`,
            "--cluster-from",
            String(idC),
            "--cluster-to",
            String(idA),
            "--cluster-slots",
            "16384",
            "--cluster-yes",
          ],
          { encoding: "utf8", timeout: 120_000 },
        );
        assert.equal(reshard.status, 0, `${reshard.stdout}${reshard.stderr}`);
        await until(async () => {
          const slots = (await direct[1]!.sendCommand(["CLUSTER", "SLOTS"])) as Array<[number, number, [string, number]]>;
          return slots.every((range) => Number(range[2][1]) !== c!.port);
        }, "the layout known to every node");
        for (const admin of direct) await admin.sendCommand(["CLIENT", "KILL", "TYPE", "pubsub"]);
        await until(() => listeners.every(({ recorder }) => recorder.downs === 1 && recorder.ups === 2), "both feeds down, then up again");
        const subscribed = async (admin: (typeof direct)[number]) =>
          Number(((await admin.sendCommand(["PUBSUB", "NUMSUB", `${prefix}feed`])) as Array<string | number>)[1]);
        assert.equal(await subscribed(direct[2]!), 0, "no connection to the master that left");
        assert.equal(await subscribed(direct[0]!), 2);
        assert.equal(await subscribed(direct[1]!), 2);
        for (const { store, inbox, recorder } of listeners) {
          assert.equal(await store.feed!.ping!(inbox, "probe"), 2, "pings go through the two masters there are");
          await until(() => recorder.messages.filter((m) => m === "probe").length === 2, "both copies back");
        }
      } finally {
        for (const { subscription, store } of listeners) {
          await subscription.close();
          await store.close();
        }
        direct.forEach((admin) => admin.destroy());
        node.destroy();
        io.disconnect();
        await resharded.stop();
      }
    });

    test("a master the subscription has no connection to never echoes its ping; the next subscription includes it", async () => {
      const grown = await startCluster();
      const [a] = grown.servers;
      const dir = mkdtempSync(join(tmpdir(), "latchkey-cluster-feed-"));
      const port = await sparePort(10_000);
      const d = await startRedisServer({
        port,
        dir,
        args: ["--cluster-enabled", "yes", "--cluster-config-file", join(dir, "nodes.conf"), "--cluster-node-timeout", "5000"],
      });
      const direct = await createClient({ url: a!.url }).connect();
      const { node, io, listeners } = await listeningThroughBothLibraries(a!);
      const probes = (recorder: Recorder, probe: string) => recorder.messages.filter((m) => m === probe).length;
      try {
        await until(() => listeners.every(({ recorder }) => recorder.ups === 1), "both feeds up on the 3 masters");
        // A fourth master joins and takes 1000 slots.
        const cli = (...args: string[]) => spawnSync("redis-cli", ["--cluster", ...args], { encoding: "utf8", timeout: 120_000 });
        const added = cli("add-node", `127.0.0.1:${port}`, `127.0.0.1:${a!.port}`);
        assert.equal(added.status, 0, `${added.stdout}${added.stderr}`);
        const newcomer = await createClient({ url: d.url }).connect();
        const everyNode = (what: RegExp, description: string) =>
          until(
            async () => {
              for (const server of [...grown.servers, d]) {
                const admin = await createClient({ url: server.url }).connect();
                const info = await admin.clusterInfo().finally(() => admin.destroy());
                if (!what.test(info)) return false;
              }
              return true;
            },
            description,
            20_000,
          );
        await everyNode(/cluster_known_nodes:4\b/, "every node knows the fourth");
        const [idA, idD] = [await direct.sendCommand(["CLUSTER", "MYID"]), await newcomer.sendCommand(["CLUSTER", "MYID"])];
        newcomer.destroy();
        await until(() => cli("check", `127.0.0.1:${a!.port}`).status === 0, "the cluster agrees on its configuration", 20_000);
        const reshard = cli(
          "reshard",
          `127.0.0.1:${a!.port}`,
          "--cluster-from",
          String(idA),
          "--cluster-to",
          String(idD),
          "--cluster-slots",
          "1000",
          "--cluster-yes",
        );
        assert.equal(reshard.status, 0, `${reshard.stdout}${reshard.stderr}`);
        await everyNode(/cluster_state:ok/, "the cluster up again on every node");
        // Both clients learn the new layout (ioredis by asking; node-redis when a command is redirected).
        await new Promise<void>((resolve) => io.refreshSlotsCache(() => resolve()));
        const slots = (await direct.sendCommand(["CLUSTER", "SLOTS"])) as Array<[number, number, [string, number]]>;
        const range = slots.find((r) => Number(r[2][1]) === port)!;
        let key = "";
        for (let i = 0; ; i++) {
          const slot = await direct.clusterKeySlot(`moved-${i}`);
          if (slot >= range[0] && slot <= range[1]) {
            key = `moved-${i}`;
            break;
          }
        }
        await node.get(key);
        assert.equal(node.masters.length, 4);
        for (const { store, inbox, recorder } of listeners) {
          assert.equal(await store.feed!.ping!(inbox, "before"), 4, "the ping goes through the four masters the client knows");
          await until(() => probes(recorder, "before") === 3, "the copies of the three subscribed masters");
          await later(300);
          assert.equal(probes(recorder, "before"), 3, "the new master's copy never comes back: no other master's copy stands in for it");
        }
        for (const { subscription } of listeners) subscription.reset!(); // what the lease does when its ping times out
        await until(() => listeners.every(({ recorder }) => recorder.ups === 2), "both feeds up again");
        for (const { store, inbox, recorder } of listeners) {
          assert.equal(await store.feed!.ping!(inbox, "after"), 4);
          await until(() => probes(recorder, "after") === 4, "every copy, the new master's included");
        }
      } finally {
        for (const { subscription, store } of listeners) {
          await subscription.close();
          await store.close();
        }
        direct.destroy();
        node.destroy();
        io.disconnect();
        await d.kill();
        await grown.stop();
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
}
