import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import express from "express";
import { Redis } from "ioredis";
import { createClient } from "redis";
import { runSessionsConformance, runStoreConformance, sampleRecord } from "../../conformance/index.js";
import { createSessions } from "../../core/index.js";
import { routeOfId, userRoute } from "../../store/index.js";
import { buildApp } from "../../testing/app.js";
import { Client } from "../../testing/client.js";
import {
  deletePrefix,
  REDIS_URL,
  requireRedis,
  requireRedisServer,
  sparePort,
  startRedisServer,
  testPrefix,
  type RedisServer,
} from "../../testing/redis-server.js";
import { redisStore } from "./index.js";

const HOUR = 3_600_000;

test("redisStore validates its options", () => {
  assert.throws(() => redisStore(undefined as never), /needs \{ client \} or \{ url \}/);
  assert.throws(() => redisStore({}), /needs \{ client \} or \{ url \}/);
  assert.throws(() => redisStore({ url: REDIS_URL, client: {} }), /not both/);
  assert.throws(() => redisStore({ url: "http://127.0.0.1:6379" }), /redis:\/\/ or rediss:\/\/ URL/);
  assert.throws(() => redisStore({ url: 42 as never }), /redis:\/\/ or rediss:\/\/ URL/);
  assert.throws(() => redisStore({ client: {} }), /node-redis client .* or an ioredis client/);
  assert.throws(() => redisStore({ url: REDIS_URL, prefix: "app:{x}:" }), /without "\{" or "\}"/);
  assert.throws(() => redisStore({ url: REDIS_URL, prefix: 7 as never }), /prefix must be a string/);
  assert.throws(() => redisStore({ url: REDIS_URL, connectTimeout: -1 }), /connectTimeout/);
  for (const revokeUserYield of [-1, Number.NaN, 101, "2" as never]) {
    assert.throws(() => redisStore({ url: REDIS_URL, revokeUserYield }), /revokeUserYield must be a number from 0 to 100/);
  }
  const prefixed = new Redis({ lazyConnect: true, keyPrefix: "app:" });
  assert.throws(() => redisStore({ client: prefixed }), /keyPrefix \("app:"\).*prefix: "app:"/);
  prefixed.disconnect();
  for (const error of [() => redisStore({}), () => redisStore({ client: {} })]) assert.throws(error, TypeError);
});

test("an unreachable Redis is reported with its host and port, quickly", async () => {
  const port = await sparePort();
  const store = redisStore({ url: `redis://127.0.0.1:${port}`, prefix: testPrefix() });
  try {
    assert.equal(store.name.startsWith(`redis(127.0.0.1:${port} latchkey-test:`), true, store.name);
    assert.equal(store.processLocal, false);
    const started = Date.now();
    await assert.rejects(store.ready(), new RegExp(`^Error: latchkey: cannot reach Redis at 127\\.0\\.0\\.1:${port}: .*ECONNREFUSED`));
    await assert.rejects(store.get(sampleRecord().id), new RegExp(`cannot reach Redis at 127\\.0\\.0\\.1:${port}`));
    await assert.rejects(store.create(sampleRecord()), new RegExp(`cannot reach Redis at 127\\.0\\.0\\.1:${port}`));
    assert.ok(Date.now() - started < 3000, "fails fast");
  } finally {
    await store.close();
  }
});

const redis = await requireRedis();
if (redis.skip) {
  test("redisStore against REDIS_URL", { skip: redis.skip }, () => undefined);
} else {
  const nodeClient = await createClient({ url: REDIS_URL, disableOfflineQueue: true }).connect();
  const ioClient = new Redis(REDIS_URL, { lazyConnect: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 });
  await ioClient.connect();
  const prefixes: string[] = [];
  const prefixed = () => {
    const prefix = testPrefix();
    prefixes.push(prefix);
    return prefix;
  };

  const nodePrefix = prefixed();
  runStoreConformance({
    name: "redisStore (node-redis client)",
    createStore: () => redisStore({ client: nodeClient, prefix: nodePrefix }),
    cleanup: async () => {
      await deletePrefix(REDIS_URL, nodePrefix);
    },
  });

  const managerPrefix = prefixed();
  runSessionsConformance({
    name: "redisStore (node-redis client)",
    createStore: () => redisStore({ client: nodeClient, prefix: managerPrefix }),
    cleanup: async () => {
      await deletePrefix(REDIS_URL, managerPrefix);
    },
  });

  const ioPrefix = prefixed();
  runStoreConformance({
    name: "redisStore (ioredis client)",
    createStore: () => redisStore({ client: ioClient, prefix: ioPrefix }),
    cleanup: async () => {
      await deletePrefix(REDIS_URL, ioPrefix);
    },
  });

  const urlPrefix = prefixed();
  runStoreConformance({
    name: "redisStore (url)",
    createStore: async () => {
      const store = redisStore({ url: REDIS_URL, prefix: urlPrefix });
      await store.ready();
      return store;
    },
    cleanup: async () => {
      await deletePrefix(REDIS_URL, urlPrefix);
    },
  });

  describe("redisStore specifics", () => {
    const prefix = prefixed();
    after(async () => {
      await deletePrefix(REDIS_URL, prefix);
    });

    test("key layout: one hash per session, a sorted set per user, both in the user's slot, expiring with the session", async () => {
      const store = redisStore({ client: nodeClient, prefix });
      const record = sampleRecord({ userId: "layout-user", data: { cart: ["a"], "odd key": { n: 1 } } });
      await store.create(record);
      const route = userRoute("layout-user");
      assert.equal(routeOfId(record.id), route);
      const sessionKey = `${prefix}{${route}}:s:${record.id.slice(5)}`;
      const indexKey = `${prefix}{${route}}:u:layout-user`;
      assert.deepEqual(
        { ...(await nodeClient.hGetAll(sessionKey)) },
        {
          u: "layout-user",
          c: String(record.createdAt),
          l: String(record.lastSeenAt),
          e: String(record.expiresAt),
          a: String(record.absoluteExpiresAt),
          v: "1",
          "d:cart": '["a"]',
          "d:odd key": '{"n":1}',
        },
      );
      assert.equal(await nodeClient.pExpireTime(sessionKey), record.expiresAt);
      assert.deepEqual(await nodeClient.zRangeWithScores(indexKey, 0, -1), [{ value: record.id, score: record.expiresAt }]);
      assert.equal(await nodeClient.pExpireTime(indexKey), record.absoluteExpiresAt, "the index outlives every session in it");
      const anonymous = sampleRecord();
      await store.create(anonymous);
      assert.equal(await nodeClient.exists(`${prefix}{${routeOfId(anonymous.id)}}:s:${anonymous.id.slice(5)}`), 1);
      // patch and touch move the expiry of the key and the index score together
      await store.touch(record.id, record.lastSeenAt + 1000, record.expiresAt + 1000);
      assert.equal(await nodeClient.pExpireTime(sessionKey), record.expiresAt + 1000);
      assert.equal(await nodeClient.zScore(indexKey, record.id), record.expiresAt + 1000);
      assert.match(store.name, new RegExp(`^redis\\([^ ]+:\\d+ ${prefix}\\)$`));
    });

    test("Redis expires sessions itself; sweep prunes the index entries", async () => {
      const store = redisStore({ client: ioClient, prefix });
      const now = Date.now();
      const short = sampleRecord({ userId: "expiring", expiresAt: now + 150 });
      const long = sampleRecord({ userId: "expiring" });
      await store.create(short);
      await store.create(long);
      await new Promise((resolve) => setTimeout(resolve, 300));
      assert.equal(await store.get(short.id), null);
      assert.deepEqual(
        (await store.listUser("expiring")).map((r) => r.id),
        [long.id],
      );
      assert.deepEqual(
        (await store.sweep(Date.now())).map((ended) => ended.id),
        [short.id],
      );
      assert.deepEqual(await ioClient.zrange(`${prefix}{${userRoute("expiring")}}:u:expiring`, 0, -1), [long.id]);
    });

    test("a session Redis expired by TTL is reported once: by the sweep, or by a destroyUser that takes it out of the index first (as expired)", async () => {
      const store = redisStore({ client: ioClient, prefix });
      const now = Date.now();
      const short = sampleRecord({ userId: "ttl-once", expiresAt: now + 150 });
      const live = sampleRecord({ userId: "ttl-once" });
      await store.create(short);
      await store.create(live);
      await new Promise((resolve) => setTimeout(resolve, 300));
      // A touch of the live session (which re-scores the index) must not drop the expired member unreported.
      assert.equal(await store.touch(live.id, Date.now(), live.expiresAt), true);
      const ended = await store.destroyUser("ttl-once");
      assert.deepEqual(
        ended.map((session) => [session.id, session.expired ?? false]).sort(),
        [
          [live.id, false],
          [short.id, true],
        ].sort(),
      );
      assert.deepEqual(await store.sweep(Date.now()), [], "nothing left to report");
    });

    test("a user session whose id is not routed by its user id is refused (it would break the Cluster slot plan)", async () => {
      const store = redisStore({ client: nodeClient, prefix });
      const record = { ...sampleRecord(), userId: "misrouted" };
      await assert.rejects(store.create(record), /must have route .*userRoute\(userId\)/);
      assert.equal(await store.get(record.id), null);
    });

    test("the device lives in its own key beside the hash (never fetched by a read), expiring with the session", async () => {
      const store = redisStore({ client: nodeClient, prefix });
      const device = { userAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", ip: "203.0.113.5" };
      const record = sampleRecord({ userId: "device-user", device });
      await store.create(record);
      const route = userRoute("device-user");
      const sessionKey = `${prefix}{${route}}:s:${record.id.slice(5)}`;
      const deviceKey = `${prefix}{${route}}:m:${record.id.slice(5)}`;
      assert.equal(Number(await nodeClient.hExists(sessionKey, "m")), 0, "the hash the read fetches has no device");
      assert.deepEqual(JSON.parse((await nodeClient.get(deviceKey))!), device);
      assert.equal(await nodeClient.pExpireTime(deviceKey), await nodeClient.pExpireTime(sessionKey));
      assert.equal((await store.get(record.id))?.device, undefined);
      // Touch and patch move both expiries together.
      await store.touch(record.id, record.lastSeenAt + 1000, record.expiresAt + 60_000);
      assert.equal(await nodeClient.pExpireTime(deviceKey), await nodeClient.pExpireTime(sessionKey));
      await store.patch(record.id, { change: { set: { a: 1 }, unset: [] }, lastSeenAt: record.lastSeenAt + 2000, expiresAt: record.expiresAt + 120_000 });
      assert.equal(await nodeClient.pExpireTime(deviceKey), Math.ceil(record.expiresAt + 120_000));
      assert.equal(await nodeClient.pExpireTime(sessionKey), Math.ceil(record.expiresAt + 120_000));
      // Every way a session ends takes its device with it.
      await store.destroy(record.id);
      assert.equal(await nodeClient.exists(deviceKey), 0);
      const many = [sampleRecord({ userId: "device-user", device }), sampleRecord({ userId: "device-user", device })];
      for (const r of many) await store.create(r);
      assert.equal((await store.destroyUser("device-user")).length, 2);
      for (const r of many) assert.equal(await nodeClient.exists(`${prefix}{${route}}:m:${r.id.slice(5)}`), 0);
    });

    test("large sessions and users: many keys in one patch, many sessions in destroyUser", async () => {
      const store = redisStore({ client: nodeClient, prefix });
      const record = sampleRecord({ data: {} });
      await store.create(record);
      const set = Object.fromEntries(Array.from({ length: 1500 }, (_, i) => [`k${i}`, i]));
      assert.equal((await store.patch(record.id, { change: { set, unset: [] }, lastSeenAt: 1, expiresAt: record.expiresAt })).status, "ok");
      const unset = Array.from({ length: 1200 }, (_, i) => `k${i}`);
      assert.equal((await store.patch(record.id, { change: { set: {}, unset }, lastSeenAt: 1, expiresAt: record.expiresAt })).status, "ok");
      assert.equal(Object.keys((await store.get(record.id))!.data).length, 300);
      const many = Array.from({ length: 250 }, () => sampleRecord({ userId: "prolific" }));
      await Promise.all(many.map((r) => store.create(r)));
      assert.equal((await store.listUser("prolific")).length, 250);
      assert.equal((await store.destroyUser("prolific")).length, 250);
      assert.equal(await store.get(many[0]!.id), null);
      assert.deepEqual(await store.listUser("prolific"), []);
    });

    test("login from an anonymous session is two steps: the old token is dead even if the second step fails", async () => {
      const store = redisStore({ client: nodeClient, prefix });
      const anonymous = sampleRecord({ data: { cart: ["x"] } });
      await store.create(anonymous);
      const taken = sampleRecord({ userId: "collider" });
      await store.create(taken);
      const now = Date.now();
      // The new id already exists (impossible with real tokens): create refuses, the old session is gone.
      await assert.rejects(
        store.rotate(anonymous.id, {
          newId: taken.id,
          userId: "collider",
          change: { set: {}, unset: [] },
          createdAt: now,
          lastSeenAt: now,
          expiresAt: now + HOUR,
          absoluteExpiresAt: now + HOUR,
        }),
        { name: "SessionExistsError" },
      );
      assert.equal(await store.get(anonymous.id), null, "never resurrected");
      assert.deepEqual((await store.get(taken.id))?.data, taken.data, "the existing session is untouched");
    });
  });

  const privateServer = await requireRedisServer();
  if (privateServer.skip) test("command counts", { skip: privateServer.skip }, () => undefined);
  else
    describe("commands per operation (private redis-server, MONITOR)", () => {
      const dir = mkdtempSync(join(tmpdir(), "latchkey-redis-count-"));
      let redisServer: RedisServer;
      let admin: ReturnType<typeof createClient>;
      before(async () => {
        redisServer = await startRedisServer({ port: await sparePort(), dir });
        admin = await createClient({ url: redisServer.url }).connect();
      });
      after(async () => {
        admin?.destroy();
        await redisServer?.kill();
        rmSync(dir, { recursive: true, force: true });
      });

      /**
       * Commands clients sent during `action`, by name, from MONITOR on a private
       * server (INFO commandstats would also count the commands scripts run inside).
       * A marker ECHO after the action flushes the feed: MONITOR reports in execution order.
       */
      async function commandsDuring(action: () => Promise<unknown>): Promise<Record<string, number>> {
        const seen: string[] = [];
        const marker = `marker-${Math.random()}`;
        let done!: () => void;
        const flushed = new Promise<void>((resolve) => (done = resolve));
        const monitor = admin.duplicate();
        await monitor.connect();
        await monitor.monitor((line: string) => {
          const match = /\[\d+ ([^\]]+)\] "([^"]+)"(?: "([^"]*)")?/.exec(line);
          if (!match || match[1] === "lua") return;
          if (match[2]!.toLowerCase() === "echo") {
            if (match[3] === marker) done();
            return;
          }
          seen.push(match[2]!.toLowerCase());
        });
        try {
          await action();
          await admin.echo(marker);
          let timer: NodeJS.Timeout | undefined;
          await Promise.race([flushed, new Promise((_, reject) => (timer = setTimeout(() => reject(new Error("MONITOR feed did not flush")), 5000)))]);
          clearTimeout(timer);
        } finally {
          monitor.destroy();
        }
        const counts: Record<string, number> = {};
        for (const name of seen) counts[name] = (counts[name] ?? 0) + 1;
        return counts;
      }

      test("store.get is exactly one HGETALL (node-redis and ioredis)", async () => {
        const node = await createClient({ url: redisServer.url, disableOfflineQueue: true }).connect();
        const io = new Redis(redisServer.url, { lazyConnect: true, enableOfflineQueue: false });
        await io.connect();
        try {
          for (const client of [node, io]) {
            const store = redisStore({ client, prefix: "count:" });
            const record = sampleRecord({ userId: "counted" });
            await store.create(record);
            await store.patch(record.id, { change: { set: { warm: 1 }, unset: [] }, lastSeenAt: 1, expiresAt: record.expiresAt }); // loads the script
            assert.deepEqual(await commandsDuring(() => store.get(record.id)), { hgetall: 1 });
            assert.deepEqual(
              await commandsDuring(() => store.patch(record.id, { change: { set: { a: 1 }, unset: ["theme"] }, lastSeenAt: 2, expiresAt: record.expiresAt })),
              { evalsha: 1 },
            );
          }
        } finally {
          node.destroy();
          io.disconnect();
        }
      });

      test("an authenticated request through createSessions costs one command; a write one more", async () => {
        const store = redisStore({ url: redisServer.url, prefix: "http:" });
        const sessions = createSessions({ store, sweepInterval: false });
        const server = buildApp(express as never, sessions).listen(0, "127.0.0.1");
        await new Promise((resolve) => server.once("listening", resolve));
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        try {
          const client = new Client();
          assert.equal((await client.post(`${url}/login/counted`)).status, 200);
          await store.patch("AAAA:" + "A".repeat(43), { change: { set: {}, unset: [] }, lastSeenAt: 1, expiresAt: 1 }); // loads the scripts
          await store.destroyUser("nobody");
          assert.deepEqual(await commandsDuring(async () => assert.equal((await client.get(`${url}/whoami`)).body.userId, "counted")), { hgetall: 1 });
          assert.deepEqual(await commandsDuring(async () => assert.equal((await client.post(`${url}/set/theme?value=%22x%22`)).status, 200)), {
            hgetall: 1,
            evalsha: 1,
          });
          // revokeUser: one script per step of DESTROY_USER_STEP sessions (it finds impersonations of the user on its way).
          assert.deepEqual(await commandsDuring(async () => assert.equal((await new Client().post(`${url}/revoke-user/counted`)).body.count, 1)), {
            evalsha: 1,
          });
        } finally {
          server.close();
          server.closeAllConnections();
          await sessions.close();
        }
      });

      test("scripts are reloaded after SCRIPT FLUSH (restart, failover): EVALSHA falls back to EVAL once", async () => {
        const store = redisStore({ url: redisServer.url, prefix: "flush:" });
        try {
          const record = sampleRecord({ userId: "flushed" });
          await store.create(record);
          await admin.scriptFlush();
          assert.deepEqual(await commandsDuring(() => store.touch(record.id, 5, record.expiresAt)), { evalsha: 1, eval: 1 });
          assert.deepEqual(await commandsDuring(() => store.touch(record.id, 6, record.expiresAt)), { evalsha: 1 });
          assert.equal((await store.get(record.id))?.lastSeenAt, 6);
        } finally {
          await store.close();
        }
      });
    });

  after(async () => {
    nodeClient.destroy();
    ioClient.disconnect();
    for (const prefix of prefixes) await deletePrefix(REDIS_URL, prefix);
  });
}
