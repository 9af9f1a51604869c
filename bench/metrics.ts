// npm run bench:metrics — the authenticated read path with and without metrics, in one process,
// in interleaved rounds (so machine load hits every variant alike), reported as ratios to "off":
//   off          no metrics option
//   otel-no-sdk  metrics: otelMetrics() with no SDK registered (it returns undefined)
//   otel-sdk     metrics: otelMetrics() with an SDK MeterProvider registered
// Two read paths: a near-cache hit (redisStore + nearCache, loadCached) and a store read
// (sqliteStore, load → one SELECT, timed when metrics are on).
//   npm run bench:metrics -- --rounds 7 --reads 200000
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { metrics } from "@opentelemetry/api";
import { AggregationTemporality, InMemoryMetricExporter, MeterProvider, PeriodicExportingMetricReader } from "@opentelemetry/sdk-metrics";
import { createSessions, type Sessions } from "../dist/core/index.js";
import { otelMetrics } from "../dist/otel/index.js";
import { redisStore } from "../dist/stores/redis/index.js";
import { sqliteStore } from "../dist/stores/sqlite/index.js";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "7" }, reads: { type: "string", default: "200000" } } });
const rounds = Number(values.rounds);
const reads = Number(values.reads);
const redisUrl = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";
const prefix = `latchkey-bench-metrics:${process.pid}:`;
const work = mkdtempSync(join(tmpdir(), "latchkey-bench-metrics-"));

const noSdk = otelMetrics();
if (noSdk !== undefined) throw new Error("expected no SDK registered yet");
const provider = new MeterProvider({
  readers: [new PeriodicExportingMetricReader({ exporter: new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE), exportIntervalMillis: 10_000 })],
});
metrics.setGlobalMeterProvider(provider);
const withSdk = otelMetrics();
if (withSdk === undefined) throw new Error("expected the SDK to be registered");
const variants = { off: undefined, "otel-no-sdk": noSdk, "otel-sdk": withSdk } as const;

interface Internal {
  cookieInstruction(): { action: "set"; token: string } | { action: "clear" | "none" };
  loadCached(cookieValues: string[]): unknown;
}

interface Case {
  name: string;
  sessions: Sessions;
  token: string;
  read: (sessions: Sessions, token: string) => unknown;
  count: number;
}

async function signIn(sessions: Sessions): Promise<string> {
  const session = await sessions.load(undefined);
  await session.login("bench-user");
  // cookieInstruction() and loadCached() are adapter-only (stripped from the published types): reached as an adapter does.
  const cookie = (session as unknown as Internal).cookieInstruction();
  if (cookie.action !== "set") throw new Error("no cookie");
  return cookie.token;
}

const cases: Case[] = [];
for (const [variant, option] of Object.entries(variants)) {
  const metricsOption = option ? { metrics: option } : {};
  // A long lease: the loaded bench machine must not lapse it between yields.
  const cached = createSessions({ store: redisStore({ url: redisUrl, prefix }), nearCache: { lease: 20_000 }, sweepInterval: false, ...metricsOption });
  for (let i = 0; i < 500 && !cached.stats().serving; i++) await new Promise((r) => setTimeout(r, 10));
  const cachedToken = await signIn(cached);
  await cached.load(cachedToken); // fills the cache
  cases.push({
    name: `near-cache hit / ${variant}`,
    sessions: cached,
    token: cachedToken,
    read: (s, t) => (s as unknown as Internal).loadCached([t]),
    count: reads,
  });
  const sqlite = createSessions({ store: sqliteStore({ path: join(work, `${variant}.db`) }), sweepInterval: false, ...metricsOption });
  cases.push({
    name: `store read (SQLite) / ${variant}`,
    sessions: sqlite,
    token: await signIn(sqlite),
    read: (s, t) => s.load(t),
    count: Math.ceil(reads / 10),
  });
}

const samples = new Map<string, number[]>(cases.map((c) => [c.name, []]));
/** Near-cache reads that were not hits (the cache was not serving): they would skew the comparison. */
const misses = new Map<string, number>();
// Round 0 warms the JIT up for every case and is not recorded.
for (let round = -1; round < rounds; round++) {
  const order = cases.map((_, i) => cases[(i + cases.length + round) % cases.length]!);
  for (const c of order) {
    let elapsed = 0;
    // Chunks of 500 reads, yielding between them so the feed and lease timers run (a read path never blocks them).
    for (let done = 0; done < c.count; done += 500) {
      const started = performance.now();
      for (let i = 0; i < Math.min(500, c.count - done); i++) {
        const result = c.read(c.sessions, c.token);
        if (result instanceof Promise) await result;
        else if (result === undefined) misses.set(c.name, (misses.get(c.name) ?? 0) + 1);
      }
      elapsed += performance.now() - started;
      await new Promise((resolve) => setImmediate(resolve));
    }
    if (round >= 0) samples.get(c.name)!.push((elapsed * 1e6) / c.count); // ns per read
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
console.log(`${rounds} interleaved rounds; median ns per read, and the ratio to "off" (1.00 = no cost)`);
for (const path of ["near-cache hit", "store read (SQLite)"]) {
  const off = median(samples.get(`${path} / off`)!);
  for (const variant of Object.keys(variants)) {
    const ns = median(samples.get(`${path} / ${variant}`)!);
    console.log(`  ${`${path} / ${variant}`.padEnd(34)} ${ns.toFixed(0).padStart(7)} ns  × ${(ns / off).toFixed(2)}`);
  }
}
if (misses.size > 0) console.log(`not hits (cache not serving): ${JSON.stringify(Object.fromEntries(misses))}`);
for (const c of cases) await c.sessions.close();
await provider.shutdown();
const cleanup = await import("redis").then(async ({ createClient }) => {
  const client = await createClient({ url: redisUrl }).connect();
  let removed = 0;
  for await (const keys of client.scanIterator({ MATCH: `${prefix}*`, COUNT: 500 })) {
    const batch = Array.isArray(keys) ? keys : [keys];
    if (batch.length) removed += await client.del(batch);
  }
  await client.quit();
  return removed;
});
rmSync(work, { recursive: true, force: true });
console.log(`(removed ${cleanup} bench keys)`);
