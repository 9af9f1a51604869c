// The switch-over, end to end, with the real old libraries: two processes run
// the old stack (express-session + connect-redis, express-session +
// connect-pg-simple, @fastify/session + connect-redis) and sign users in; then
// two latchkey processes with migrateFrom take over — while the old processes
// are still running, as during a rolling deploy — and every user must arrive
// signed in, as the same user with the same data, exactly once.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { createClient } from "redis";
import type { ServerProcess } from "../testing/client.js";
import { CookieJar } from "../testing/cookie-jar.js";
import { databaseUrl, requirePostgres } from "../testing/postgres.js";
import { startScript } from "../testing/process.js";
import { deletePrefix, REDIS_URL, requireRedis, testPrefix } from "../testing/redis-server.js";

const OLD_SECRET = "legacy-secret-legacy-secret-legacy-secret";
const USERS = 6;
const [redis, postgres] = await Promise.all([requireRedis(), requirePostgres()]);

interface Kind {
  name: string;
  kind: "express-redis" | "express-pg" | "fastify-redis";
  cookieName: string;
  skip: string | false;
  /** The latchkey side reads the old store through this client library. */
  client?: "ioredis" | "redis";
}

const kinds: Kind[] = [
  { name: "express-session + connect-redis (read with ioredis)", kind: "express-redis", cookieName: "connect.sid", skip: redis.skip, client: "ioredis" },
  { name: "express-session + connect-pg-simple", kind: "express-pg", cookieName: "connect.sid", skip: postgres.skip || redis.skip },
  { name: "@fastify/session + connect-redis (read with node-redis)", kind: "fastify-redis", cookieName: "sessionId", skip: redis.skip, client: "redis" },
];

for (const k of kinds) {
  describe(`switching from ${k.name}, two old and two latchkey processes`, { skip: k.skip }, () => {
    const prefix = testPrefix();
    const table = `legacy_${process.pid}_${Math.floor(Math.random() * 1e9)}`;
    let env: Record<string, string>;
    let old: ServerProcess[] = [];
    let fresh: ServerProcess[] = [];
    let rawClient: ReturnType<typeof createClient>;
    let pool: pg.Pool;
    const users: Array<{ user: string; jar: CookieJar; oldCookie: string }> = [];

    /** The old store's raw copy of a session (what an old process holds in memory), and a way to write it back. */
    async function rawRecord(oldCookie: string): Promise<{ sid: string; value: string }> {
      const decoded = decodeURIComponent(oldCookie);
      const signed = decoded.startsWith("s:") ? decoded.slice(2) : decoded;
      const sid = signed.slice(0, signed.lastIndexOf("."));
      if (k.kind === "express-pg") {
        const { rows } = await pool.query(`SELECT sess::text AS v FROM "${table}" WHERE sid = $1`, [sid]);
        return { sid, value: rows[0]?.v ?? null };
      }
      return { sid, value: (await rawClient.get(`${prefix}sess:${sid}`))! };
    }
    async function writeBack(sid: string, value: string): Promise<void> {
      if (k.kind === "express-pg") {
        await pool.query(`INSERT INTO "${table}" (sid, sess, expire) VALUES ($1, $2::json, now() + interval '1 day')`, [sid, value]);
      } else {
        await rawClient.set(`${prefix}sess:${sid}`, value, { PX: 86_400_000 });
      }
    }
    const count = async (): Promise<number> => (await new CookieJar().get(`${fresh[0]!.url}/legacy-count`)).body.count;

    before(async () => {
      env = {
        LEGACY_KIND: k.kind,
        LEGACY_SECRET: OLD_SECRET,
        LEGACY_REDIS_URL: REDIS_URL,
        LEGACY_PREFIX: `${prefix}sess:`,
        LEGACY_TABLE: table,
        DATABASE_URL: databaseUrl,
      };
      rawClient = createClient({ url: REDIS_URL });
      await rawClient.connect();
      pool = new pg.Pool({ connectionString: databaseUrl, max: 2 });
      const latchkeyStore = k.kind === "express-pg" ? `postgres:${databaseUrl}|latchkey_${table}` : `redis:${REDIS_URL}|${prefix}latchkey:`;
      const latchkeyEnv = {
        ...env,
        LATCHKEY_STORE: latchkeyStore,
        // The secret was rotated at the switch: the old one is still accepted.
        LEGACY_SECRETS: JSON.stringify(["a-new-secret-a-new-secret-a-new-secret", OLD_SECRET]),
        ...(k.client ? { LEGACY_CLIENT: k.client } : {}),
      };
      // All four start together (startup dominates); the latchkey ones get no traffic until the old ones have signed users in.
      const started = await Promise.all([
        startScript("legacy-app.ts", env),
        startScript("legacy-app.ts", env),
        startScript("migrate-server.ts", latchkeyEnv),
        startScript("migrate-server.ts", latchkeyEnv),
      ]);
      old = started.slice(0, 2);
      fresh = started.slice(2);
      // Users sign in on one old process and change their session on the other (one shared store).
      for (let i = 0; i < USERS + 3; i++) {
        const user = `user-${i}`;
        const jar = new CookieJar();
        const login = await jar.post(`${old[i % 2]!.url}/login/${user}`);
        assert.equal(login.status, 200);
        assert.equal(login.body.user, user);
        const theme = await jar.post(`${old[(i + 1) % 2]!.url}/set/theme?value=${encodeURIComponent(JSON.stringify(`theme-${i}`))}`);
        assert.equal(theme.body.user, user, "the other old process sees the same session");
        users.push({ user, jar, oldCookie: jar.cookies.get(k.cookieName)! });
      }
    });

    after(async () => {
      await Promise.all([...old, ...fresh].map((server) => server.stop()));
      await deletePrefix(REDIS_URL, prefix);
      await deletePrefix(REDIS_URL, `latchkey-claim:${prefix}`);
      await pool.query(`DROP TABLE IF EXISTS "${table}", "${table}_latchkey_claims", "latchkey_${table}", "latchkey_${table}_leases"`).catch(() => undefined);
      await pool.end();
      rawClient.destroy();
    });

    it("every user arrives signed in, as the same user, with the same data; the count goes to zero", async () => {
      assert.equal(await count(), USERS + 3);
      for (const [i, { user, jar }] of users.slice(0, USERS).entries()) {
        const first = await jar.get(`${fresh[i % 2]!.url}/whoami`);
        assert.equal(first.status, 200);
        assert.equal(first.body.userId, user);
        assert.deepEqual(first.body.data, { cart: [`${user}-item`], theme: `theme-${i}` });
        assert.equal(jar.cookies.has(k.cookieName), false, "the old cookie is cleared");
        assert.ok(jar.cookies.has("sid"), "latchkey's cookie is set");
        const other = await jar.get(`${fresh[(i + 1) % 2]!.url}/whoami`);
        assert.equal(other.body.userId, user, "the other latchkey process agrees");
        assert.equal(other.body.handle, first.body.handle);
      }
      assert.equal(await count(), 3);
    });

    it("ten parallel requests with the same old cookie, across both processes: one session, nobody anonymous", async () => {
      const { user, jar } = users[USERS]!;
      const answers = await Promise.all(Array.from({ length: 10 }, (_, n) => jar.copy().get(`${fresh[n % 2]!.url}/whoami`)));
      for (const answer of answers) {
        assert.equal(answer.status, 200);
        assert.equal(answer.body.userId, user);
      }
      assert.equal(new Set(answers.map((a) => a.body.handle)).size, 1, "one latchkey session");
      const list = await new CookieJar().get(`${fresh[0]!.url}/list/${user}`);
      assert.equal(list.body.length, 1, "exactly one session for the user");
    });

    it("an old process writing the record back after logout signs nobody in", async () => {
      const { user, jar, oldCookie } = users[USERS + 1]!;
      const { sid, value } = await rawRecord(oldCookie);
      assert.ok(value, "the old record exists before the switch");
      assert.equal((await jar.get(`${fresh[0]!.url}/whoami`)).body.userId, user);
      assert.equal((await jar.post(`${fresh[1]!.url}/logout`)).status, 200);
      await writeBack(sid, value);
      for (const server of [...fresh]) {
        const replay = await new CookieJar({ [k.cookieName]: oldCookie }).get(`${server.url}/whoami`);
        assert.equal(replay.status, 200);
        assert.equal(replay.body.userId, null, "the old cookie signs nobody in");
        assert.ok(
          replay.setCookies.some((line) => line.startsWith(`${k.cookieName}=;`)),
          "and is cleared",
        );
      }
      assert.equal((await rawRecord(oldCookie)).value ?? null, null, "the written-back record was deleted");
      // The old process still running: the old cookie no longer finds a session there either.
      assert.equal((await new CookieJar({ [k.cookieName]: oldCookie }).get(`${old[0]!.url}/whoami`)).body.user, null);
      assert.equal((await new CookieJar().get(`${fresh[0]!.url}/list/${user}`)).body.length, 0);
    });

    it("a cookie with a wrong signature signs nobody in and touches nothing", async () => {
      const { user, oldCookie, jar } = users[USERS + 2]!;
      const decoded = decodeURIComponent(oldCookie);
      const forged = encodeURIComponent(`${decoded.slice(0, decoded.lastIndexOf(".") + 1)}${"B".repeat(43)}`);
      const answer = await new CookieJar({ [k.cookieName]: forged }).get(`${fresh[0]!.url}/whoami`);
      assert.equal(answer.status, 200);
      assert.equal(answer.body.userId, null);
      assert.ok(answer.setCookies.some((line) => line.startsWith(`${k.cookieName}=;`)));
      assert.equal((await jar.get(`${fresh[1]!.url}/whoami`)).body.userId, user, "the real cookie still migrates");
      assert.equal(await count(), 0);
    });
  });
}
