// Near-cache faults with real processes on a private redis-server: the
// server frozen (SIGSTOP), the subscriber connections killed (CLIENT KILL),
// and the server killed and restarted. In each case no process serves a
// revoked session from its cache, requests fail closed while the store is
// gone, and everything recovers without restarting the app.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { createClient } from "redis";
import { Client, waitFor, type ServerProcess } from "../../testing/client.js";
import { cutFeedsUnderLoad, lateAcceptances, probe, revokeAll, signIn, startFleet, stats, waitServing } from "../../testing/nearcache-suite.js";
import { requireRedisServer, sparePort, startRedisServer, type RedisServer } from "../../testing/redis-server.js";

const tools = await requireRedisServer();
const LEASE = 1000;
const PERSISTENT = ["--appendonly", "yes", "--appendfsync", "always"];
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("near-cache faults on a private Redis", { skip: tools.skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-nearcache-faults-"));
  const servers: RedisServer[] = [];
  const fleets: ServerProcess[] = [];
  const redis = async (args: string[] = [], port?: number) => {
    const server = await startRedisServer({ port: port ?? (await sparePort()), dir, args });
    servers.push(server);
    return server;
  };
  const fleet = async (count: number, url: string, options: Record<string, unknown>, storeOptions: Record<string, unknown> = {}) => {
    const started = await startFleet(count, `redis:${url}|faults:`, options, storeOptions);
    fleets.push(...started);
    return started;
  };
  after(async () => {
    for (const server of servers) server.child.kill("SIGCONT");
    await Promise.all(fleets.map((server) => server.stop()));
    await Promise.all(servers.map((server) => server.kill()));
    rmSync(dir, { recursive: true, force: true });
  });

  it("Redis frozen: the cache serves no longer than its lease, then requests fail closed; all recovers", async () => {
    const server = await redis();
    const [app] = await fleet(1, server.url, { nearCache: { lease: LEASE } }, { commandTimeout: 300 });
    const tab = (await signIn([app!], ["frozen-store"])).get("frozen-store")!;
    server.child.kill("SIGSTOP");
    const frozenAt = Date.now();
    const answers: Array<{ at: number; status: number; userId: string | null }> = [];
    try {
      while (Date.now() - frozenAt < LEASE + 1200) {
        const response = await tab.fork().get(`${app!.url}/whoami`);
        answers.push({ at: Date.now() - frozenAt, status: response.status, userId: response.body?.userId ?? null });
        await sleep(20);
      }
    } finally {
      server.child.kill("SIGCONT");
    }
    const late = answers.filter((a) => a.at > LEASE + 100 && a.status === 200);
    assert.deepEqual(late, [], "after its lease the process no longer answers from its cache");
    assert.ok(
      answers.some((a) => a.status === 200 && a.userId === "frozen-store" && a.at < LEASE / 2),
      "within the lease the cache answered (no revocation can commit meanwhile)",
    );
    assert.ok(
      answers.some((a) => a.status === 503),
      "once fenced, requests fail closed with 503",
    );
    assert.ok(
      answers.every((a) => a.status === 503 || a.userId === "frozen-store"),
      "never anonymous, never someone else",
    );
    assert.ok((await stats(app!)).flushes.lease >= 1);
    await waitServing(app!);
    assert.equal((await tab.fork().get(`${app!.url}/whoami`)).body.userId, "frozen-store");
  });

  it("subscriber connections killed (CLIENT KILL): caches flush, bypass, resubscribe; revocations meanwhile hold everywhere", async () => {
    const server = await redis();
    const apps = await fleet(3, server.url, { nearCache: { lease: LEASE }, revocation: "strict" });
    const admin = await createClient({ url: server.url }).connect();
    try {
      await cutFeedsUnderLoad(apps, "killed", async () => Number(await admin.sendCommand(["CLIENT", "KILL", "TYPE", "pubsub"])));
    } finally {
      admin.destroy();
    }
  });

  it("Redis killed and restarted: no answer from the cache once it is gone, 503 meanwhile, recovery without restarting the app", async () => {
    const port = await sparePort();
    const server = await redis(PERSISTENT, port);
    const apps = await fleet(2, server.url, { nearCache: { lease: LEASE }, revocation: "strict" }, { commandTimeout: 1000 });
    const users = Array.from({ length: 8 }, (_, i) => `restart-${i}`);
    const clients = await signIn(apps, users);
    const run = probe(apps, clients, 4);
    await sleep(200);
    const killedAt = process.hrtime.bigint();
    await server.kill();
    await sleep(600);
    const restartedAt = process.hrtime.bigint();
    await redis(PERSISTENT, port); // the restarted server: killed with the others in after()
    await Promise.all(apps.map((app) => waitServing(app, 15_000)));
    const resolvedAt = await revokeAll(apps, new Map([...clients].slice(0, 4)));
    await sleep(200);
    const probes = await run.stop();
    const outage = probes.filter((p) => p.arrivedAt > killedAt && p.arrivedAt < restartedAt);
    assert.ok(
      outage.some((p) => p.status === 503),
      "requests during the outage fail closed",
    );
    const servedFromCache = outage.filter((p) => p.status === 200 && p.arrivedAt > killedAt + 100_000_000n);
    assert.deepEqual(servedFromCache, [], "while Redis is down, no answer comes from a cache more than 100 ms after it died");
    assert.deepEqual(lateAcceptances(probes, resolvedAt), [], "revocations after the restart hold everywhere");
    for (const user of users.slice(4)) {
      assert.equal((await clients.get(user)!.fork().get(`${apps[0]!.url}/whoami`)).body.userId, user, "sessions survived the restart (AOF)");
    }
    await waitFor(async () => (await new Client().get(`${apps[1]!.url}/stats`)).body.flushes.feedLost >= 1, "the feed loss to be counted");
  });
});
