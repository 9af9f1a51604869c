// G6 with a real Redis failure: a private redis-server is killed (SIGKILL)
// under a running app. Requests answer 503 at once (no hang, never signed in),
// and once Redis is back on the same port everything recovers without an app
// restart. The server runs with AOF (appendfsync always) so the data survives
// the restart, as a production Redis with persistence would.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import express from "express";
import { expressServer } from "../../testing/servers.js";
import { createSessions } from "../../core/index.js";
import { Client } from "../../testing/client.js";
import { requireRedisServer, sparePort, startRedisServer, until } from "../../testing/redis-server.js";
import { redisStore } from "./index.js";

const PERSISTENT = ["--appendonly", "yes", "--appendfsync", "always"];
/** A request during the outage must be answered within this (the offline queue is off). */
const FAST_MS = 1500;

/** Serves the test routes with Express on a spare loopback port. */
const startApp = expressServer(express);

async function timed<T>(request: Promise<T>): Promise<T> {
  const started = Date.now();
  const result = await request;
  const took = Date.now() - started;
  assert.ok(took < FAST_MS, `answered in ${took} ms, not within ${FAST_MS} ms`);
  return result;
}

const tools = await requireRedisServer();

test("Redis killed under a running app: 503 at once, never signed in, recovers when Redis is back", { skip: tools.skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-redis-fault-"));
  const port = await sparePort();
  let redis = await startRedisServer({ port, dir, args: PERSISTENT });
  const errors: string[] = [];
  const store = redisStore({ url: redis.url, prefix: "fault:" });
  await store.ready();
  const sessions = createSessions({ store, sweepInterval: false, logger: { warn: () => undefined, error: (m) => errors.push(m) } });
  const app = await startApp(sessions);
  try {
    const alice = new Client();
    assert.equal((await alice.post(`${app.url}/login/alice`)).status, 200);
    assert.equal((await alice.post(`${app.url}/set/cart?value=%5B%22a%22%5D`)).status, 200);
    assert.equal((await alice.get(`${app.url}/whoami`)).body.userId, "alice");

    await redis.kill();

    for (let i = 0; i < 3; i++) {
      const read = await timed(alice.get(`${app.url}/whoami`));
      assert.equal(read.status, 503, "a read while Redis is down is refused, not anonymous and not signed in");
      assert.doesNotMatch(read.text, /alice/);
    }
    const write = await timed(alice.post(`${app.url}/set/theme?value=%22lost%22`));
    assert.equal(write.status, 503);
    const login = await timed(new Client().post(`${app.url}/login/mallory`));
    assert.equal(login.status, 503, "a login while Redis is down is not accepted");
    const revoke = await timed(new Client().post(`${app.url}/revoke-user/alice`));
    assert.equal(revoke.status, 503);
    assert.ok(
      errors.some((line) => line.includes(`redis(127.0.0.1:${port} fault:) is unavailable`)),
      `the log names the store:\n${errors.join("\n")}`,
    );

    redis = await startRedisServer({ port, dir, args: PERSISTENT });
    await until(async () => (await alice.fork().get(`${app.url}/whoami`)).status === 200, "the app to recover", 10_000);
    const back = await alice.get(`${app.url}/whoami`);
    assert.equal(back.body.userId, "alice", "the session survived the outage");
    assert.deepEqual(back.body.data, { cart: ["a"] }, "the refused write was not stored");
    assert.equal((await alice.post(`${app.url}/set/theme?value=%22ok%22`)).status, 200, "writes work again (scripts reloaded)");
    assert.equal((await alice.get(`${app.url}/whoami`)).body.data.theme, "ok");
    assert.equal((await new Client().post(`${app.url}/login/bob`)).status, 200);
  } finally {
    await app.close();
    await sessions.close();
    await redis.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("Redis down at startup: ready() names host and port, requests answer 503, and the store connects once Redis is up", { skip: tools.skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-redis-fault-"));
  const port = await sparePort();
  const store = redisStore({ url: `redis://127.0.0.1:${port}`, prefix: "late:" });
  await assert.rejects(store.ready(), new RegExp(`latchkey: cannot reach Redis at 127\\.0\\.0\\.1:${port}`));
  const sessions = createSessions({ store, sweepInterval: false, logger: { warn: () => undefined, error: () => undefined } });
  const app = await startApp(sessions);
  let redis: Awaited<ReturnType<typeof startRedisServer>> | undefined;
  try {
    const early = await timed(new Client().post(`${app.url}/login/alice`));
    assert.equal(early.status, 503);
    redis = await startRedisServer({ port, dir });
    const alice = new Client();
    await until(async () => (await alice.post(`${app.url}/login/alice`)).status === 200, "the store to connect", 10_000);
    assert.equal((await alice.get(`${app.url}/whoami`)).body.userId, "alice");
  } finally {
    await app.close();
    await sessions.close();
    await redis?.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a frozen Redis (SIGSTOP) answers 503 after commandTimeout, then recovers (SIGCONT)", { skip: tools.skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-redis-frozen-"));
  const redis = await startRedisServer({ port: await sparePort(), dir });
  const store = redisStore({ url: redis.url, prefix: "frozen:", commandTimeout: 300 });
  await store.ready();
  const sessions = createSessions({ store, sweepInterval: false, logger: { warn: () => undefined, error: () => undefined } });
  const app = await startApp(sessions);
  try {
    const alice = new Client();
    await alice.post(`${app.url}/login/alice`);
    redis.child.kill("SIGSTOP");
    const frozen = await timed(alice.get(`${app.url}/whoami`));
    assert.equal(frozen.status, 503);
    assert.doesNotMatch(frozen.text, /alice/);
    redis.child.kill("SIGCONT");
    await until(async () => (await alice.get(`${app.url}/whoami`)).body?.userId === "alice", "recovery after SIGCONT");
  } finally {
    redis.child.kill("SIGCONT");
    await app.close();
    await sessions.close();
    await redis.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});
