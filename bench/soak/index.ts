// npm run soak — randomized histories of many clients against several real
// server processes sharing one real store, with optional faults, judged on
// one clock (CLOCK_MONOTONIC). Reports operations, acceptances of a token
// after its revocation answered (and how late), lost writes and wrong users;
// exits 1 when a guarantee of the chosen mode was broken.
//
//   npm run soak -- --store cluster --mode strict --duration 60
//   npm run soak -- --store redis --mode strict --faults freeze,feed,restart
//   npm run soak -- --store postgres --mode bounded --processes 3 --clients 24
//
// --store     redis | cluster | postgres | sqlite            (default cluster)
// --mode      strict | bounded | off  (near-cache + revocation; off: no near-cache)
// --faults    comma list of freeze (SIGSTOP a server 100-600 ms), feed (cut every
//             feed connection), restart (kill -9 the store / a cluster master, start it again)
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
    json: { type: "boolean", default: false },
  },
});

const mode = values.mode!;
if (!["strict", "bounded", "off"].includes(mode)) throw new Error(`--mode must be strict, bounded or off, not ${mode}`);
const faults = new Set(values.faults!.split(",").filter(Boolean));
for (const fault of faults) if (!["freeze", "feed", "restart"].includes(fault)) throw new Error(`unknown fault ${fault}: use freeze, feed, restart`);
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

/** Injects the chosen faults at random moments until `deadline`; returns what it did. */
async function injectFaults(store: SoakStore, servers: ServerProcess[], random: () => number, deadline: number): Promise<Record<string, number>> {
  const done: Record<string, number> = { freeze: 0, feed: 0, restart: 0 };
  const kinds = [...faults].filter((kind) => (kind === "feed" ? store.cutFeeds : kind === "restart" ? store.restart : true));
  while (kinds.length > 0 && Date.now() < deadline - 2000) {
    await sleep(1000 + random() * 2000);
    const kind = kinds[Math.floor(random() * kinds.length)]!;
    if (kind === "freeze") {
      const server = servers[Math.floor(random() * servers.length)]!;
      server.child.kill("SIGSTOP");
      await sleep(100 + random() * 500);
      server.child.kill("SIGCONT");
    } else if (kind === "feed") {
      await store.cutFeeds!();
    } else {
      await store.restart!();
    }
    done[kind]!++;
  }
  return done;
}

const store = await startSoakStore(values.store!);
let servers: ServerProcess[] = [];
try {
  const options = mode === "off" ? {} : { nearCache: { lease: Number(values.lease) }, revocation: mode };
  process.env.LATCHKEY_FRAMEWORK = values.adapter!;
  servers = await startFleet(Number(values.processes), store.spec, options, { commandTimeout: 2000 });
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
  const [injected] = await Promise.all([injectFaults(store, servers, random, deadline), ...clients.map((client) => client.run(deadline))]);
  const seconds = (performance.now() - started) / 1000;
  if (mode !== "off") await Promise.all(servers.map((server) => waitServing(server, 20_000).catch(() => undefined)));
  history.judge();
  const summary = {
    store: store.name,
    mode,
    adapter: values.adapter,
    processes: servers.length,
    clients: clients.length,
    seed,
    seconds: Math.round(seconds),
    faults: injected,
    ...history.summary(),
  };
  const broken = history.lostWrites.length > 0 || history.wrongUser.length > 0 || (mode !== "bounded" && history.acceptances.length > 0);
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
