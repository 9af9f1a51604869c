// npm run bench — authenticated reads, side by side, in interleaved rounds:
// a no-session baseline, an app with one empty middleware (the floor for any
// session middleware), express-session + connect-redis (the anchor), and
// latchkey on Redis, PostgreSQL and SQLite, and on Redis and PostgreSQL with
// the near-cache (-nc). Prints req/s, ratios, p99 and store commands per
// request, and writes bench/results/latest.md.
//   npm run bench -- --duration 8 --rounds 3 --connections 32 --variants baseline,express-session,latchkey-redis
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import pg from "pg";
import { createClient } from "redis";
import { startPrivateRedis } from "./redis.js";

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "8" },
    rounds: { type: "string", default: "3" },
    connections: { type: "string", default: "32" },
    variants: { type: "string", default: "baseline,empty-middleware,express-session,latchkey-redis,latchkey-redis-nc,latchkey-postgres,latchkey-postgres-nc,latchkey-sqlite" },
  },
});
const duration = Number(values.duration);
const rounds = Number(values.rounds);
const connections = Number(values.connections);
const variants = values.variants!.split(",");
/** The variant without its "+otel" / "+otel-sdk" metrics suffix. */
const baseVariant = (variant: string): string => variant.split("+")[0]!;
const databaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const runId = `${process.pid}_${Date.now()}`;
const work = mkdtempSync(join(tmpdir(), "latchkey-bench-"));

async function startServer(variant: string, redisUrl: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ["bench/server.mjs"], {
    env: {
      ...process.env,
      BENCH_VARIANT: variant,
      BENCH_REDIS_URL: redisUrl,
      BENCH_PREFIX: `bench:${variant}:`,
      BENCH_TABLE: `latchkey_bench_${runId}`,
      BENCH_DATABASE_URL: databaseUrl,
      BENCH_SQLITE: join(work, "bench.db"),
      NODE_ENV: "production",
    },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${variant} server exited with ${code}`)));
    createInterface({ input: child.stdout! }).once("line", resolve);
  });
  return { url: `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`, child };
}

async function login(url: string): Promise<string> {
  const response = await fetch(`${url}/login`, { method: "POST" });
  const cookie = response.headers.getSetCookie().map((c) => c.split(";")[0]).join("; ");
  const check = await fetch(`${url}/page`, { headers: { cookie } });
  if (check.status !== 200) throw new Error(`${url}: authenticated read answered ${check.status}`);
  return cookie;
}

/** The near-cache's counters of a latchkey server (null for the others). */
async function nearCacheStats(url: string): Promise<{ serving: boolean; hits: number; misses: number; bypasses: number } | null> {
  return (await (await fetch(`${url}/__stats`)).json()) as { serving: boolean; hits: number; misses: number; bypasses: number } | null;
}

/** Near-cache servers measure only once their cache serves (feed subscribed, lease held). */
async function untilServing(url: string): Promise<void> {
  for (let i = 0; i < 200; i++) {
    if ((await nearCacheStats(url))?.serving) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${url}: the near-cache did not start serving`);
}

async function redisCalls(redisUrl: string): Promise<number> {
  const client = createClient({ url: redisUrl });
  await client.connect();
  const info = await client.info("commandstats");
  await client.quit();
  let total = 0;
  for (const match of info.matchAll(/^cmdstat_([a-z|]+):calls=(\d+)/gm)) {
    if (!["info", "hello", "client|setinfo", "quit", "select", "auth", "client"].includes(match[1]!)) total += Number(match[2]);
  }
  return total;
}

/** Statements the latchkey PostgreSQL server process sent (counted at its pool). */
async function pgStatements(serverUrl: string): Promise<number> {
  const response = await fetch(`${serverUrl}/__statements`);
  return ((await response.json()) as { statements: number }).statements;
}

interface Sample { rps: number; p99: number; perRequest: number | null; errors: number; hitRate: number | null }

const redis = await startPrivateRedis(work);
const servers = new Map<string, { url: string; child: ChildProcess; cookie: string }>();
try {
  for (const variant of variants) {
    const server = await startServer(variant, redis.url);
    if (baseVariant(variant).endsWith("-nc")) await untilServing(server.url);
    servers.set(variant, { ...server, cookie: await login(server.url) });
  }
  const samples = new Map<string, Sample[]>(variants.map((v) => [v, []]));
  console.log(`${rounds} rounds × ${variants.length} variants × ${duration}s, ${connections} connections, GET /page with a signed-in cookie`);
  for (let round = 0; round < rounds; round++) {
    const order = variants.map((_, i) => variants[(i + round) % variants.length]!);
    for (const variant of order) {
      const server = servers.get(variant)!;
      const counter = variant.includes("postgres") ? () => pgStatements(server.url) : variant.includes("redis") || variant === "express-session" ? () => redisCalls(redis.url) : null;
      const before = counter ? await counter() : 0;
      const cacheBefore = baseVariant(variant).endsWith("-nc") ? await nearCacheStats(server.url) : null;
      const result = await autocannon({ url: `${server.url}/page`, connections, duration, headers: { cookie: server.cookie } });
      const after = counter ? await counter() : 0;
      const cacheAfter = cacheBefore ? await nearCacheStats(server.url) : null;
      const reads = cacheBefore && cacheAfter ? (["hits", "misses", "bypasses"] as const).reduce((n, k) => n + cacheAfter[k] - cacheBefore[k], 0) : 0;
      const ok = result.requests.total - result.non2xx;
      samples.get(variant)!.push({
        rps: result.requests.average,
        p99: result.latency.p99,
        perRequest: counter ? (after - before) / result.requests.total : null,
        errors: result.errors + result.non2xx + result.timeouts,
        hitRate: cacheBefore && cacheAfter && reads > 0 ? (cacheAfter.hits - cacheBefore.hits) / reads : null,
      });
      console.log(`  round ${round + 1} ${variant.padEnd(18)} ${result.requests.average.toFixed(0).padStart(7)} req/s  p99 ${result.latency.p99} ms  ok ${ok}  errors ${result.errors + result.non2xx}`);
    }
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const rps = new Map(variants.map((v) => [v, median(samples.get(v)!.map((s) => s.rps))]));
  const base = rps.get("baseline");
  const anchor = rps.get("express-session");
  const lines = [
    `| variant | req/s (median) | × baseline | × express-session | p99 ms | store commands / request | near-cache hit rate | errors |`,
    `|---|---:|---:|---:|---:|---:|---:|---:|`,
    ...variants.map((v) => {
      const s = samples.get(v)!;
      const per = s[0]!.perRequest === null ? "—" : median(s.map((x) => x.perRequest!)).toFixed(2);
      const hitRate = s[0]!.hitRate === null ? "—" : median(s.map((x) => x.hitRate!)).toFixed(4);
      return `| ${v} | ${rps.get(v)!.toFixed(0)} | ${base ? (rps.get(v)! / base).toFixed(2) : "—"} | ${anchor ? (rps.get(v)! / anchor).toFixed(2) : "—"} | ${median(s.map((x) => x.p99))} | ${per} | ${hitRate} | ${s.reduce((n, x) => n + x.errors, 0)} |`;
    }),
  ];
  const report = [
    `Command: npm run bench -- --duration ${duration} --rounds ${rounds} --connections ${connections}`,
    `Date: ${new Date().toISOString()}; Node ${process.version}; ${rounds} interleaved rounds; PostgreSQL counts are statements sent per request; -nc: with nearCache (its lease renewals and pings included in the counts).`,
    "",
    ...lines,
  ].join("\n");
  console.log(`\n${report}`);
  mkdirSync("bench/results", { recursive: true });
  writeFileSync("bench/results/latest.md", `${report}\n`);
} finally {
  for (const server of servers.values()) server.child.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 300));
  redis.stop();
  if (variants.some((v) => v.startsWith("latchkey-postgres"))) {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client
      .connect()
      .then(() => client.query(`DROP TABLE IF EXISTS latchkey_bench_${runId}, latchkey_bench_${runId}_leases`))
      .finally(() => client.end())
      .catch(() => undefined);
  }
  rmSync(work, { recursive: true, force: true });
}
