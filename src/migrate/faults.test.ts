// G6 for the migration, with real failures: the old store (a private
// redis-server) killed, the latchkey store killed between claim and commit,
// a PostgreSQL source nobody answers, a userId mapping that throws. Each answers
// 503, signs nobody in and loses nothing of the old record; once the failure
// is gone the same old cookie migrates.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Signer } from "@fastify/cookie";
import { RedisStore } from "connect-redis";
import signature from "cookie-signature";
import express from "express";
import { expressServer } from "../testing/servers.js";
import pg from "pg";
import { createClient } from "redis";
import { createSessions, type Sessions, type SessionsOptions } from "../core/index.js";
import { memoryStore } from "../stores/memory/index.js";
import { redisStore } from "../stores/redis/index.js";
import { CookieJar } from "../testing/cookie-jar.js";
import { requireRedisServer, sparePort, startRedisServer, type RedisServer } from "../testing/redis-server.js";
import { expressSessionMigration, fastifySessionMigration, type MigrationOptions } from "./index.js";
import { claimKeyOf, unsign } from "./signature.js";

const SECRET = "keyboard cat, at least thirty-two characters long";
const tools = await requireRedisServer();

/** Serves the test routes with Express on a spare loopback port. */
const serve = expressServer(express);

function record(user: string) {
  return {
    cookie: { originalMaxAge: 86_400_000, expires: new Date(Date.now() + 86_400_000).toISOString(), httpOnly: true, path: "/" },
    passport: { user },
    cart: [`${user}-item`],
  };
}

describe("migration failures (private redis-servers)", { skip: tools.skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-migrate-fault-"));
  let oldRedis: RedisServer;
  let client: ReturnType<typeof createClient>;
  let oldStore: RedisStore;
  const apps: Array<{ close: () => Promise<void> }> = [];
  const managers: Sessions[] = [];
  const logged: string[] = [];
  const logger = { warn: (m: string) => logged.push(m), error: (m: string) => logged.push(m) };

  async function oldSession(user: string): Promise<{ sid: string; jar: CookieJar }> {
    const sid = randomBytes(24).toString("base64url");
    await oldStore.set(sid, record(user) as never);
    return { sid, jar: new CookieJar({ "connect.sid": encodeURIComponent(`s:${signature.sign(sid, SECRET)}`) }) };
  }
  async function app(options: Partial<SessionsOptions>, migration: Partial<MigrationOptions> = {}): Promise<string> {
    const sessions = createSessions({
      store: memoryStore(),
      sweepInterval: false,
      logger,
      migrateFrom: expressSessionMigration({ secret: SECRET, source: { redis: client, prefix: "sess:" }, ...migration }),
      ...options,
    });
    managers.push(sessions);
    const served = await serve(sessions);
    apps.push(served);
    return served.url;
  }

  before(async () => {
    oldRedis = await startRedisServer({ port: await sparePort(), dir, args: ["--appendonly", "yes", "--appendfsync", "always"] });
    // As an app configures it to fail fast rather than queue while Redis is away.
    client = createClient({ url: oldRedis.url, disableOfflineQueue: true, socket: { reconnectStrategy: 50 } });
    client.on("error", () => undefined);
    await client.connect();
    oldStore = new RedisStore({ client, prefix: "sess:" });
  });
  after(async () => {
    for (const served of apps) await served.close();
    for (const sessions of managers) await sessions.close();
    client.destroy();
    await oldRedis.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it("the old store is down: 503, nobody signed in, the old cookie kept; back up: the user migrates", async () => {
    const url = await app({});
    const { jar } = await oldSession("olga");
    const port = oldRedis.port;
    await oldRedis.kill();
    const down = await jar.get(`${url}/whoami`);
    assert.equal(down.status, 503);
    assert.deepEqual(down.setCookies, [], "no cookie is set or cleared: the user can try again");
    assert.ok(jar.cookies.has("connect.sid"));
    oldRedis = await startRedisServer({ port, dir, args: ["--appendonly", "yes", "--appendfsync", "always"] });
    await until(async () => client.isReady);
    const back = await jar.get(`${url}/whoami`);
    assert.equal(back.status, 200);
    assert.equal(back.body.userId, "olga");
    assert.deepEqual(back.body.data, { cart: ["olga-item"] });
  });

  it("revokeUser while the old store is down: the latchkey sessions still end, then 503; the retry ends the old ones", async () => {
    const url = await app({});
    const migrated = await oldSession("tess");
    assert.equal((await migrated.jar.get(`${url}/whoami`)).body.userId, "tess");
    const waiting = await oldSession("tess");
    const port = oldRedis.port;
    await oldRedis.kill();
    try {
      const revoke = await new CookieJar().post(`${url}/revoke-user/tess`);
      assert.equal(revoke.status, 503, "a password reset is told that old sessions may still be alive");
    } finally {
      oldRedis = await startRedisServer({ port, dir, args: ["--appendonly", "yes", "--appendfsync", "always"] });
      await until(async () => client.isReady);
    }
    assert.equal((await migrated.jar.get(`${url}/whoami`)).body.userId, null, "the latchkey session ended all the same");
    const retry = await new CookieJar().post(`${url}/revoke-user/tess`);
    assert.equal(retry.status, 200);
    assert.equal((await waiting.jar.get(`${url}/whoami`)).body.userId, null, "after the retry the old session is refused");
  });

  it("the latchkey store fails after the claim: 503, the old record and claim untouched; then the user migrates", async () => {
    const latchkeyRedis = await startRedisServer({ port: await sparePort(), dir });
    const store = redisStore({ url: latchkeyRedis.url, prefix: "new:", commandTimeout: 500 });
    await store.ready();
    const url = await app({ store });
    const { sid, jar } = await oldSession("paul");
    const before = await client.get(`sess:${sid}`);
    await latchkeyRedis.kill();
    const down = await jar.get(`${url}/whoami`);
    assert.equal(down.status, 503);
    assert.equal(await client.get(`sess:${sid}`), before, "the old record is exactly as it was");
    assert.equal(await client.get(`latchkey-claim:sess:${claimKeyOf(sid)}`), null, "the claim was released");
    const restarted = await startRedisServer({ port: latchkeyRedis.port, dir: mkdtempSync(join(tmpdir(), "latchkey-migrate-new-")) });
    try {
      let answer = await jar.get(`${url}/whoami`);
      for (let i = 0; i < 40 && answer.status === 503; i++) {
        await new Promise((resolve) => setTimeout(resolve, 100)); // the store reconnects
        answer = await jar.get(`${url}/whoami`);
      }
      assert.equal(answer.status, 200);
      assert.equal(answer.body.userId, "paul", "the claim was released: the same cookie migrates at once");
      assert.equal(await client.get(`sess:${sid}`), null);
    } finally {
      await restarted.kill();
    }
  });

  it("a userId mapping that throws: 503 with its message logged, nothing lost", async () => {
    const url = await app({}, { userId: () => ({ not: "an id" }) as never });
    const { sid, jar } = await oldSession("quinn");
    const answer = await jar.get(`${url}/whoami`);
    assert.equal(answer.status, 503);
    assert.ok(
      logged.some((line) => line.includes("userId(old) returned object")),
      "the log says what to fix",
    );
    assert.ok(await client.get(`sess:${sid}`), "the old record is kept");
    const fixed = await app({});
    assert.equal((await jar.get(`${fixed}/whoami`)).body.userId, "quinn", "no claim was left behind");
  });

  it("after `until`, old cookies are only cleared: no old-store access at all", async () => {
    const url = await app({}, { until: new Date(Date.now() - 1000) });
    const { sid, jar } = await oldSession("rita");
    const port = oldRedis.port;
    await oldRedis.kill();
    try {
      const answer = await jar.get(`${url}/whoami`);
      assert.equal(answer.status, 200, "not a 503: the old store is not consulted");
      assert.equal(answer.body.userId, null);
      assert.ok(answer.setCookies.some((line) => line.startsWith("connect.sid=;")));
      assert.ok(logged.some((line) => line.includes("remove migrateFrom")));
    } finally {
      oldRedis = await startRedisServer({ port, dir, args: ["--appendonly", "yes", "--appendfsync", "always"] });
      await until(async () => client.isReady);
    }
    assert.ok(await client.get(`sess:${sid}`));
  });

  it("requests with a latchkey session, with no cookie, or with other cookies never reach the old store", async () => {
    const url = await app({});
    const { jar } = await oldSession("sam");
    assert.equal((await jar.get(`${url}/whoami`)).body.userId, "sam");
    const calls = async () => {
      const stats = await client.info("commandstats");
      return [...stats.matchAll(/cmdstat_(\w+):calls=(\d+)/g)].reduce((sum, [, name, n]) => (name === "info" ? sum : sum + Number(n)), 0);
    };
    const before = await calls();
    for (let i = 0; i < 5; i++) {
      assert.equal((await jar.get(`${url}/whoami`)).body.userId, "sam");
      await new CookieJar().get(`${url}/whoami`);
      await new CookieJar({ theme: "dark", "connect.sid.other": "x" }).get(`${url}/whoami`);
    }
    assert.equal(await calls(), before, "not one command reached the old store");
  });

  it("a connect-pg-simple source nobody answers: 503", async () => {
    const pool = new pg.Pool({ connectionString: `postgres://postgres@127.0.0.1:${await sparePort()}/test`, connectionTimeoutMillis: 1000 });
    pool.on("error", () => undefined);
    const sessions = createSessions({
      store: memoryStore(),
      sweepInterval: false,
      logger,
      migrateFrom: expressSessionMigration({ secret: SECRET, source: { pool } }),
    });
    managers.push(sessions);
    const served = await serve(sessions);
    apps.push(served);
    const jar = new CookieJar({ "connect.sid": encodeURIComponent(`s:${signature.sign("some-session-id", SECRET)}`) });
    const answer = await jar.get(`${served.url}/whoami`);
    assert.equal(answer.status, 503);
    assert.ok(jar.cookies.has("connect.sid"));
    await pool.end();
  });
});

describe("cookie formats", () => {
  it("accepts exactly what cookie-signature and @fastify/cookie's Signer produce, with every secret tried", () => {
    const secrets = ["new-secret", "old-secret"];
    for (const secret of secrets) {
      assert.deepEqual(unsign(signature.sign("abc", secret), secrets, "sha256"), { value: "abc", secret });
      assert.deepEqual(unsign(new Signer(secret).sign("abc"), secrets, "sha256"), { value: "abc", secret });
      assert.deepEqual(unsign(new Signer(secret, "sha512").sign("abc"), secrets, "sha512"), { value: "abc", secret });
    }
    assert.equal(unsign(signature.sign("abc", "other"), secrets, "sha256"), null);
    assert.equal(unsign(new Signer("old-secret", "sha512").sign("abc"), secrets, "sha256"), null);
    assert.equal(unsign("abc.", secrets, "sha256"), null);
    assert.equal(unsign(".abc", secrets, "sha256"), null);
    assert.equal(unsign("abc", secrets, "sha256"), null);
  });

  it("refuses bad options with errors that say what to do", () => {
    const source = { pool: { query: async () => ({ rows: [] }) } };
    assert.throws(() => expressSessionMigration({ secret: "", source }), /secret must be the old library's secret/);
    assert.throws(() => expressSessionMigration({ secret: [], source }), /secret must be/);
    assert.throws(() => expressSessionMigration({ secret: "s", source: {} as never }), /source must be \{ redis: client/);
    assert.throws(() => expressSessionMigration({ secret: "s", source: { redis: {} } }), /node-redis or ioredis client/);
    assert.throws(() => expressSessionMigration({ secret: "s", source: { pool: {}, table: "x" } as never }), /pg Pool/);
    assert.throws(() => expressSessionMigration({ secret: "s", source: { ...source, table: "drop table;" } }), /plain SQL identifier/);
    assert.throws(() => expressSessionMigration({ secret: "s", source, cookieName: "a b" }), /cookieName/);
    assert.throws(() => expressSessionMigration({ secret: "s", source, until: "someday" }), /until must be a date/);
    assert.throws(() => expressSessionMigration({ secret: "s", source, grace: 10 }), /grace must be/);
    assert.throws(() => expressSessionMigration({ secret: "s", source, cookie: { path: "x" } }), /cookie.path/);
    assert.throws(() => fastifySessionMigration({ secret: "s", source, algorithm: "md4" }), /algorithm/);
    assert.throws(
      () =>
        createSessions({
          store: memoryStore(),
          sweepInterval: false,
          cookie: { name: "connect.sid" },
          migrateFrom: expressSessionMigration({ secret: "s", source }),
        }),
      /give latchkey another cookie.name/,
    );
    assert.throws(() => createSessions({ store: memoryStore(), sweepInterval: false, migrateFrom: {} as never }), /latchkey\/migrate/);
  });
});

async function until(check: () => Promise<boolean>): Promise<void> {
  for (let i = 0; i < 200 && !(await check()); i++) await new Promise((resolve) => setTimeout(resolve, 25));
}
