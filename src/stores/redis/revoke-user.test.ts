// revokeUser on Redis ends a user's sessions in bounded steps (DESTROY_USER_STEP per script), so a user
// with 10^4 sessions no longer blocks every other client for the whole deletion — while keeping what one
// atomic script kept: every session ended when it answers, each step noticed, strict revocation intact.
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { createClient } from "redis";
import { createSessions } from "../../core/index.js";
import type { FeedListener, SessionRecord } from "../../store/index.js";
import { idOfToken, mintToken } from "../../store/token.js";
import { deletePrefix, REDIS_URL, requireRedis, testPrefix, until } from "../../testing/redis-server.js";
import { assertStepWaits, type StepTiming } from "../../testing/step-waits.js";
import { redisStore } from "./index.js";
import { DESTROY_USER, DESTROY_USER_STEP } from "./user-scripts.js";

const HOUR = 3_600_000;

/** `target` with some members replaced: a real client or store with a fault injected, never a stand-in. */
function wrap<T extends object>(target: T, overrides: Record<string, unknown>): T {
  return new Proxy(target, {
    get(object, property) {
      if (typeof property === "string" && Object.hasOwn(overrides, property)) return overrides[property];
      const value = Reflect.get(object, property, object);
      return typeof value === "function" ? value.bind(object) : value;
    },
  });
}

/** A signed-in session of `userId` and its token. */
function signedIn(userId: string): { token: string; record: SessionRecord } {
  const token = mintToken(userId);
  const now = Date.now();
  return {
    token,
    record: {
      id: idOfToken(token),
      userId,
      data: { n: 1 },
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now + HOUR,
      absoluteExpiresAt: now + 12 * HOUR,
      version: 1,
    },
  };
}

const redis = await requireRedis();
if (redis.skip) {
  test("revokeUser in bounded steps (Redis)", { skip: redis.skip }, () => undefined);
} else {
  const prefixes: string[] = [];
  const prefixed = () => {
    const prefix = testPrefix();
    prefixes.push(prefix);
    return prefix;
  };
  after(async () => {
    for (const prefix of prefixes) await deletePrefix(REDIS_URL, prefix);
  });

  describe("revokeUser in bounded steps (Redis)", () => {
    test("a user with more sessions than a step: all ended, one notice per step, the last one last, other clients served between steps", async () => {
      const prefix = prefixed();
      const client = await createClient({ url: REDIS_URL }).connect();
      const spy = await createClient({ url: REDIS_URL }).connect();
      const subscriber = await createClient({ url: REDIS_URL }).connect();
      const store = redisStore({ client, prefix });
      try {
        const count = 3 * DESTROY_USER_STEP + 10;
        const sessions = Array.from({ length: count }, () => signedIn("heavy").record);
        await Promise.all(sessions.map((record) => store.create(record)));
        const bystander = signedIn("bystander").record;
        await store.create(bystander);
        const index = (await client.keys(`${prefix}*:u:heavy`))[0]!;
        assert.equal(await client.zCard(index), count);

        const notices: string[] = [];
        await subscriber.subscribe(`${prefix}feed`, (message) => void notices.push(message));
        // Another client's command, over and over while the revocation runs: it sees the index part-way.
        const seen: number[] = [];
        let done = false;
        const watching = (async () => {
          while (!done) seen.push(await spy.zCard(index));
        })();
        const ended = await store.destroyUser("heavy", { notice: "last", stepNotice: "step" });
        done = true;
        await watching;

        assert.deepEqual(ended.map((session) => session.id).sort(), sessions.map((record) => record.id).sort());
        assert.ok(ended.every((session) => session.userId === "heavy" && !session.expired));
        assert.equal(await client.exists(index), 0, "no index left");
        assert.equal((await client.keys(`${prefix}*:[sm]:*`)).length, 1, "only the bystander's session is left");
        assert.notEqual(await store.get(bystander.id), null);
        assert.ok(
          seen.some((n) => n > 0 && n < count),
          `another client's command ran between steps (ZCARD saw ${[...new Set(seen)].join(", ")})`,
        );
        const steps = Math.ceil(count / DESTROY_USER_STEP);
        await until(() => notices.length === steps, `${steps} notices`);
        assert.deepEqual(notices, [...Array<string>(steps - 1).fill("step"), "last"]);
      } finally {
        await store.close();
        await Promise.all([client.close(), spy.close(), subscriber.close()]);
      }
    });

    test("revokeUserYield: before each step after the first the store waits that many times the previous step's time; 0 goes straight on", async () => {
      for (const revokeUserYield of [2, 0]) {
        const prefix = prefixed();
        const client = await createClient({ url: REDIS_URL }).connect();
        // Each step's reply comes 25 ms late, so each step takes at least that long as the store times it.
        const calls: StepTiming[] = [];
        const slowed = wrap(client, {
          evalSha: async (sha: string, call: unknown) => {
            const start = performance.now();
            const reply: unknown = await client.evalSha(sha, call as never);
            if (sha !== DESTROY_USER.sha) return reply;
            await new Promise((resolve) => setTimeout(resolve, 25));
            calls.push({ start, end: performance.now() });
            return reply;
          },
        });
        const store = redisStore({ client: slowed, prefix, revokeUserYield });
        try {
          const records = Array.from({ length: 2 * DESTROY_USER_STEP + 1 }, () => signedIn("paced").record);
          await Promise.all(records.map((record) => store.create(record)));
          assert.equal((await store.destroyUser("paced")).length, records.length);
          assert.equal(calls.length, 3);
          assertStepWaits(calls, revokeUserYield);
        } finally {
          await store.close();
          await client.close();
        }
      }
    });

    test("a user with fewer sessions than a step never waits, even when a step met an impersonation of them (a second step follows)", async () => {
      const prefix = prefixed();
      const client = await createClient({ url: REDIS_URL }).connect();
      // Each step's reply comes 25 ms late: a wait after the first step would be 100 × that, capped at 1 s.
      let steps = 0;
      const slowed = wrap(client, {
        evalSha: async (sha: string, call: unknown) => {
          const reply: unknown = await client.evalSha(sha, call as never);
          if (sha === DESTROY_USER.sha) {
            steps++;
            await new Promise((resolve) => setTimeout(resolve, 25));
          }
          return reply;
        },
      });
      const store = redisStore({ client: slowed, prefix, revokeUserYield: 100 });
      try {
        const own = Array.from({ length: 3 }, () => signedIn("few").record);
        const acting = { ...signedIn("support").record, userId: "few", impersonator: "support" };
        for (const record of [...own, acting]) await store.create(record);
        const start = performance.now();
        const ended = await store.destroyUser("few");
        const took = performance.now() - start;
        assert.deepEqual(ended.map((session) => session.id).sort(), [...own, acting].map((record) => record.id).sort());
        assert.equal(steps, 2, "the step that met the impersonation is followed by another");
        assert.ok(took < 500, `revokeUser took ${took.toFixed(0)} ms: it waited between steps`);
      } finally {
        await store.close();
        await client.close();
      }
    });

    test("logoutOthers with more sessions than a step ends the impersonations of the user too and keeps the kept session, in the index too", async () => {
      const prefix = prefixed();
      const store = redisStore({ url: REDIS_URL, prefix });
      const client = await createClient({ url: REDIS_URL }).connect();
      try {
        const keep = signedIn("many").record;
        await store.create(keep);
        const others = Array.from({ length: DESTROY_USER_STEP + 5 }, () => signedIn("many").record);
        // Impersonations of "many" live in their impersonators' slots: the steps meet them and they end too.
        const acting = ["support-1", "support-2"].map((impersonator) => ({ ...signedIn(impersonator).record, userId: "many", impersonator }));
        const admins = ["support-1", "support-2"].map((user) => signedIn(user).record);
        await Promise.all([...others, ...acting, ...admins].map((record) => store.create(record)));
        const ended = await store.destroyUser("many", { except: keep.id });
        assert.deepEqual(ended.map((session) => session.id).sort(), [...others, ...acting].map((record) => record.id).sort());
        for (const record of acting) assert.equal(await store.get(record.id), null);
        for (const record of admins) assert.notEqual(await store.get(record.id), null, "the impersonators' own sessions stay");
        assert.notEqual(await store.get(keep.id), null);
        assert.deepEqual(
          (await store.listUser("many")).map((record) => record.id),
          [keep.id],
        );
        const index = (await client.keys(`${prefix}*:u:many`))[0]!;
        assert.deepEqual(await client.zRange(index, 0, -1), [keep.id]);
      } finally {
        await store.close();
        await client.close();
      }
    });

    test("strict revocation waits for the last step's acknowledgement: a session cached between steps is gone from every near-cache when revokeUser answers", async () => {
      const prefix = prefixed();
      const options = { idleTimeout: HOUR, absoluteTimeout: 12 * HOUR, revocation: "strict" as const, nearCache: true, sweepInterval: false as const };
      // The revoker's client holds the reply of the first DESTROY_USER step until the gate opens: the test reads between steps.
      const client = await createClient({ url: REDIS_URL }).connect();
      let firstStep: () => void;
      const stepped = new Promise<void>((resolve) => (firstStep = resolve));
      let open: () => void;
      const gate = new Promise<void>((resolve) => (open = resolve));
      let steps = 0;
      const gated = wrap(client, {
        evalSha: async (sha: string, call: unknown) => {
          const reply: unknown = await client.evalSha(sha, call as never);
          if (sha === DESTROY_USER.sha && ++steps === 1) {
            firstStep();
            await gate;
          }
          return reply;
        },
      });
      let endedHooks = 0;
      const revoker = createSessions({ ...options, store: redisStore({ client: gated, prefix }), hooks: { ended: () => void endedHooks++ } });
      // The reader hears every notice about the user after the first one 300 ms late (a slow subscriber): an
      // acknowledgement of the first step's notice must not let the revocation answer.
      const readerStore = redisStore({ url: REDIS_URL, prefix });
      let heard = 0;
      const slowFeed = wrap(readerStore.feed!, {
        listen: (inbox: string, listener: FeedListener) =>
          readerStore.feed!.listen(inbox, {
            ...listener,
            message: (payload) => {
              if (!payload.includes('"strict-user"') || ++heard === 1) return listener.message(payload);
              setTimeout(() => listener.message(payload), 300);
            },
          }),
      });
      const reader = createSessions({ ...options, store: wrap(readerStore, { feed: slowFeed }) });
      try {
        const users = Array.from({ length: DESTROY_USER_STEP + 10 }, () => signedIn("strict-user"));
        await Promise.all(users.map(({ record }) => readerStore.create(record)));
        await until(() => reader.stats().serving && revoker.stats().serving, "both near-caches serving");
        const revoking = revoker.revokeUser("strict-user");
        await stepped;
        await until(() => heard === 1, "the reader heard the first step's notice");
        // A session the second step deletes: alive now, so the reader caches it.
        const index = (await client.keys(`${prefix}*:u:strict-user`))[0]!;
        const left = new Set(await client.zRange(index, 0, -1));
        const late = users.find(({ record }) => left.has(record.id))!;
        assert.equal((await reader.load(late.token)).userId, "strict-user");
        assert.equal(reader.loadCached([late.token])?.userId, "strict-user", "cached between steps");
        open!();
        assert.equal(await revoking, users.length);
        assert.equal(reader.loadCached([late.token])?.userId ?? null, null, "no near-cache serves it once revokeUser answered");
        assert.equal(endedHooks, users.length, "hooks.ended once per session, across the steps");
        assert.equal(steps, 2);
        for (const { token } of users) assert.equal((await reader.load(token)).userId, null);
      } finally {
        await Promise.all([revoker.close(), reader.close()]);
        await client.close();
      }
    });
  });
}
