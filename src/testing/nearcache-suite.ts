// The near-cache guarantees (G3) proven with real OS processes sharing one
// real store: several server processes, each with its own near-cache, under
// a stream of authenticated reads while sessions are revoked through other
// processes. "Accepted after the revoke" is judged on CLOCK_MONOTONIC, which
// every process on the machine shares (the test app stamps each request's
// arrival and each revoke's resolution with it).
import assert from "node:assert/strict";
import { existsSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Client, startServer, waitFor, type ServerProcess } from "./client.js";
import { storeFromSpec } from "./stores.js";

export interface NearCacheSuiteOptions {
  name: string;
  /** The store spec the server processes open (see stores.ts). */
  storeSpec: () => string | Promise<string>;
  cleanup?: () => void | Promise<void>;
}

export interface Probe {
  user: string;
  server: number;
  status: number;
  userId: string | null;
  /** When the server read the request (from its answer), or, for an answer without it (a 503), when the probe sent it. */
  arrivedAt: bigint;
}

/** Starts `count` server processes on one store with these createSessions options, and waits until every near-cache serves. */
export async function startFleet(
  count: number,
  storeSpec: string,
  options: Record<string, unknown>,
  storeOptions: Record<string, unknown> = {},
): Promise<ServerProcess[]> {
  const env = { LATCHKEY_STORE: storeSpec, LATCHKEY_OPTIONS: JSON.stringify(options), LATCHKEY_STORE_OPTIONS: JSON.stringify(storeOptions) };
  const servers = await Promise.all(Array.from({ length: count }, () => startServer(env)));
  if (options.nearCache) await Promise.all(servers.map((server) => waitServing(server)));
  return servers;
}

export async function stats(server: ServerProcess): Promise<any> {
  return (await new Client().get(`${server.url}/stats`)).body;
}

export function waitServing(server: ServerProcess, timeoutMs = 10_000): Promise<void> {
  return waitFor(async () => (await stats(server)).serving === true, `the near-cache of ${server.pid} to serve`, timeoutMs);
}

/** Signs `users` in (one browser each, through the servers in turn) and reads each once everywhere, so every cache holds them. */
export async function signIn(servers: ServerProcess[], users: string[]): Promise<Map<string, Client>> {
  const clients = new Map<string, Client>();
  for (const [i, user] of users.entries()) {
    const client = new Client();
    assert.equal((await client.post(`${servers[i % servers.length]!.url}/login/${user}`)).status, 200);
    clients.set(user, client);
  }
  for (const [user, client] of clients) {
    for (const server of servers) assert.equal((await client.fork().get(`${server.url}/whoami`)).body.userId, user);
  }
  return clients;
}

/** Reads every session through every server, round after round, until stop() — recording what each answer said. */
export function probe(servers: ServerProcess[], clients: Map<string, Client>, concurrency = 8): { stop: () => Promise<Probe[]> } {
  const probes: Probe[] = [];
  let running = true;
  const entries = [...clients];
  let next = 0;
  const worker = async () => {
    while (running) {
      const index = next++;
      const [user, client] = entries[index % entries.length]!;
      const server = Math.floor(index / entries.length) % servers.length;
      try {
        const sentAt = process.hrtime.bigint();
        const response = await client.fork().get(`${servers[server]!.url}/whoami`);
        const arrivedAt = response.body?.arrivedAt === undefined ? sentAt : BigInt(response.body.arrivedAt);
        probes.push({ user, server, status: response.status, userId: response.body?.userId ?? null, arrivedAt });
      } catch {
        // a server being frozen or restarted: its answers are judged when they come
      }
    }
  };
  const workers = Array.from({ length: concurrency }, worker);
  return {
    stop: async () => {
      running = false;
      await Promise.all(workers);
      return probes;
    },
  };
}

/** Answers that accepted `user` although they arrived more than `slackMs` after its revocation resolved. */
export function lateAcceptances(probes: Probe[], resolvedAt: Map<string, bigint>, slackMs = 0): Probe[] {
  const slack = BigInt(Math.round(slackMs * 1e6));
  return probes.filter((p) => {
    const resolved = resolvedAt.get(p.user);
    return resolved !== undefined && p.userId === p.user && p.arrivedAt > resolved + slack;
  });
}

/** Revokes each user through the servers in turn, alternating log out, log out everywhere, revoke(handle) and log out other devices (from a second device). */
export async function revokeAll(servers: ServerProcess[], clients: Map<string, Client>, pauseMs = 10): Promise<Map<string, bigint>> {
  const resolvedAt = new Map<string, bigint>();
  let i = 0;
  for (const [user, client] of clients) {
    const server = servers[i % servers.length]!;
    let response;
    if (i % 4 === 0) {
      response = await client.fork().post(`${server.url}/logout`);
    } else if (i % 4 === 1) {
      response = await new Client().post(`${server.url}/revoke-user/${user}`);
    } else if (i % 4 === 3) {
      const otherDevice = new Client();
      assert.equal((await otherDevice.post(`${servers[(i + 1) % servers.length]!.url}/login/${user}`)).status, 200);
      response = await otherDevice.post(`${server.url}/logout-others`);
      assert.equal(response.body.count, 1, `logout-others for ${user}: ${response.text}`);
    } else {
      const handle = (await client.fork().get(`${server.url}/whoami`)).body.handle as string;
      response = await new Client().post(`${server.url}/revoke/${encodeURIComponent(handle)}`);
    }
    assert.equal(response.status, 200, `revoking ${user}: ${response.text}`);
    resolvedAt.set(user, BigInt(response.body.resolvedAt));
    i++;
    await new Promise((resolve) => setTimeout(resolve, pauseMs));
  }
  return resolvedAt;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Signs `count` users in, reads them through every server continuously, and revokes them all meanwhile. */
async function revokeUnderLoad(servers: ServerProcess[], name: string, count: number) {
  const clients = await signIn(
    servers,
    Array.from({ length: count }, (_, i) => `${name}-${i}`),
  );
  const run = probe(servers, clients);
  await sleep(300);
  const resolvedAt = await revokeAll(servers, clients);
  await sleep(300);
  return { clients, resolvedAt, probes: await run.stop() };
}

/**
 * Cuts every process's feed connection (`cut` resolves to how many it cut)
 * while their sessions are read continuously, revokes half of the sessions
 * while the feeds reconnect and the rest once they serve again: no
 * acceptance after any revocation, each process flushed, and serves again.
 */
export async function cutFeedsUnderLoad(apps: ServerProcess[], name: string, cut: () => Promise<number>): Promise<void> {
  const clients = await signIn(
    apps,
    Array.from({ length: 12 }, (_, i) => `${name}-${i}`),
  );
  const run = probe(apps, clients);
  await sleep(200);
  const hitsBefore = (await Promise.all(apps.map(stats))).reduce((n, s) => n + s.hits, 0);
  assert.equal(await cut(), apps.length, "one feed connection per process");
  const resolvedAt = await revokeAll(apps, new Map([...clients].slice(0, 6)), 0); // while the feeds reconnect
  await Promise.all(apps.map((app) => waitServing(app)));
  for (const [user, at] of await revokeAll(apps, new Map([...clients].slice(6)))) resolvedAt.set(user, at);
  await sleep(200);
  const probes = await run.stop();
  assert.deepEqual(lateAcceptances(probes, resolvedAt), [], "no acceptance after a revocation resolved");
  const after = await Promise.all(apps.map(stats));
  for (const s of after) {
    assert.ok(s.flushes.feedLost >= 1, `each process flushed when its feed dropped: ${JSON.stringify(s.flushes)}`);
    assert.equal(s.feed, "ready");
  }
  assert.ok(after.reduce((n, s) => n + s.hits, 0) > hitsBefore, "the caches serve again after resubscribing");
}

export function runNearCacheSuite(options: NearCacheSuiteOptions): void {
  describe(`near-cache across processes: ${options.name}`, () => {
    let spec: string;
    const fleets: ServerProcess[][] = [];
    const fleet = async (count: number, settings: Record<string, unknown>) => {
      const servers = await startFleet(count, spec, settings);
      fleets.push(servers);
      return servers;
    };
    before(async () => {
      spec = await options.storeSpec();
    });
    after(async () => {
      await Promise.all(fleets.flat().map((server) => server.stop()));
      await options.cleanup?.();
    });

    it("strict: no process accepts a token after its revocation resolved, under load, while reads hit the cache", async () => {
      const servers = await fleet(3, { nearCache: true, revocation: "strict" });
      const { clients, resolvedAt, probes } = await revokeUnderLoad(servers, "strict", 24);
      assert.deepEqual(lateAcceptances(probes, resolvedAt), [], "strict revocation: zero acceptances after it resolved");
      const accepted = probes.filter((p) => p.userId === p.user).length;
      assert.ok(accepted > 200, `the probe accepted ${accepted} live reads`);
      const all = await Promise.all(servers.map(stats));
      const hits = all.reduce((n, s) => n + s.hits, 0);
      assert.ok(hits > accepted * 0.5, `the cache answered most reads (${hits} hits for ${accepted} accepted reads)`);
      // (A lease may lapse on a loaded machine — a legitimate flush — but a healthy feed loses nothing.)
      for (const s of all)
        assert.equal(s.flushes.feedLost + s.flushes.gap + s.flushes.malformed, 0, `a healthy feed loses nothing: ${JSON.stringify(s.flushes)}`);
      for (const server of servers) {
        for (const client of clients.values()) assert.equal((await client.fork().get(`${server.url}/whoami`)).body.userId, null);
      }
    });

    it("strict: a logout or login whose session the store no longer has (its revocation still on its way) resolves only once no process accepts the token", async () => {
      const [a, b] = await fleet(2, { nearCache: true, revocation: "strict" });
      // Signed in and read through b only: a has no copy, so a reads the store.
      const clients = await signIn([b!], ["vanished-logout", "vanished-login"]);
      const pair = await signIn([b!], ["vanished-first", "live-second"]);
      const store = await storeFromSpec(spec);
      try {
        // Two session cookies (set with two paths, say): the first one's session is gone, the second is live.
        // The logout ends the live one and settles the vanished one before it.
        const first = pair.get("vanished-first")!;
        const second = pair.get("live-second")!;
        const firstHandle = (await first.fork().get(`${b!.url}/whoami`)).body.handle as string;
        assert.ok(await store.destroy(firstHandle));
        const both = new Client(`${first.cookie}; ${second.cookie}`);
        assert.equal((await both.post(`${a!.url}/logout`)).status, 200);
        assert.equal((await first.fork().get(`${b!.url}/whoami`)).body.userId, null, "after the logout resolved, b refuses the vanished first cookie");
        assert.equal((await second.fork().get(`${b!.url}/whoami`)).body.userId, null, "and the live one it ended");
        for (const [user, client] of clients) {
          const hits = (await stats(b!)).hits;
          const handle = (await client.fork().get(`${b!.url}/whoami`)).body.handle as string;
          assert.equal((await stats(b!)).hits, hits + 1, "b answers this session from its cache");
          // Gone from the store, and b not told yet: what b sees while a log out everywhere
          // (or a logout in another tab) is still on its way to it.
          assert.ok(await store.destroy(handle));
          const answer = user === "vanished-logout" ? await client.fork().post(`${a!.url}/logout`) : await client.fork().post(`${a!.url}/login/${user}`);
          assert.equal(answer.status, 200);
          assert.equal((await client.fork().get(`${b!.url}/whoami`)).body.userId, null, `after the ${user.slice(9)} resolved, b refuses the old token`);
        }
      } finally {
        await store.close();
      }
    });

    it("bounded: other processes stop accepting within the propagation delay", async () => {
      const servers = await fleet(3, { nearCache: true });
      const { resolvedAt, probes } = await revokeUnderLoad(servers, "bounded", 24);
      // The documented bound while the feed is healthy is the propagation delay (about a
      // millisecond on loopback); 250 ms leaves room for a loaded CI machine.
      assert.deepEqual(lateAcceptances(probes, resolvedAt, 250), [], "bounded revocation: no acceptance beyond the bound");
      const delays = await Promise.all(servers.map(async (server) => (await stats(server)).propagationMs));
      // Each process heard a few dozen notices at most: its "p99" is its slowest one, which one
      // scheduling hiccup on a loaded machine decides. The typical notice must be quick, and none
      // may take longer than the lease, the bound that holds in every case (default 2 s).
      for (const delay of delays) {
        assert.ok(delay.count > 0 && delay.p50 !== null && delay.p50 < 250 && delay.max !== null && delay.max < 2000, `propagation ${JSON.stringify(delay)}`);
      }
    });

    it("a write in one process is read by the others, and by itself at once", async () => {
      const [a, b] = await fleet(2, { nearCache: true });
      const tab = new Client();
      await tab.post(`${a!.url}/login/writer`);
      assert.deepEqual((await tab.fork().get(`${b!.url}/whoami`)).body.data, {});
      assert.deepEqual((await tab.fork().get(`${a!.url}/whoami`)).body.data, {});
      assert.equal((await tab.post(`${a!.url}/set/theme?value=%22dark%22`)).status, 200);
      assert.equal((await tab.fork().get(`${a!.url}/whoami`)).body.data.theme, "dark", "read-your-writes in the writing process");
      await waitFor(async () => (await tab.fork().get(`${b!.url}/whoami`)).body.data.theme === "dark", "the other process to see the write", 2000);
      assert.equal((await tab.post(`${b!.url}/set/cart?value=%5B1%5D`)).status, 200);
      await waitFor(async () => (await tab.fork().get(`${a!.url}/whoami`)).body.data.cart?.[0] === 1, "the write back the other way", 2000);
    });

    it("strict: a revocation waits for a process whose event loop is busy; nothing it reads afterwards accepts the token", async () => {
      const [a, busy] = await fleet(2, { nearCache: { lease: 2000 }, revocation: "strict" });
      const clients = await signIn([a!, busy!], ["busy-user"]);
      const tab = clients.get("busy-user")!;
      const marker = join(tmpdir(), `latchkey-busy-${process.pid}-${Date.now()}`);
      const blocking = new Client().get(`${busy!.url}/busy?ms=400&marker=${encodeURIComponent(marker)}`);
      await waitFor(async () => existsSync(marker), "the busy process to start its busy loop");
      rmSync(marker, { force: true });
      // Queued behind the busy handler: read by the busy process only once it is free again.
      const queued = Array.from({ length: 6 }, () => tab.fork().get(`${busy!.url}/whoami`));
      const started = Date.now();
      const logout = await tab.fork().post(`${a!.url}/logout`);
      const took = Date.now() - started;
      const resolved = BigInt(logout.body.resolvedAt);
      await blocking;
      const answers = await Promise.all(queued);
      assert.ok(took >= 150, `the revocation waited for the busy process's acknowledgement (${took} ms)`);
      for (const answer of answers) {
        if (answer.body.userId !== null) assert.ok(BigInt(answer.body.arrivedAt) < resolved, "an accepted read was read before the revocation resolved");
      }
      assert.equal((await tab.fork().get(`${busy!.url}/whoami`)).body.userId, null);
    });

    it("a strict revocation does not wait for a frozen process longer than its lease, and the process refuses the token when it resumes", async () => {
      const lease = 1000;
      const [a, b, frozen] = await fleet(3, { nearCache: { lease }, revocation: "strict" });
      const clients = await signIn([a!, b!, frozen!], ["sleeper", "waker"]);
      const sleeper = clients.get("sleeper")!;
      frozen!.child.kill("SIGSTOP");
      try {
        // Sent to the frozen process now: the kernel queues it; it is read only after SIGCONT.
        const queued = sleeper.fork().get(`${frozen!.url}/whoami`);
        const started = Date.now();
        const logout = await sleeper.fork().post(`${a!.url}/logout`);
        const took = Date.now() - started;
        assert.equal(logout.status, 200);
        assert.ok(took <= lease + 500, `the revocation waited ${took} ms, at most one lease (${lease} ms) plus slack`);
        const resolved = BigInt(logout.body.resolvedAt);
        await new Promise((resolve) => setTimeout(resolve, 200));
        frozen!.child.kill("SIGCONT");
        const answer = await queued;
        assert.equal(answer.body.userId, null, "the resumed process refuses the revoked token");
        assert.ok(BigInt(answer.body.arrivedAt) > resolved);
        assert.equal((await sleeper.fork().get(`${b!.url}/whoami`)).body.userId, null);
        const resumed = await stats(frozen!);
        // Fenced on resuming: by its lapsed lease, or — when a deadline timer of its feed fires
        // before the socket is read — by dropping the feed. Either flushes before it serves.
        assert.ok(resumed.flushes.lease + resumed.flushes.feedLost >= 1, `the frozen process fenced itself: ${JSON.stringify(resumed.flushes)}`);
        const waited = await stats(a!);
        assert.ok(waited.strictWaitedOut >= 1, "the revoker waited out the frozen process's lease");
        // Back to normal: the resumed process serves from its cache again, and acknowledges.
        await waitServing(frozen!);
        const waker = clients.get("waker")!;
        assert.equal((await waker.fork().get(`${frozen!.url}/whoami`)).body.userId, "waker");
        const quick = Date.now();
        assert.equal((await waker.fork().post(`${b!.url}/logout`)).status, 200);
        assert.ok(Date.now() - quick < lease / 2, "with every process live, a strict revocation is quick again");
        assert.equal((await waker.fork().get(`${frozen!.url}/whoami`)).body.userId, null);
      } finally {
        frozen!.child.kill("SIGCONT");
      }
    });
  });
}
