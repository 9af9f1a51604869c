// The migration in one process against the real Redis: records written by the
// real connect-redis store, cookies signed by the real cookie-signature and
// @fastify/cookie signers, the latchkey side through the Express adapter.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { Signer } from "@fastify/cookie";
import { RedisStore } from "connect-redis";
import signature from "cookie-signature";
import express from "express";
import { expressServer, type TestServer } from "../testing/servers.js";
import { createClient } from "redis";
import { createSessions, type Sessions } from "../core/index.js";
import { memoryStore } from "../stores/memory/index.js";
import { CookieJar } from "../testing/cookie-jar.js";
import { rawRequest } from "../testing/raw.js";
import { deletePrefix, REDIS_URL, requireRedis, testPrefix } from "../testing/redis-server.js";
import { countLegacySessions, expressSessionMigration, fastifySessionMigration, type LegacyMigration } from "./index.js";
import { claimKeyOf } from "./signature.js";

const quiet = { warn: () => undefined, error: () => undefined };
const SECRET = "keyboard cat, at least thirty-two characters long";
const redis = await requireRedis();

/** What express-session puts in its store for a logged-in Passport user with a cart. */
function expressRecord(user: string | null, extra: Record<string, unknown> = {}, expiresIn = 86_400_000) {
  return {
    cookie: { originalMaxAge: expiresIn, expires: new Date(Date.now() + expiresIn).toISOString(), httpOnly: true, path: "/" },
    ...(user === null ? {} : { passport: { user } }),
    ...extra,
  };
}

/** Serves the test routes with Express on a spare loopback port. */
const serve = expressServer(express);

describe("expressSessionMigration (connect-redis records, in one process)", { skip: redis.skip }, () => {
  const prefix = testPrefix();
  let client: ReturnType<typeof createClient>;
  let oldStore: RedisStore;
  let migration: LegacyMigration;
  let sessions: Sessions;
  let app: TestServer;

  /** An old session as express-session would have left it: the record via connect-redis, the signed cookie. */
  async function oldSession(record: Record<string, unknown>, secret = SECRET): Promise<{ sid: string; jar: CookieJar }> {
    const sid = randomBytes(24).toString("base64url");
    await oldStore.set(sid, record as never);
    return { sid, jar: new CookieJar({ "connect.sid": encodeURIComponent(`s:${signature.sign(sid, secret)}`) }) };
  }

  before(async () => {
    client = createClient({ url: REDIS_URL });
    await client.connect();
    oldStore = new RedisStore({ client, prefix: `${prefix}sess:` });
    migration = expressSessionMigration({
      secret: ["a-newer-secret", SECRET],
      source: { redis: client, prefix: `${prefix}sess:` },
      userId: (old) => old.passport?.user ?? null,
    });
    sessions = createSessions({ store: memoryStore(), sweepInterval: false, logger: quiet, migrateFrom: migration });
    app = await serve(sessions);
  });
  after(async () => {
    await app.close();
    await sessions.close();
    await deletePrefix(REDIS_URL, prefix);
    await deletePrefix(REDIS_URL, `latchkey-claim:${prefix}`);
    client.destroy();
  });

  it("signs the user in with the same id and data, sets latchkey's cookie and clears the old one", async () => {
    const { sid, jar } = await oldSession(expressRecord("alice", { cart: ["book"], theme: "dark" }));
    const first = await jar.get(`${app.url}/whoami`);
    assert.equal(first.status, 200);
    assert.equal(first.body.userId, "alice");
    assert.deepEqual(first.body.data, { cart: ["book"], theme: "dark" });
    assert.ok(
      first.setCookies.some((line) => line.startsWith("sid=") && !line.startsWith("sid=;")),
      "latchkey's cookie is set",
    );
    assert.ok(
      first.setCookies.some((line) => line.startsWith("connect.sid=;") && line.includes("Path=/") && line.includes("Max-Age=0")),
      "the old cookie is cleared",
    );
    assert.equal(jar.cookies.has("connect.sid"), false);
    assert.equal(await client.get(`${prefix}sess:${sid}`), null, "the old record is gone");
    const again = await jar.get(`${app.url}/whoami`);
    assert.equal(again.body.userId, "alice");
    assert.equal(again.body.handle, first.body.handle);
    assert.deepEqual(again.setCookies, [], "a latchkey request sends no cookie");
  });

  it("parallel requests with one old cookie end in one session, none anonymous", async () => {
    const { jar } = await oldSession(expressRecord("bob", { cart: ["pen"] }));
    const answers = await Promise.all(Array.from({ length: 10 }, () => jar.copy().get(`${app.url}/whoami`)));
    for (const answer of answers) {
      assert.equal(answer.status, 200);
      assert.equal(answer.body.userId, "bob");
      assert.deepEqual(answer.body.data, { cart: ["pen"] });
    }
    assert.equal(new Set(answers.map((a) => a.body.handle)).size, 1, "one latchkey session");
    const tokens = new Set(answers.map((a) => a.setCookies.find((line) => line.startsWith("sid="))!.split(";")[0]));
    assert.equal(tokens.size, 1, "every response carries the same latchkey cookie");
    assert.equal((await sessions.list("bob")).length, 1);
  });

  it("a claim left pending by a process that died is taken over when it runs out", async () => {
    const { sid, jar } = await oldSession(expressRecord("jack", { cart: ["hat"] }));
    // What a winner that crashed between claim and finish leaves behind (its claim lasts pendingMs; here 400 ms).
    await client.set(`latchkey-claim:${prefix}sess:${claimKeyOf(sid)}`, "pending:a-process-that-died", { PX: 400 });
    const started = Date.now();
    const answer = await jar.get(`${app.url}/whoami`);
    assert.equal(answer.status, 200);
    assert.equal(answer.body.userId, "jack", "the waiting request took the claim over");
    assert.ok(Date.now() - started >= 300, "it waited for the dead claim to run out");
    assert.equal((await sessions.list("jack")).length, 1);
  });

  it("a claimed session never migrates twice: replay after logout, even with the old record written back", async () => {
    const record = expressRecord("carol", { cart: ["cup"] });
    const { sid, jar } = await oldSession(record);
    const oldCookie = jar.cookies.get("connect.sid")!;
    const raw = await client.get(`${prefix}sess:${sid}`);
    assert.equal((await jar.get(`${app.url}/whoami`)).body.userId, "carol");
    assert.equal((await jar.post(`${app.url}/logout`)).body.userId, null);
    const replay = await new CookieJar({ "connect.sid": oldCookie }).get(`${app.url}/whoami`);
    assert.equal(replay.status, 200);
    assert.equal(replay.body.userId, null, "the old cookie signs nobody in after the session ended");
    assert.ok(replay.setCookies.some((line) => line.startsWith("connect.sid=;")));
    // An old process still running writes the record back (its in-memory copy).
    await client.set(`${prefix}sess:${sid}`, raw!, { PX: 86_400_000 });
    const after = await new CookieJar({ "connect.sid": oldCookie }).get(`${app.url}/whoami`);
    assert.equal(after.body.userId, null, "a written-back record signs nobody in");
    assert.equal(await client.get(`${prefix}sess:${sid}`), null, "and it is deleted on sight");
    assert.equal((await sessions.list("carol")).length, 0);
  });

  it("wrong signature, unknown, expired, malformed: anonymous, old cookie cleared, never a 5xx", async () => {
    const valid = await oldSession(expressRecord("dave"));
    const expired = await oldSession(expressRecord("erin", {}, -60_000));
    // connect-redis would not store an expired record: an old process with a clock ahead, or a TTL set by hand, does.
    await client.set(`${prefix}sess:${expired.sid}`, JSON.stringify(expressRecord("erin", {}, -60_000)), { PX: 60_000 });
    const forged = `s:${signature.sign(valid.sid, "not the secret")}`;
    const unknown = `s:${signature.sign(randomBytes(24).toString("base64url"), SECRET)}`;
    const cases: Record<string, string> = {
      "wrong secret": encodeURIComponent(forged),
      "tampered signature": encodeURIComponent(`s:${valid.sid}.${"A".repeat(43)}`),
      unsigned: valid.sid,
      "no signature": encodeURIComponent(`s:${valid.sid}`),
      "unknown session": encodeURIComponent(unknown),
      "expired session": expired.jar.cookies.get("connect.sid")!,
      "bad percent-encoding": "s%3A%E0%A4%A",
      empty: "",
      "not ASCII": "s%3A%C3%A9t%C3%A9.abc",
    };
    for (const [name, value] of Object.entries(cases)) {
      const answer = await new CookieJar({ "connect.sid": value }).get(`${app.url}/whoami`);
      assert.equal(answer.status, 200, name);
      assert.equal(answer.body.userId, null, name);
      assert.ok(
        answer.setCookies.some((line) => line.startsWith("connect.sid=;")),
        `${name}: the old cookie is cleared`,
      );
      assert.ok(!answer.setCookies.some((line) => line.startsWith("sid=") && !line.startsWith("sid=;")), `${name}: no latchkey session`);
    }
    // Bytes fetch() refuses to send: raw non-ASCII in the old cookie (Node itself answers 400 to control bytes).
    const port = Number(new URL(app.url).port);
    const raw = await rawRequest(
      port,
      Buffer.concat([
        Buffer.from("GET /whoami HTTP/1.1\r\nHost: x\r\nConnection: close\r\nCookie: connect.sid=s:"),
        Buffer.from([0xe9, 0xff]),
        Buffer.from(".x\r\n\r\n"),
      ]),
    );
    assert.equal(raw.status, 200);
    assert.match(raw.text, /"userId":null/);
    assert.match(raw.text, /Set-Cookie: connect\.sid=;/);
    assert.equal(await client.get(`${prefix}sess:${expired.sid}`), null, "the expired record is deleted");
    assert.ok(await client.get(`${prefix}sess:${valid.sid}`), "a forged cookie touches nothing");
    assert.equal((await valid.jar.get(`${app.url}/whoami`)).body.userId, "dave", "the real cookie still works");
  });

  it("a response that clears the old cookie is never storable, even when the app said public (a cache would replay the sign-out)", async () => {
    const unknown = encodeURIComponent(`s:${signature.sign(randomBytes(24).toString("base64url"), SECRET)}`);
    const response = await fetch(`${app.url}/public/whoami`, { headers: { cookie: `connect.sid=${unknown}` } });
    assert.equal(response.status, 200);
    assert.ok(
      response.headers.getSetCookie().some((line) => line.startsWith("connect.sid=;")),
      "the old cookie is cleared",
    );
    assert.equal(response.headers.get("cache-control"), "no-store");
    const { jar } = await oldSession(expressRecord("pat"));
    const migrated = await fetch(`${app.url}/public/whoami`, { headers: { cookie: jar.header } });
    assert.equal(migrated.headers.get("cache-control"), "no-store", "the migrated session's cookie is set");
  });

  it("rolling sessions: the store's later expiry beats a saved cookie.expires only with rolling: true", async () => {
    // express-session with rolling: true, resave: false — connect-redis's touch extended the key, the record kept its first expiry.
    const stale = expressRecord("hana", {}, -3_600_000);
    const strict = await oldSession(stale);
    await client.set(`${prefix}sess:${strict.sid}`, JSON.stringify(stale), { PX: 86_400_000 });
    assert.equal((await strict.jar.get(`${app.url}/whoami`)).body.userId, null, "default: the saved expiry decides");
    const rolling = createSessions({
      store: memoryStore(),
      sweepInterval: false,
      logger: quiet,
      migrateFrom: expressSessionMigration({ secret: SECRET, source: { redis: client, prefix: `${prefix}sess:` }, rolling: true }),
    });
    const rollingApp = await serve(rolling);
    try {
      const touched = await oldSession(stale);
      await client.set(`${prefix}sess:${touched.sid}`, JSON.stringify(stale), { PX: 86_400_000 });
      assert.equal((await touched.jar.get(`${rollingApp.url}/whoami`)).body.userId, "hana", "rolling: the store's TTL decides");
      const gone = await oldSession(stale);
      await client.set(`${prefix}sess:${gone.sid}`, JSON.stringify(stale)); // no TTL at all: only the saved expiry is left
      assert.equal((await gone.jar.get(`${rollingApp.url}/whoami`)).body.userId, null);
    } finally {
      await rollingApp.close();
      await rolling.close();
    }
  });

  it("@fastify/session records: expired exactly when @fastify/session itself would say so (the saved expires)", async () => {
    const fastify = createSessions({
      store: memoryStore(),
      sweepInterval: false,
      logger: quiet,
      migrateFrom: fastifySessionMigration({ secret: [SECRET], source: { redis: client, prefix: `${prefix}sess:` }, userId: (old) => old.userId }),
    });
    const fastifyApp = await serve(fastify);
    const hour = 3_600_000;
    const at = (ms: number) => new Date(Date.now() + ms).toISOString();
    try {
      for (const [name, cookie, expected] of [
        ["rolled forward", { expires: at(hour), originalExpires: at(-hour), originalMaxAge: hour, path: "/" }, "ivan"],
        ["past its expires", { expires: at(-1000), originalMaxAge: hour, path: "/" }, null],
      ] as const) {
        const sid = randomBytes(24).toString("base64url");
        await client.set(`${prefix}sess:${sid}`, JSON.stringify({ cookie, userId: "ivan", theme: "dark" }), { PX: hour });
        const answer = await new CookieJar({ sessionId: encodeURIComponent(new Signer(SECRET).sign(sid)) }).get(`${fastifyApp.url}/whoami`);
        assert.equal(answer.status, 200, name);
        assert.equal(answer.body.userId, expected, name);
        if (expected) assert.deepEqual(answer.body.data, { userId: "ivan", theme: "dark" }, "default data: every key but cookie and passport");
        assert.ok(
          answer.setCookies.some((line) => line.startsWith("sessionId=;")),
          `${name}: the old cookie is cleared`,
        );
      }
    } finally {
      await fastifyApp.close();
      await fastify.close();
    }
  });

  it("an old session with data but no user becomes an anonymous latchkey session with that data", async () => {
    const { jar } = await oldSession(expressRecord(null, { cart: ["guest-item"] }));
    const answer = await jar.get(`${app.url}/whoami`);
    assert.equal(answer.body.userId, null);
    assert.deepEqual(answer.body.data, { cart: ["guest-item"] });
    assert.ok(jar.cookies.has("sid"));
    assert.equal((await jar.get(`${app.url}/whoami`)).body.data.cart[0], "guest-item");
  });

  it("counts the old sessions left", async () => {
    const before = await countLegacySessions(migration);
    const { jar } = await oldSession(expressRecord("frank"));
    assert.equal(await countLegacySessions(migration), before + 1);
    assert.equal(await countLegacySessions({ source: { redis: client, prefix: `${prefix}sess:` } }), before + 1, "from the source alone (a script, the CLI)");
    await jar.get(`${app.url}/whoami`);
    assert.equal(await countLegacySessions(migration), before);
  });
});
