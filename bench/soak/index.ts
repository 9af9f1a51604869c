// npm run soak — randomized histories of many clients against several real
// server processes sharing one real store, with optional faults, judged on
// one clock (CLOCK_MONOTONIC). Reports operations, acceptances of a token
// after its revocation answered (and how late), lost writes and wrong users;
// exits 1 when a guarantee of the chosen mode was broken.
//
//   npm run soak -- --store cluster --mode strict --duration 60
//   npm run soak -- --store redis --mode strict --faults freeze,feed,restart
//   npm run soak -- --store cluster --replicas 1 --client ioredis --durability on --faults reshard,failover --duration 120
//   npm run soak -- --store postgres --mode bounded --processes 3 --clients 24
//
// --store     redis | cluster | postgres | sqlite            (default cluster)
// --mode      strict | bounded | off  (near-cache + revocation; off: no near-cache)
// --faults    comma list of freeze (SIGSTOP a server 100-600 ms), feed (cut every
//             feed connection), restart (kill -9 the store / a cluster master, start it again),
//             reshard (cluster: move 200-1000 slots between two masters with redis-cli --cluster reshard
//             while scripts run: MOVED, ASK and TRYAGAIN mid-script), failover (cluster with --replicas:
//             kill -9 a master, its replica is promoted; 2 s later the old one rejoins as a replica;
//             the last 200 logged-out cookies, taken before the kill, are re-sent to every process after the promotion)
// --replicas  cluster: replicas per master (default 0; failover needs 1)
// --client    cluster: node-redis | ioredis, the client library of the server processes (default node-redis)
// --durability on | off: redisStore durability { replicas: 1, timeout: 300, everyWrite: true } (needs replicas)
// --adapter   the framework of the server processes: express, fastify, koa, node, hono, web (LATCHKEY_FRAMEWORK of src/testing/server.ts)
// --processes, --clients, --users, --duration (s), --seed, --lease (ms), --json
import { parseArgs } from "node:util";
import { startFleet, waitServing } from "../../src/testing/nearcache-suite.js";
import type { ServerProcess } from "../../src/testing/client.js";
import { SoakClient } from "./client.js";
import { History } from "./history.js";
import { startSoakStore, type SoakStore } from "./stores.js";

const { values } = parseArgs({
  options: {
    store: { type: "string", default: "cluster" },
    mode: { type: "string", default: "strict" },
    faults: { type: "string", default: "" },
    adapter: { type: "string", default: "express" },
    processes: { type: "string", default: "2" },
    clients: { type: "string", default: "16" },
    users: { type: "string", default: "6" },
    duration: { type: "string", default: "30" },
    seed: { type: "string", default: String(Date.now() % 1e9) },
    lease: { type: "string", default: "1000" },
    replicas: { type: "string", default: "0" },
    client: { type: "string", default: "node-redis" },
    durability: { type: "string", default: "off" },
    json: { type: "boolean", default: false },
  },
});

const mode = values.mode!;
if (!["strict", "bounded", "off"].includes(mode)) throw new Error(`--mode must be strict, bounded or off, not ${mode}`);
const faults = new Set(values.faults!.split(",").filter(Boolean));
const FAULTS = ["freeze", "feed", "restart", "reshard", "failover"];
for (const fault of faults) if (!FAULTS.includes(fault)) throw new Error(`unknown fault ${fault}: use ${FAULTS.join(", ")}`);
if (!["node-redis", "ioredis"].includes(values.client!)) throw new Error(`--client must be node-redis or ioredis, not ${values.client}`);
if (!["on", "off"].includes(values.durability!)) throw new Error(`--durability must be on or off, not ${values.durability}`);
const replicas = Number(values.replicas);
if (faults.has("failover") && !(replicas >= 1)) throw new Error("--faults failover needs --replicas 1 (a replica to promote)");
if (values.durability === "on" && !(replicas >= 1)) throw new Error("--durability on needs --replicas 1 (WAIT needs a replica)");
const durationMs = Number(values.duration) * 1000;

/** mulberry32: a seeded generator, so a failing history can be replayed in shape. */
function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Re-sends logged-out cookies to every process: each must still be refused (a 200 as the session is judged as an acceptance). */
async function recheck(history: History, servers: ServerProcess[], entries: Array<{ cookie: string; handle: string; user: string }>): Promise<void> {
  history.rechecks.logouts += entries.length;
  for (const entry of entries) {
    for (const [index, server] of servers.entries()) {
      history.rechecks.requests++;
      try {
        const response = await fetch(`${server.url}/whoami`, { headers: { cookie: entry.cookie }, signal: AbortSignal.timeout(10_000) });
        const body = (await response.json().catch(() => null)) as { handle?: string; userId?: string | null; arrivedAt?: string } | null;
        if (response.status === 200 && body?.handle === entry.handle && body.userId === entry.user) {
          history.rechecks.accepted++;
          history.accepted(entry.handle, entry.user, BigInt(body.arrivedAt!), index, "after-failover");
        } else if (response.status === 200 || response.status === 401) history.rechecks.refused++;
        else history.rechecks.unavailable++;
      } catch {
        history.rechecks.unavailable++;
      }
    }
  }
}

/** Injects the chosen faults at random moments until `deadline`; returns what it did. */
async function injectFaults(
  store: SoakStore,
  servers: ServerProcess[],
  history: History,
  random: () => number,
  deadline: number,
): Promise<{ done: Record<string, number>; failed: string[]; slotsMoved: number; withoutMasterMs: number[] }> {
  const done: Record<string, number> = { freeze: 0, feed: 0, restart: 0, reshard: 0, failover: 0 };
  const failed: string[] = [];
  let slotsMoved = 0;
  const withoutMasterMs: number[] = [];
  const available = { feed: store.cutFeeds, restart: store.restart, reshard: store.reshard, failover: store.failover } as Record<string, unknown>;
  const kinds = [...faults].filter((kind) => kind === "freeze" || available[kind] !== undefined);
  // In turn from a random first one, so that a short run still injects every kind.
  let turn = Math.floor(random() * kinds.length);
  while (kinds.length > 0 && Date.now() < deadline - 2000) {
    await sleep(1000 + random() * 2000);
    const kind = kinds[turn++ % kinds.length]!;
    try {
      if (kind === "freeze") {
        const server = servers[Math.floor(random() * servers.length)]!;
        server.child.kill("SIGSTOP");
        await sleep(100 + random() * 500);
        server.child.kill("SIGCONT");
      } else if (kind === "feed") {
        await store.cutFeeds!();
      } else if (kind === "restart") {
        await store.restart!();
      } else if (kind === "reshard") {
        slotsMoved += await store.reshard!(random);
      } else {
        // The logouts answered before the kill: re-sent once the replica is promoted.
        const before = [...history.loggedOut];
        withoutMasterMs.push(Math.round(await store.failover!(random, () => recheck(history, servers, before))));
      }
      done[kind]!++;
    } catch (error) {
      failed.push(`${kind}: ${error instanceof Error ? error.message.slice(0, 300) : String(error)}`);
    }
  }
  return { done, failed, slotsMoved, withoutMasterMs };
}

/** After the run, each process must serve again by itself: a login answered 200 and read back, within 30 s. */
async function recovered(servers: ServerProcess[]): Promise<number> {
  const results = await Promise.all(
    servers.map(async (server) => {
      const until = Date.now() + 30_000;
      while (Date.now() < until) {
        try {
          const login = await fetch(`${server.url}/login/recovery-check`, { method: "POST", signal: AbortSignal.timeout(5000) });
          const cookie = login.headers
            .getSetCookie()
            .map((line) => line.split(";")[0]!)
            .find((pair) => !pair.endsWith("="));
          if (login.status === 200 && cookie) {
            const read = await fetch(`${server.url}/whoami`, { headers: { cookie }, signal: AbortSignal.timeout(5000) });
            if (read.status === 200 && ((await read.json()) as { userId?: string }).userId === "recovery-check") return true;
          }
        } catch {
          // not yet
        }
        await sleep(250);
      }
      return false;
    }),
  );
  return results.filter(Boolean).length;
}

const store = await startSoakStore(values.store!, { replicas, client: values.client === "ioredis" ? "ioredis-cluster" : "redis-cluster" });
let servers: ServerProcess[] = [];
try {
  const options = mode === "off" ? {} : { nearCache: { lease: Number(values.lease) }, revocation: mode };
  process.env.LATCHKEY_FRAMEWORK = values.adapter!;
  const durability = values.durability === "on" ? { durability: { replicas: 1, timeout: 300, everyWrite: true } } : {};
  servers = await startFleet(Number(values.processes), store.spec, options, { commandTimeout: 2000, ...durability });
  const seed = Number(values.seed);
  const random = seeded(seed);
  const history = new History();
  const deadline = Date.now() + durationMs;
  const clients = Array.from(
    { length: Number(values.clients) },
    (_, i) =>
      new SoakClient(`soak-user-${i % Number(values.users)}`, {
        servers: servers.map((s) => s.url),
        history,
        random: seeded(seed + i + 1),
        maxWriteDelayMs: 15,
        slowWriteMs: 30,
        nearCache: mode !== "off",
      }),
  );
  const started = performance.now();
  const [injected] = await Promise.all([injectFaults(store, servers, history, random, deadline), ...clients.map((client) => client.run(deadline))]);
  const seconds = (performance.now() - started) / 1000;
  const serving =
    mode === "off"
      ? servers.length
      : (
          await Promise.all(
            servers.map((server) =>
              waitServing(server, 30_000).then(
                () => true,
                () => false,
              ),
            ),
          )
        ).filter(Boolean).length;
  const answering = await recovered(servers);
  // Every logout of the run, once more, now that the cluster is whole: none may have come back.
  if (injected.done.failover! > 0) await recheck(history, servers, [...history.loggedOut]);
  history.judge();
  const summary = {
    store: store.name,
    mode,
    adapter: values.adapter,
    processes: servers.length,
    clients: clients.length,
    seed,
    seconds: Math.round(seconds),
    durability: values.durability,
    faults: injected.done,
    faultsFailed: injected.failed,
    slotsMoved: injected.slotsMoved,
    withoutMasterMs: injected.withoutMasterMs,
    recovered: `${Math.min(serving, answering)}/${servers.length} (near-cache serving ${serving}, login + read ${answering})`,
    ...history.summary(),
  };
  const broken =
    history.lostWrites.length > 0 ||
    history.wrongUser.length > 0 ||
    history.hung > 0 ||
    serving < servers.length ||
    answering < servers.length ||
    (mode !== "bounded" && history.acceptances.length > 0);
  if (values.json) {
    console.log(JSON.stringify({ ...summary, ok: !broken }));
  } else {
    console.log(JSON.stringify(summary, null, 2));
    for (const a of history.acceptances.slice(0, 10))
      console.log(
        `  accepted after ${a.how} by process ${a.revokedBy ?? "?"}${a.slowWrite ? " (slow write in flight)" : ""}: ${a.op} on process ${a.server}, ${a.lateMs.toFixed(3)} ms after it resolved (${a.handle.slice(0, 16)}…)`,
      );
    for (const w of history.lostWrites.slice(0, 10)) console.log(`  lost write: key ${w.key} expected ≥ ${w.expected}, saw ${w.saw} on process ${w.server}`);
    console.log(broken ? "SOAK FAILED: a guarantee was broken" : "soak passed");
  }
  process.exitCode = broken ? 1 : 0;
} finally {
  await Promise.all(servers.map((server) => server.stop()));
  await store.stop();
}
