// The Redis feed against the feed contract, on a private redis-server (so
// CLIENT KILL TYPE pubsub cuts only this test's subscribers), with each
// client library the store accepts.
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { Redis } from "ioredis";
import { createClient } from "redis";
import { runFeedConformance } from "../../conformance/index.js";
import { requireRedisServer, sparePort, startRedisServer, testPrefix } from "../../testing/redis-server.js";
import { redisStore } from "./index.js";

const tools = await requireRedisServer();

if (tools.skip) {
  test("Redis feed conformance", { skip: tools.skip }, () => undefined);
} else {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-redis-feed-"));
  const server = await startRedisServer({ port: await sparePort(), dir });
  const admin = await createClient({ url: server.url }).connect();
  const killListeners = async () => {
    await admin.sendCommand(["CLIENT", "KILL", "TYPE", "pubsub"]);
  };
  after(async () => {
    admin.destroy();
    await server.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  runFeedConformance({ name: "redisStore({ url })", createStore: () => redisStore({ url: server.url, prefix: testPrefix() }), killListeners });

  const nodeClients: Array<{ destroy(): void }> = [];
  runFeedConformance({
    name: "redisStore({ client: node-redis })",
    createStore: async () => {
      const client = await createClient({ url: server.url, disableOfflineQueue: true }).connect();
      nodeClients.push(client);
      return redisStore({ client, prefix: testPrefix() });
    },
    killListeners,
    cleanup: () => nodeClients.forEach((client) => client.destroy()),
  });

  const ioClients: Redis[] = [];
  runFeedConformance({
    name: "redisStore({ client: ioredis })",
    createStore: () => {
      const client = new Redis(server.url, { enableOfflineQueue: true, maxRetriesPerRequest: 1 });
      ioClients.push(client);
      return redisStore({ client, prefix: testPrefix() });
    },
    killListeners,
    cleanup: () => ioClients.forEach((client) => client.disconnect()),
  });
}
