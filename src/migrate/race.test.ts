// revokeUser racing migrations, with real processes: two latchkey processes
// (one Redis store) migrate thirty old connect-redis sessions of one user at
// once while one of them runs a log out everywhere. Whatever the interleaving,
// once the revoke has answered no cookie of that user — old or new — signs
// anyone in, and the user has no session left.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { RedisStore } from "connect-redis";
import signature from "cookie-signature";
import { createClient } from "redis";
import type { ServerProcess } from "../testing/client.js";
import { CookieJar } from "../testing/cookie-jar.js";
import { startScript } from "../testing/process.js";
import { deletePrefix, REDIS_URL, requireRedis, testPrefix } from "../testing/redis-server.js";

const SECRET = "legacy-secret-legacy-secret-legacy-secret";
const SESSIONS = 30;
const redis = await requireRedis();

describe("revokeUser racing migrations in two processes", { skip: redis.skip }, () => {
  const prefix = testPrefix();
  let servers: ServerProcess[] = [];
  let client: ReturnType<typeof createClient>;
  let oldStore: RedisStore;

  before(async () => {
    client = createClient({ url: REDIS_URL });
    await client.connect();
    oldStore = new RedisStore({ client, prefix: `${prefix}sess:` });
    const env = {
      LATCHKEY_STORE: `redis:${REDIS_URL}|${prefix}latchkey:`,
      LEGACY_KIND: "express-redis",
      LEGACY_SECRETS: JSON.stringify([SECRET]),
      LEGACY_REDIS_URL: REDIS_URL,
      LEGACY_PREFIX: `${prefix}sess:`,
    };
    servers = await Promise.all([startScript("migrate-server.ts", env), startScript("migrate-server.ts", env)]);
  });
  after(async () => {
    await Promise.all(servers.map((server) => server.stop()));
    await deletePrefix(REDIS_URL, prefix);
    await deletePrefix(REDIS_URL, `latchkey-claim:${prefix}`);
    client.destroy();
  });

  it("once the revoke has answered, none of the user's cookies signs anyone in", async () => {
    for (let round = 0; round < 3; round++) {
      const user = `zoe-${round}`;
      const jars: CookieJar[] = [];
      for (let i = 0; i < SESSIONS; i++) {
        const sid = randomBytes(24).toString("base64url");
        const maxAge = 86_400_000;
        await oldStore.set(sid, {
          cookie: { originalMaxAge: maxAge, expires: new Date(Date.now() + maxAge).toISOString(), path: "/" },
          passport: { user },
        } as never);
        jars.push(new CookieJar({ "connect.sid": encodeURIComponent(`s:${signature.sign(sid, SECRET)}`) }));
      }
      // Half the old cookies at once, across both processes; once the first has answered (the rest are in flight)
      // the revoke starts, and with it the other half.
      let revoke: Promise<{ status: number }> | undefined;
      let second: Promise<{ status: number; body: any }>[] = [];
      const migrate = (i: number) => jars[i]!.get(`${servers[i % 2]!.url}/whoami`);
      const first = jars.slice(0, SESSIONS / 2).map((_, i) =>
        migrate(i).then((answer) => {
          if (!revoke) {
            revoke = new CookieJar().post(`${servers[round % 2]!.url}/revoke-user/${user}`);
            second = jars.slice(SESSIONS / 2).map((_, j) => migrate(SESSIONS / 2 + j));
          }
          return answer;
        }),
      );
      const answers = [...(await Promise.all(first)), ...(await Promise.all(second))];
      assert.equal((await revoke!).status, 200);
      assert.ok(
        answers.every((answer) => answer.status === 200),
        "no 5xx",
      );
      assert.ok(
        answers.some((answer) => answer.body.userId === user),
        "the first migration(s) signed the user in before the revoke",
      );
      for (const [i, jar] of jars.entries()) {
        const after = await jar.get(`${servers[(i + 1) % 2]!.url}/whoami`);
        assert.equal(after.body.userId, null, `round ${round}, cookie ${i}: signed out after the revoke (${[...jar.cookies.keys()].join(",")})`);
      }
      const list = await new CookieJar().get(`${servers[0]!.url}/list/${user}`);
      assert.deepEqual(list.body, [], `round ${round}: no session of the user is left`);
    }
  });
});
