// A log out everywhere during the switch-over (issue 16 §3): after
// revokeUser("bob") or bob's logoutOthers(), none of bob's old sessions that
// were not migrated yet signs him in — also when a migration races the revoke.
// And migrated data passes the same checks as login() / set(): a record that
// fails them is refused (old cookie cleared, tombstone), never a 5xx.
// Real connect-redis and connect-pg-simple records, the real Express adapter.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { RedisStore } from "connect-redis";
import signature from "cookie-signature";
import express from "express";
import { expressServer, type TestServer } from "../testing/servers.js";
import pg from "pg";
import { createClient } from "redis";
import { createSessions, type Sessions } from "../core/index.js";
import type { SessionStore } from "../store/contract.js";
import { memoryStore } from "../stores/memory/index.js";
import { CookieJar } from "../testing/cookie-jar.js";
import { databaseUrl, requirePostgres } from "../testing/postgres.js";
import { deletePrefix, REDIS_URL, requireRedis, testPrefix } from "../testing/redis-server.js";
import { expressSessionMigration } from "./index.js";
import { claimKeyOf } from "./signature.js";

const SECRET = "keyboard cat, at least thirty-two characters long";
const [redis, postgres] = await Promise.all([requireRedis(), requirePostgres()]);

function expressRecord(user: string | null, extra: Record<string, unknown> = {}) {
  const maxAge = 86_400_000;
  return {
    cookie: { originalMaxAge: maxAge, expires: new Date(Date.now() + maxAge).toISOString(), httpOnly: true, path: "/" },
    ...(user === null ? {} : { passport: { user } }),
    ...extra,
  };
}

function cookieOf(sid: string): string {
  return encodeURIComponent(`s:${signature.sign(sid, SECRET)}`);
}

/** Serves the test routes with Express on a spare loopback port. */
const serve = expressServer(express);

describe("a log out everywhere ends old sessions not migrated yet (connect-redis)", { skip: redis.skip }, () => {
  const prefix = testPrefix();
  const logged: string[] = [];
  const logger = { warn: (m: string) => logged.push(m), error: (m: string) => logged.push(m) };
  let client: ReturnType<typeof createClient>;
  let oldStore: RedisStore;
  let store: SessionStore;
  let sessions: Sessions;
  let app: TestServer;

  /** An old session as express-session left it (connect-redis wrote the record). */
  async function oldSession(record: Record<string, unknown>): Promise<{ sid: string; jar: CookieJar; cookieHeader: string }> {
    const sid = randomBytes(24).toString("base64url");
    await oldStore.set(sid, record as never);
    return { sid, jar: new CookieJar({ "connect.sid": cookieOf(sid) }), cookieHeader: `connect.sid=${cookieOf(sid)}` };
  }
  /** An old session written as raw JSON text (what JSON.stringify of an object could never produce, e.g. a "__proto__" key). */
  async function rawOldSession(text: string): Promise<{ sid: string; jar: CookieJar }> {
    const sid = randomBytes(24).toString("base64url");
    await client.set(`${prefix}sess:${sid}`, text, { PX: 86_400_000 });
    return { sid, jar: new CookieJar({ "connect.sid": cookieOf(sid) }) };
  }
  const request = (cookieHeader: string) => ({ cookieHeader, userAgent: undefined, ip: () => undefined });

  before(async () => {
    client = createClient({ url: REDIS_URL });
    await client.connect();
    oldStore = new RedisStore({ client, prefix: `${prefix}sess:` });
    store = memoryStore();
    sessions = createSessions({
      store,
      sweepInterval: false,
      logger,
      maxDataBytes: 1024,
      migrateFrom: expressSessionMigration({ secret: SECRET, source: { redis: client, prefix: `${prefix}sess:` } }),
    });
    app = await serve(sessions);
  });
  after(async () => {
    await app.close();
    await sessions.close();
    await deletePrefix(REDIS_URL, prefix);
    await deletePrefix(REDIS_URL, `latchkey-claim:${prefix}`);
    client.destroy();
  });

  it("after revokeUser, every old session of the user signs nobody in; other users still migrate", async () => {
    const phone = await oldSession(expressRecord("bob", { cart: ["a"] }));
    const laptop = await oldSession(expressRecord("bob"));
    const alice = await oldSession(expressRecord("alice"));
    assert.equal((await new CookieJar().post(`${app.url}/revoke-user/bob`)).body.count, 0, "bob has no latchkey session yet");
    for (const { sid, jar } of [phone, laptop]) {
      const answer = await jar.get(`${app.url}/whoami`);
      assert.equal(answer.status, 200);
      assert.equal(answer.body.userId, null, "bob's old cookie signs nobody in after the password reset");
      assert.ok(
        answer.setCookies.some((line) => line.startsWith("connect.sid=;")),
        "the old cookie is cleared",
      );
      assert.equal(await client.get(`${prefix}sess:${sid}`), null, "the old record is deleted");
      assert.match(String(await client.get(`latchkey-claim:${prefix}sess:${claimKeyOf(sid)}`)), /^done:$/, "a tombstone: nobody, ever");
    }
    assert.deepEqual(await sessions.list("bob"), []);
    assert.equal((await alice.jar.get(`${app.url}/whoami`)).body.userId, "alice", "another user is untouched");
  });

  it("logoutOthers keeps the caller's session and ends the user's old sessions elsewhere", async () => {
    const here = await oldSession(expressRecord("carl"));
    const elsewhere = await oldSession(expressRecord("carl"));
    assert.equal((await here.jar.get(`${app.url}/whoami`)).body.userId, "carl", "this device migrated");
    const others = await here.jar.post(`${app.url}/logout-others`);
    assert.equal(others.status, 200);
    assert.equal(others.body.count, 0);
    assert.equal((await elsewhere.jar.get(`${app.url}/whoami`)).body.userId, null, "the other device's old cookie is refused");
    assert.equal((await here.jar.get(`${app.url}/whoami`)).body.userId, "carl", "the caller stays signed in");
    assert.equal((await sessions.list("carl")).length, 1);
  });

  it("a migration racing revokeUser cannot bring the user back, whichever runs first", async () => {
    const create = store.create.bind(store);
    try {
      // 1. The migration checked the mark (none yet) and is about to create when the revoke runs to its end.
      const early = await oldSession(expressRecord("dora"));
      let atCreate!: () => void;
      let release!: () => void;
      const arrived = new Promise<void>((resolve) => (atCreate = resolve));
      const gate = new Promise<void>((resolve) => (release = resolve));
      store.create = async (record) => {
        if (record.userId === "dora") {
          atCreate();
          await gate;
        }
        return create(record);
      };
      const loading = sessions.load(undefined, request(early.cookieHeader));
      await arrived;
      assert.equal(await sessions.revokeUser("dora"), 0, "the revoke resolves before the migration's session exists");
      release();
      const session = await loading;
      assert.equal(session.userId, null, "the session created after the revoke is not handed out");
      assert.deepEqual(await sessions.list("dora"), [], "nor left behind");
      assert.match(session.extraSetCookies(false)[0]!, /^connect\.sid=;/, "the old cookie is cleared");

      // 2. The migration created its session, and the whole revoke runs before the migration goes on.
      const late = await oldSession(expressRecord("emil"));
      let revoked: number | undefined;
      store.create = async (record) => {
        await create(record);
        if (record.userId === "emil") revoked = await sessions.revokeUser("emil");
      };
      const second = await sessions.load(undefined, request(late.cookieHeader));
      assert.equal(revoked, 1, "the revoke destroyed the session the migration had just created");
      assert.equal(second.userId, null);
      assert.deepEqual(await sessions.list("emil"), []);
      assert.equal((await late.jar.get(`${app.url}/whoami`)).body.userId, null, "the old cookie stays refused");
    } finally {
      store.create = create;
    }
  });

  it("migrated data gets the checks login() and set() make: a refused record is cleared and tombstoned, never a 5xx", async () => {
    const cases = [
      ["a NUL in the user id", await oldSession(expressRecord("mal\u0000lory")), /control characters/],
      ["a user id over 256 characters", await oldSession(expressRecord("x".repeat(300))), /at most 256/],
      ["a constructor key", await oldSession(expressRecord("nina", { constructor: "x" })), /"constructor" cannot be a session key/],
      [
        "a __proto__ key",
        await rawOldSession(JSON.stringify(expressRecord("omar")).replace(/}$/, ',"__proto__":{"admin":true}}')),
        /"__proto__" cannot be a session key/,
      ],
      ["a NUL in a value", await oldSession(expressRecord("paul", { note: "a\u0000b" })), /NUL/],
      ["over maxDataBytes", await oldSession(expressRecord("rosa", { cart: ["x".repeat(2000)] })), /over maxDataBytes/],
    ] as const;
    for (const [name, { sid, jar }, message] of cases) {
      logged.length = 0;
      const oldCookie = jar.cookies.get("connect.sid")!;
      const raw = await client.get(`${prefix}sess:${sid}`);
      for (let i = 0; i < 2; i++) {
        const answer = await new CookieJar({ "connect.sid": oldCookie }).get(`${app.url}/whoami`);
        assert.equal(answer.status, 200, `${name}: never a 5xx (try ${i + 1})`);
        assert.equal(answer.body.userId, null, name);
        assert.ok(
          answer.setCookies.some((line) => line.startsWith("connect.sid=;")),
          `${name}: the old cookie is cleared`,
        );
        assert.ok(!answer.setCookies.some((line) => /^sid=[^;]/.test(line)), `${name}: no latchkey session`);
      }
      assert.equal(await client.get(`${prefix}sess:${sid}`), null, `${name}: the old record is deleted`);
      assert.equal(await client.get(`latchkey-claim:${prefix}sess:${claimKeyOf(sid)}`), "done:", `${name}: a tombstone`);
      assert.ok(
        logged.some((line) => message.test(line) && line.includes("not carried over")),
        `${name}: the log says why (${logged.join(" | ")})`,
      );
      await client.set(`${prefix}sess:${sid}`, raw!, { PX: 60_000 }); // an old process writes it back
      assert.equal((await new CookieJar({ "connect.sid": oldCookie }).get(`${app.url}/whoami`)).body.userId, null, `${name}: never migrates later`);
    }
    assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, "admin"), false);
  });
});

describe("connect-pg-simple: revocation marks, and sealed tokens deleted after the grace period", { skip: postgres.skip }, () => {
  const table = `legacy_rev_${process.pid}_${Math.floor(Math.random() * 1e6)}`;
  const claims = `${table}_latchkey_claims`;
  let pool: pg.Pool;
  let sessions: Sessions;
  const request = (sid: string) => ({ cookieHeader: `connect.sid=${cookieOf(sid)}`, userAgent: undefined, ip: () => undefined });

  async function oldSession(user: string): Promise<string> {
    const sid = randomBytes(24).toString("base64url");
    await pool.query(`INSERT INTO "${table}" (sid, sess, expire) VALUES ($1, $2::json, now() + interval '1 day')`, [sid, JSON.stringify(expressRecord(user))]);
    return sid;
  }
  const sealedOf = async (sid: string) => (await pool.query(`SELECT sealed, sealed_until FROM "${claims}" WHERE claim = $1`, [claimKeyOf(sid)])).rows[0];

  before(async () => {
    pool = new pg.Pool({ connectionString: databaseUrl, max: 3 });
    await pool.query(`CREATE TABLE "${table}" (sid varchar NOT NULL PRIMARY KEY, sess json NOT NULL, expire timestamp(6) NOT NULL)`);
    sessions = createSessions({
      store: memoryStore(),
      sweepInterval: false,
      migrateFrom: expressSessionMigration({ secret: SECRET, source: { pool, table }, grace: 1000 }),
    });
  });
  after(async () => {
    await sessions.close();
    await pool.query(`DROP TABLE IF EXISTS "${table}", "${claims}"`);
    await pool.end();
  });

  it("revokeUser refuses the user's old sessions, also from another process reading the same tables", async () => {
    const sid = await oldSession("fay");
    const other = await oldSession("gus");
    await sessions.revokeUser("fay");
    const otherProcess = createSessions({
      store: memoryStore(),
      sweepInterval: false,
      migrateFrom: expressSessionMigration({ secret: SECRET, source: { pool, table } }),
    });
    try {
      assert.equal((await otherProcess.load(undefined, request(sid))).userId, null);
      assert.equal((await pool.query(`SELECT 1 FROM "${table}" WHERE sid = $1`, [sid])).rows.length, 0, "the old row is deleted");
      assert.equal((await otherProcess.load(undefined, request(other))).userId, "gus");
    } finally {
      await otherProcess.close();
    }
  });

  it("the sealed token is deleted when the grace period ends, with no other migration after it", async () => {
    const sid = await oldSession("hugo");
    assert.equal((await sessions.load(undefined, request(sid))).userId, "hugo");
    assert.ok((await sealedOf(sid)).sealed, "sealed for the page's parallel requests");
    await new Promise((resolve) => setTimeout(resolve, 1600));
    const row = await sealedOf(sid);
    assert.equal(row.sealed, null, "deleted after grace (1 s), not kept until the next migration");
    assert.equal(row.sealed_until, null);
  });

  it("a seal left by a process that died is deleted by sessions.sweep() and when its claim is read", async () => {
    const swept = await oldSession("ines");
    const read = await oldSession("jon");
    for (const sid of [swept, read]) {
      // What a process that finished a migration and died leaves behind once the grace period is over.
      await pool.query(
        `INSERT INTO "${claims}" (claim, state, session_id, sealed, sealed_until, until) VALUES ($1, 'done', 'x', 'sealed-token', now() - interval '1 second', now() + interval '1 day')`,
        [claimKeyOf(sid)],
      );
    }
    assert.equal((await sessions.load(undefined, request(read))).userId, null, "past grace: the old cookie signs nobody in");
    assert.equal((await sealedOf(read)).sealed, null, "and the seal it found is deleted");
    assert.equal((await sealedOf(swept)).sealed, "sealed-token");
    await sessions.sweep();
    assert.equal((await sealedOf(swept)).sealed, null, "sessions.sweep() deletes the rest");
    assert.equal((await sealedOf(swept)).sealed_until, null);
  });
});
