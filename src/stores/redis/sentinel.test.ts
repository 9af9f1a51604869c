// Real failovers: a primary, a replica and three Sentinels (private
// redis-server processes), two app processes (one on node-redis's
// createSentinel, one on ioredis with `sentinels`), each with a near-cache.
// The primary is SIGKILLed; the Sentinels promote the replica; the question is
// whether an acknowledged logout survives.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createSessions } from "../../core/index.js";
import { Client, startServer, waitFor, type ServerProcess } from "../../testing/client.js";
import { requireRedisServer, testPrefix, until } from "../../testing/redis-server.js";
import { sentinelSpec } from "../../testing/sentinel-client.js";
import { startSentinelTopology, type SentinelTopology } from "../../testing/sentinel.js";
import { redisStore } from "./index.js";

const { skip } = await requireRedisServer();

interface Pair {
  servers: ServerProcess[];
  stop(): Promise<void>;
}

describe("Redis Sentinel: an acknowledged logout survives a failover", { skip, timeout: 300_000 }, () => {
  let ha: SentinelTopology;

  before(async () => {
    ha = await startSentinelTopology();
  });
  after(async () => {
    await ha?.stop();
  });

  /** Two app processes sharing the Sentinel-managed store: node-redis in one, ioredis in the other. */
  async function startPair(durability: object | undefined, sessionOptions: object = { nearCache: true }, commandTimeout = 1000): Promise<Pair> {
    const prefix = testPrefix();
    const env = (library: "node-redis" | "ioredis") => ({
      LATCHKEY_STORE: sentinelSpec({ library, name: ha.name, sentinels: ha.sentinels, prefix }),
      LATCHKEY_STORE_OPTIONS: JSON.stringify({ commandTimeout, ...(durability ? { durability } : {}) }),
      LATCHKEY_OPTIONS: JSON.stringify(sessionOptions),
    });
    const servers = await Promise.all([startServer(env("node-redis")), startServer(env("ioredis"))]);
    for (const server of servers)
      await waitFor(async () => (await new Client().get(`${server.url}/stats`)).body.serving === true, "the near-cache to serve", 10_000);
    return { servers, stop: async () => void (await Promise.all(servers.map((s) => s.stop()))) };
  }

  /** Signs in and reads through every process, so every near-cache holds the session. */
  async function signedIn(pair: Pair, user: string): Promise<Client> {
    const tab = new Client();
    assert.equal((await tab.post(`${pair.servers[0]!.url}/login/${user}`)).status, 200);
    for (const server of pair.servers) assert.equal((await tab.fork().get(`${server.url}/whoami`)).body.userId, user);
    return tab;
  }

  /**
   * Asks `server` who `cookie` is until it answers (503 while there is no
   * primary); every answer seen is returned, so a test can check none of them
   * accepted the token either.
   */
  async function answerAfterFailover(server: ServerProcess, cookie: string): Promise<Array<{ status: number; userId: unknown }>> {
    const seen: Array<{ status: number; userId: unknown }> = [];
    await until(
      async () => {
        const reply = await new Client(cookie).get(`${server.url}/whoami`);
        seen.push({ status: reply.status, userId: reply.body?.userId });
        return reply.status === 200;
      },
      `process ${server.pid} to answer after the failover`,
      60_000,
    );
    return seen;
  }

  /** Puts the killed node back as a replica and waits until every Sentinel could fail over again. */
  async function heal(oldPrimary: number): Promise<void> {
    await ha.restartAsReplica(oldPrimary);
    await ha.awaitHealthyReplica(oldPrimary);
  }

  it("durability on: a logout answered 200, the primary killed at once → after promotion every process refuses the token", async () => {
    const pair = await startPair({ replicas: 1, timeout: 500 });
    try {
      const tab = await signedIn(pair, "alice");
      const cookie = tab.cookie!;
      const oldPrimary = await ha.primaryPort();
      const logout = await tab.post(`${pair.servers[1]!.url}/logout`);
      assert.equal(logout.status, 200);
      await ha.nodes.find((n) => n.port === oldPrimary)!.kill(); // no time for anything to catch up
      const promoted = await ha.awaitPromotion(oldPrimary);
      assert.notEqual(promoted, oldPrimary);
      for (const server of pair.servers) {
        const seen = await answerAfterFailover(server, cookie);
        assert.deepEqual(
          seen.filter((s) => s.status === 200 && s.userId !== null),
          [],
          `process ${server.pid} never accepted the logged-out token`,
        );
      }
      // The feed followed the failover: each process flushed, resubscribed on the new primary and serves again.
      for (const server of pair.servers) {
        await waitFor(async () => (await new Client().get(`${server.url}/stats`)).body.serving === true, "the near-cache to serve again", 15_000);
        const stats = (await new Client().get(`${server.url}/stats`)).body;
        assert.ok(stats.flushes.feedLost >= 1, `process ${server.pid} flushed its near-cache when the feed was lost`);
        assert.equal(stats.feed, "ready");
      }
      // Once the old primary is back as a replica, every durable write works on the new primary, in both
      // processes: a first login (take + create), a second (one rotation script), revokeUser, logout.
      await heal(oldPrimary);
      for (const server of pair.servers) {
        const tab = new Client();
        assert.equal((await tab.post(`${server.url}/set/cart?value=%5B1%5D`)).status, 200);
        const first = await tab.post(`${server.url}/login/bob`);
        assert.equal(first.status, 200);
        assert.deepEqual(first.body.data.cart, [1], "the first login's rotation kept the data");
        const rotated = await tab.post(`${server.url}/login/bob`);
        assert.equal(rotated.status, 200);
        const other = await signedIn(pair, "bob");
        assert.equal((await other.post(`${server.url}/logout`)).status, 200);
        const revoked = await new Client().post(`${server.url}/revoke-user/bob`);
        assert.equal(revoked.status, 200);
        assert.equal(revoked.body.count, 1);
        assert.equal((await tab.get(`${server.url}/whoami`)).body.userId, null);
      }
    } finally {
      await pair.stop();
    }
  });

  it("durability on, replication stalled (replica paused): logout cannot answer 200 and says why; the token is dead on the primary", async () => {
    const pair = await startPair({ replicas: 1, timeout: 300 });
    const primary = await ha.primaryPort();
    const replicaPort = ha.nodes.find((n) => n.port !== primary)!.port;
    try {
      for (const [i, server] of pair.servers.entries()) {
        const tab = await signedIn(pair, `carol${i}`);
        ha.pause(replicaPort);
        let logout;
        try {
          logout = await tab.fork().post(`${server.url}/logout`);
        } finally {
          ha.resume(replicaPort);
        }
        assert.equal(logout.status, 503, `process ${server.pid} refused to report the unconfirmed logout as done`);
        assert.match(logout.body.message, /only 0 of 1 Redis replica confirmed the logout within 300 ms/);
        assert.match(logout.body.message, /a failover now could undo it/);
        for (const other of pair.servers) assert.equal((await tab.fork().get(`${other.url}/whoami`)).body.userId, null, "already dead on the primary");
      }
    } finally {
      await pair.stop();
    }
  });

  it("durability off: the same failover with replication stalled loses the acknowledged logout (the hazard the README warns about)", async () => {
    const pair = await startPair(undefined);
    try {
      const tab = await signedIn(pair, "dave");
      const cookie = tab.cookie!;
      const oldPrimary = await ha.primaryPort();
      const replicaPort = ha.nodes.find((n) => n.port !== oldPrimary)!.port;
      // Make the loss certain: the replica is frozen and its link cut, so the
      // primary cannot ship the logout before it dies.
      ha.pause(replicaPort);
      try {
        await ha.command(oldPrimary, ["CLIENT", "KILL", "TYPE", "replica"]);
        assert.equal((await tab.post(`${pair.servers[1]!.url}/logout`)).status, 200);
        await ha.nodes.find((n) => n.port === oldPrimary)!.kill();
      } finally {
        ha.resume(replicaPort);
      }
      assert.equal(await ha.awaitPromotion(oldPrimary), replicaPort);
      for (const server of pair.servers) {
        await answerAfterFailover(server, cookie);
        const revived = await new Client(cookie).get(`${server.url}/whoami`);
        assert.equal(revived.body.userId, "dave", `without durability, process ${server.pid} accepts the token again after the failover`);
      }
      await heal(oldPrimary);
    } finally {
      await pair.stop();
    }
  });
  it("a failover that leaves the old primary running (SENTINEL FAILOVER): strict revocation right after it holds in both processes", async () => {
    const pair = await startPair({ replicas: 1, timeout: 500 }, { nearCache: true, revocation: "strict" });
    try {
      const tab = await signedIn(pair, "erin");
      const cookie = tab.cookie!;
      const oldPrimary = await ha.primaryPort();
      assert.equal(await ha.command(ha.sentinels[0]!.port, ["SENTINEL", "FAILOVER", ha.name]), "OK");
      await ha.awaitPromotion(oldPrimary);
      // The old primary runs on as a primary until Sentinel demotes it, seconds later. A logout that lands
      // there, or on the new primary before it has a replica again, cannot be confirmed: 503, never 200.
      let logout;
      await until(async () => (logout = await new Client(cookie).post(`${pair.servers[0]!.url}/logout`)).status !== 503, "a confirmed logout", 30_000);
      assert.equal(logout!.status, 200);
      for (const server of pair.servers) {
        const reply = await new Client(cookie).get(`${server.url}/whoami`);
        assert.ok(
          reply.status === 503 || reply.body.userId === null,
          `process ${server.pid} refuses the token once the strict logout resolved (got ${reply.status} ${JSON.stringify(reply.body)})`,
        );
      }
      // Both feeds left the old primary: each flushed and serves again.
      for (const server of pair.servers) {
        await waitFor(async () => (await new Client().get(`${server.url}/stats`)).body.serving === true, "the near-cache to serve again", 15_000);
        assert.ok((await new Client().get(`${server.url}/stats`)).body.flushes.feedLost >= 1);
      }
    } finally {
      await pair.stop();
    }
  });

  it("ioredis: a failover detected while the client asks a frozen Sentinel for the primary → every process answers, and reads, serves and logs in again", async () => {
    // ioredis 5 ended such a client for good (status "end", "Connection is closed." on every command),
    // and the process answered 503 forever while Sentinel named a healthy primary.
    const pair = await startPair(undefined, { nearCache: true, revocation: "strict" });
    const answered = (cookie: string | null = null) => new Client(cookie, 5000); // no answer within 5 s fails the test
    try {
      const tab = await signedIn(pair, "frank");
      const oldPrimary = await ha.primaryPort();
      // The Sentinel the clients ask first stops answering (it still accepts connections); the two others fail over.
      ha.pauseSentinel(0);
      try {
        await ha.nodes.find((n) => n.port === oldPrimary)!.kill();
        await ha.awaitPromotion(oldPrimary);
        await new Promise((resolve) => setTimeout(resolve, 1000)); // +switch-master has reached the failover detectors
        for (const server of pair.servers) assert.ok([200, 503].includes((await answered(tab.cookie).get(`${server.url}/whoami`)).status));
      } finally {
        ha.resumeSentinel(0);
      }
      for (const server of pair.servers) {
        await waitFor(
          async () => (await answered(tab.cookie).get(`${server.url}/whoami`)).status === 200,
          `process ${server.pid} to read through the store after the failover`,
          15_000,
        );
        await waitFor(
          async () => (await answered().get(`${server.url}/stats`)).body.serving === true,
          `process ${server.pid}'s near-cache to serve again`,
          15_000,
        );
        assert.equal((await answered().post(`${server.url}/login/frank`)).status, 200, `process ${server.pid} signs in after the failover`);
      }
      await heal(oldPrimary);
    } finally {
      await pair.stop();
    }
  });

  it("while there is no primary, every request is answered (503) within a bound, not after one commandTimeout per store operation", async () => {
    // node-redis's Sentinel client held commands until a primary came back: with the default commandTimeout
    // (5 s) a request went unanswered for 5 s and more, with nothing logged.
    const pair = await startPair(undefined, { nearCache: true, revocation: "strict" }, 5000);
    try {
      const tab = await signedIn(pair, "gina");
      const oldPrimary = await ha.primaryPort();
      const replicaPort = ha.nodes.find((n) => n.port !== oldPrimary)!.port;
      // No primary for a while: the replica is frozen, so Sentinel cannot promote it yet.
      ha.pause(replicaPort);
      try {
        await ha.nodes.find((n) => n.port === oldPrimary)!.kill();
        const until = Date.now() + 4000;
        while (Date.now() < until) {
          for (const server of pair.servers) {
            const requests = {
              read: () => new Client(tab.cookie, 3000).get(`${server.url}/whoami`),
              write: () => new Client(tab.cookie, 3000).post(`${server.url}/set/n?value=1`),
              login: () => new Client(null, 3000).post(`${server.url}/login/gina`),
            };
            for (const [kind, request] of Object.entries(requests)) {
              const reply = await request().catch((error: Error) =>
                assert.fail(`process ${server.pid} gave no answer to a ${kind} within 3 s while there was no primary (${error.name})`),
              );
              // A read may still be answered by the near-cache in the first moments (bounded revocation lag); a write cannot.
              assert.ok(reply.status === 503 || (kind === "read" && reply.status === 200), `process ${server.pid} answered a ${kind} with ${reply.status}`);
            }
          }
        }
      } finally {
        ha.resume(replicaPort);
      }
      await ha.awaitPromotion(oldPrimary);
      for (const server of pair.servers) {
        await waitFor(
          async () => (await new Client(null, 5000).post(`${server.url}/login/gina`)).status === 200,
          `process ${server.pid} to sign in after the failover`,
          20_000,
        );
      }
      await heal(oldPrimary);
    } finally {
      await pair.stop();
    }
  });
});

describe("redisStore durability: options", { skip }, () => {
  it("refuses bad durability options with errors that say what to do", async () => {
    const { Redis } = await import("ioredis");
    const client = new Redis({ lazyConnect: true });
    const bad: Array<[unknown, RegExp]> = [
      ["yes", /durability must be an object, e\.g\. durability: \{ replicas: 1, timeout: 250 \}/],
      [{ replicas: 0, timeout: 100 }, /durability\.replicas must be a whole number ≥ 1/],
      [{ replicas: 1.5, timeout: 100 }, /durability\.replicas must be a whole number ≥ 1/],
      [{ replicas: 1 }, /durability\.timeout must be a whole number of ms ≥ 1 \(WAIT 0 would wait forever\)/],
      [{ replicas: 1, timeout: 0 }, /durability\.timeout must be a whole number of ms ≥ 1/],
      [{ replicas: 1, timeout: 5000 }, /must be below commandTimeout \(5000 ms\)/],
      [{ replicas: 1, timeout: 100, everyWrite: "yes" }, /durability\.everyWrite must be true or false/],
      [{ replicas: 1, timeout: 100, replica: 2 }, /unknown option replica; it takes replicas, timeout and everyWrite/],
    ];
    for (const [durability, message] of bad) {
      assert.throws(
        () => redisStore({ client, durability: durability as never }),
        (error: Error) => error instanceof TypeError && message.test(error.message),
      );
    }
    const withoutDetector = new Redis({ sentinels: [{ host: "127.0.0.1", port: 1 }], name: "mymaster", lazyConnect: true });
    assert.throws(() => redisStore({ client: withoutDetector }), /needs an ioredis client with sentinels to have failoverDetector: true/);
    withoutDetector.disconnect();
    // A Cluster client takes durability too (cluster-durable.test.ts): each write WAITs on its own master.
    const cluster = new Redis.Cluster([{ host: "127.0.0.1", port: 1 }], { lazyConnect: true });
    assert.doesNotThrow(() => redisStore({ client: cluster, durability: { replicas: 1, timeout: 100 } }));
    client.disconnect();
    cluster.disconnect();
  });

  it("without replicas, every durable write is refused with the reason, and a read still works", { timeout: 30_000 }, async () => {
    // The shared test Redis has no replica: WAIT 1 can never be satisfied.
    const { REDIS_URL, requireRedis, deletePrefix } = await import("../../testing/redis-server.js");
    const { skip: noRedis } = await requireRedis();
    if (noRedis) return;
    const prefix = testPrefix();
    const port = Number(new URL(REDIS_URL).port || 6379);
    for (const library of ["node-redis", "ioredis"] as const) {
      const client =
        library === "ioredis"
          ? new (await import("ioredis")).Redis({ port, host: new URL(REDIS_URL).hostname })
          : await (await import("redis")).createClient({ url: REDIS_URL }).connect();
      const sessions = createSessions({
        store: redisStore({ client, prefix, durability: { replicas: 1, timeout: 50, everyWrite: true } }),
        sweepInterval: false,
      });
      const session = await sessions.load([]);
      session.set("theme", "dark");
      await assert.rejects(session.commit(), /only 0 of 1 Redis replica confirmed the new session within 50 ms/, "everyWrite: a new session waits too");
      // The create is on the primary all the same (it is only unconfirmed): find its token through a store without durability.
      const plain = createSessions({ store: redisStore({ client, prefix }), sweepInterval: false });
      const anonymous = await plain.load([]);
      anonymous.set("theme", "dark");
      await anonymous.commit();
      await plain.close();
      const instruction = anonymous.cookieInstruction();
      assert.equal(instruction.action, "set");
      const token = (instruction as { token: string }).token;
      const loaded = await sessions.load([token]);
      loaded.set("theme", "light");
      await assert.rejects(loaded.commit(), /only 0 of 1 Redis replica confirmed the patch within 50 ms/);
      await assert.rejects(loaded.login("erin"), /only 0 of 1 Redis replica confirmed the rotation within 50 ms/);
      await assert.rejects(sessions.revokeUser("erin"), /confirmed the user's revocation/);
      assert.equal((await sessions.load([token])).userId, null, "the rotation happened on the primary: the old token is dead");
      await sessions.close();
      if (library === "ioredis") (client as { disconnect(): void }).disconnect();
      else await (client as { close(): Promise<void> }).close();
    }
    await deletePrefix(REDIS_URL, prefix);
  });
});
