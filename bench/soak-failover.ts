// npm run soak:failover -- --duration 60 --durability on|off --clients 24
//
// Repeated Redis failovers under load. A primary, a replica and three
// Sentinels (private redis-servers); two app processes (node-redis's
// createSentinel in one, ioredis with `sentinels` in the other), each with a
// near-cache and strict revocation (so a token must be refused everywhere the
// moment its logout answered 200, not within a bound). Many clients run random sessions across both processes: login,
// set a counter, read it back, log out. Every few seconds the replica falls
// behind (frozen, its link cut: the lag a busy replica or a slow network
// causes), the primary is SIGKILLed, the Sentinels promote the replica, and
// the old primary comes back as a replica.
//
// Counted, each from what the clients were told (a 503 promises nothing):
//   accepted-after-logout: a request accepted with a token whose logout had been answered 200;
//   lost writes: a session or counter value answered 200 and later missing
//                (a login that vanished, a counter that went back and was still
//                back after one near-cache lease; caught up by then: a stale read).
// With --durability on (redisStore durability: { replicas: 1, everyWrite: true }), both must be 0.
import { parseArgs } from "node:util";
import { Client, startServer, type ServerProcess } from "../src/testing/client.js";
import { testPrefix } from "../src/testing/redis-server.js";
import { sentinelSpec } from "../src/testing/sentinel-client.js";
import { startSentinelTopology } from "../src/testing/sentinel.js";

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "60" },
    durability: { type: "string", default: "on" },
    clients: { type: "string", default: "24" },
  },
});
const durationMs = Number(values.duration) * 1000;
const durable = values.durability === "on";
const clientCount = Number(values.clients);
if (!(durationMs > 0) || !(clientCount > 0) || !["on", "off"].includes(values.durability!)) {
  throw new TypeError("usage: npm run soak:failover -- --duration <s> --durability on|off --clients <n>");
}

const counts = { operations: 0, ok: 0, unavailable: 0, failovers: 0, lostWrites: 0, staleReads: 0, logoutsChecked: 0 };
/** Logged-out tokens some process accepted again (each counted once however often it was seen). */
const acceptedAfterLogout = new Set<string>();
const problems: string[] = [];
const report = (what: string) => {
  if (problems.length < 20) problems.push(what);
};

const ha = await startSentinelTopology();
const prefix = testPrefix();
const env = (library: "node-redis" | "ioredis") => ({
  LATCHKEY_STORE: sentinelSpec({ library, name: ha.name, sentinels: ha.sentinels, prefix }),
  LATCHKEY_STORE_OPTIONS: JSON.stringify({ commandTimeout: 1000, ...(durable ? { durability: { replicas: 1, timeout: 300, everyWrite: true } } : {}) }),
  LATCHKEY_OPTIONS: JSON.stringify({ nearCache: true, revocation: "strict" }),
});
const servers: ServerProcess[] = await Promise.all([startServer(env("node-redis")), startServer(env("ioredis"))]);
const started = Date.now();
const pick = () => servers[Math.floor(Math.random() * servers.length)]!;

/** Cookies whose logout was answered 200: no process may ever accept them again. */
const loggedOut: string[] = [];

async function call(client: Client, method: "get" | "post", path: string, server = pick()) {
  counts.operations++;
  try {
    const reply = await client[method](`${server.url}${path}`);
    if (reply.status === 200) counts.ok++;
    else counts.unavailable++;
    return reply;
  } catch {
    counts.unavailable++;
    return { status: 0, body: null };
  }
}

/** Checks that no process accepts `cookie` (a logged-out token). */
async function assertDead(cookie: string): Promise<void> {
  for (const server of servers) {
    const reply = await call(new Client(cookie), "get", "/whoami", server);
    counts.logoutsChecked++;
    if (reply.status === 200 && reply.body?.userId !== null) {
      if (!acceptedAfterLogout.has(cookie)) report(`process ${server.pid} accepted a logged-out token of ${reply.body.userId}`);
      acceptedAfterLogout.add(cookie);
    }
  }
}

async function checkAll(cookies: string[]): Promise<void> {
  for (let i = 0; i < cookies.length; i += 16) await Promise.all(cookies.slice(i, i + 16).map(assertDead));
}

let running = true;
async function user(index: number): Promise<void> {
  while (running) {
    const tab = new Client();
    const name = `soak${index}`;
    const login = await call(tab, "post", `/login/${name}`);
    if (login.status !== 200) continue;
    let acknowledged = 0; // the last counter value answered 200
    let attempted = 0;
    const steps = 2 + Math.floor(Math.random() * 8);
    for (let step = 0; step < steps && running; step++) {
      if (Math.random() < 0.5) {
        attempted++;
        const set = await call(tab, "post", `/set/n?value=${attempted}`);
        if (set.status === 200) acknowledged = attempted;
      } else {
        const read = await call(tab.fork(), "get", "/whoami");
        if (read.status !== 200) continue;
        if (read.body.userId !== name) {
          counts.lostWrites++;
          report(`a signed-in session of ${name} was gone (read answered ${JSON.stringify(read.body.userId)})`);
          break;
        }
        const n = Number(read.body.data?.n ?? 0);
        if (n < acknowledged) {
          // Bounded mode lets another process's near-cache lag a data change by the feed's propagation
          // delay, and in every case by at most one lease (2 s): lost is what is still missing after that.
          await new Promise((r) => setTimeout(r, 2500));
          const again = await Promise.all(servers.map((server) => call(tab.fork(), "get", "/whoami", server)));
          const values = again.filter((r) => r.status === 200).map((r) => Number(r.body.data?.n ?? 0));
          if (values.some((v) => v < acknowledged)) {
            counts.lostWrites++;
            report(`${name}'s counter went back from ${acknowledged} to ${Math.min(...values)}`);
            acknowledged = Math.min(...values);
          } else {
            counts.staleReads++;
          }
        }
      }
    }
    const cookie = tab.cookie;
    if (!cookie) continue;
    const logout = await call(tab, "post", "/logout");
    if (logout.status === 200) {
      loggedOut.push(cookie);
      await assertDead(cookie);
    }
  }
}

async function failover(): Promise<void> {
  const oldPrimary = await ha.primaryPort();
  const replica = ha.nodes.find((n) => n.port !== oldPrimary)!.port;
  // The replica falls behind: frozen, and its link cut so nothing already sent can catch up.
  ha.pause(replica);
  try {
    await ha.command(oldPrimary, ["CLIENT", "KILL", "TYPE", "replica"]);
    await new Promise((r) => setTimeout(r, 100 + Math.random() * 300));
    await ha.nodes.find((n) => n.port === oldPrimary)!.kill();
  } finally {
    ha.resume(replica);
  }
  const t0 = Date.now();
  await ha.awaitPromotion(oldPrimary, 30_000);
  counts.failovers++;
  const t1 = Date.now();
  await ha.restartAsReplica(oldPrimary);
  // Both processes read through the new primary again before the checks (a token makes the read reach the store).
  const probe = loggedOut.at(-1) ?? null;
  for (const server of servers) {
    for (let i = 0; i < 300 && (await call(new Client(probe), "get", "/whoami", server)).status !== 200; i++) await new Promise((r) => setTimeout(r, 50));
  }
  const t2 = Date.now();
  // The most recent logged-out tokens, through the new primary, in every process (all of them again at the end).
  await checkAll(loggedOut.slice(-200));
  console.log(`  promotion ${t1 - t0} ms, old primary back as a replica and both processes serving ${t2 - t1} ms, checks ${Date.now() - t2} ms`);
}

const users = Array.from({ length: clientCount }, (_, i) => user(i));
try {
  while (Date.now() - started < durationMs - 5000) {
    await new Promise((r) => setTimeout(r, 2000 + Math.random() * 3000));
    if (Date.now() - started >= durationMs - 5000) break;
    await failover();
    console.log(`  ${Math.round((Date.now() - started) / 1000)} s: failover ${counts.failovers} done; ${counts.operations} operations so far`);
  }
} finally {
  running = false;
  await Promise.all(users);
  await checkAll(loggedOut);
  await Promise.all(servers.map((s) => s.stop()));
  await ha.stop();
}

console.log(`
Command: npm run soak:failover -- --duration ${values.duration} --durability ${values.durability} --clients ${clientCount}
durability: ${durable ? "{ replicas: 1, timeout: 300, everyWrite: true }" : "off"}; 2 processes (node-redis Sentinel, ioredis sentinels), near-cache on, revocation: "strict"
elapsed: ${((Date.now() - started) / 1000).toFixed(1)} s
operations: ${counts.operations} (200: ${counts.ok}, 503 or no answer: ${counts.unavailable})
failovers: ${counts.failovers}
logged-out tokens checked: ${counts.logoutsChecked} (${loggedOut.length} logouts answered 200)
accepted-after-logout: ${acceptedAfterLogout.size} tokens
lost writes: ${counts.lostWrites}
stale reads (a data change not yet seen by the other process's near-cache, caught up within the lease): ${counts.staleReads}${problems.length ? `\nfirst problems:\n  ${problems.join("\n  ")}` : ""}`);
if (durable && (acceptedAfterLogout.size > 0 || counts.lostWrites > 0)) process.exitCode = 1;
