// npm run bench — authenticated reads (GET /page with a signed-in cookie), side by side in interleaved
// rounds, on every framework: per framework a no-session baseline, an empty hook/middleware control (the
// floor for any session middleware there), the framework's usual session library on Redis (the anchor:
// express-session or @fastify/session, each + connect-redis), and latchkey on Redis / PostgreSQL / SQLite,
// with the near-cache (-nc) or without. Prints req/s, ratios (per round against the same framework's
// baseline, control and anchor, then the median), p99 and store commands per request, and writes
// bench/results/latest.md.
//   npm run bench -- --only fastify                      one framework (or a list: --only koa,node)
//   npm run bench -- --variants express:baseline,fastify:latchkey-redis-nc --duration 8 --rounds 3
//   npm run bench -- --rate 2000                         every row at 2000 req/s: compare server CPU per request
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import pg from "pg";
import { createClient } from "redis";
import { onServerCpu, pinLoadGenerator } from "./pin.js";
import { startPrivateRedis } from "./redis.js";

/** Per framework: its server, its variants in the default run, the control and the anchor rows. */
const frameworks: Record<string, { server: string; variants: string[]; control?: string; anchor?: string }> = {
  express: {
    server: "bench/server.mjs",
    variants: [
      "baseline",
      "empty-middleware",
      "express-session",
      "latchkey-redis",
      "latchkey-redis-nc",
      "latchkey-postgres",
      "latchkey-postgres-nc",
      "latchkey-sqlite",
    ],
    control: "empty-middleware",
    anchor: "express-session",
  },
  fastify: {
    server: "bench/fastify.mjs",
    variants: ["baseline", "empty-hooks", "fastify-session", "latchkey-redis", "latchkey-redis-nc"],
    control: "empty-hooks",
    anchor: "fastify-session",
  },
  koa: { server: "bench/koa.mjs", variants: ["baseline", "empty-middleware", "latchkey-redis-nc"], control: "empty-middleware" },
  node: { server: "bench/node.mjs", variants: ["baseline", "latchkey-redis-nc"] },
  hono: { server: "bench/hono.mjs", variants: ["baseline", "empty-middleware", "latchkey-redis-nc"], control: "empty-middleware" },
  // latchkey/web's withSession (fetch handlers), served by @hono/node-server.
  web: { server: "bench/web.mjs", variants: ["baseline", "latchkey-redis-nc"] },
};

const { values } = parseArgs({
  options: {
    duration: { type: "string", default: "3" },
    rounds: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    connections: { type: "string", default: "32" },
    only: { type: "string" },
    rate: { type: "string" },
    variants: { type: "string" },
    pin: { type: "boolean", default: false },
  },
});
// --pin: servers on CPU 0, autocannon and the private redis-servers on CPU 1 (bench/pin.ts).
const pin = values.pin;
if (pin) pinLoadGenerator();
const duration = Number(values.duration);
const rounds = Number(values.rounds);
const warmup = Number(values.warmup);
// --rate N: every row at the same N req/s (autocannon's overallRate), so that CPU per request compares
// like with like (at full load a faster server also batches more per event-loop turn); req/s ratios are then ~1.
const rate = values.rate ? Number(values.rate) : undefined;
const connections = Number(values.connections);
const only = values.only?.split(",") ?? Object.keys(frameworks);
for (const name of only) if (!frameworks[name]) throw new Error(`--only ${name}: not one of ${Object.keys(frameworks).join(", ")}`);
// A variant is framework:name; a bare name is an Express one (the variants of earlier runs).
let variants = values.variants
  ? values.variants.split(",").map((v) => (v.includes(":") ? v : `express:${v}`))
  : only.flatMap((f) => frameworks[f]!.variants.map((v) => `${f}:${v}`));
const frameworkOf = (v: string) => v.split(":")[0]!;
const nameOf = (v: string) => v.split(":")[1]!;
// latchkey rows need the framework's adapter in dist/ (built by `npm run bench`).
variants = variants.filter((v) => {
  const f = frameworkOf(v);
  if (!frameworks[f]) throw new Error(`${v}: no framework ${f}`);
  if (nameOf(v).startsWith("latchkey-") && !existsSync(`dist/adapters/${f}/index.js`)) {
    console.warn(`!! skipping ${v}: dist/adapters/${f}/index.js does not exist (no latchkey/${f} adapter in this build)`);
    return false;
  }
  return true;
});
const databaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const runId = `${process.pid}_${Date.now()}`;
const work = mkdtempSync(join(tmpdir(), "latchkey-bench-"));

async function startServer(variant: string, redisUrl: string): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(...onServerCpu(pin, [frameworks[frameworkOf(variant)]!.server]), {
    env: {
      ...process.env,
      BENCH_VARIANT: nameOf(variant),
      BENCH_REDIS_URL: redisUrl,
      BENCH_PREFIX: `bench:${variant}:`,
      BENCH_TABLE: `latchkey_bench_${runId}`,
      BENCH_DATABASE_URL: databaseUrl,
      BENCH_SQLITE: join(work, `${frameworkOf(variant)}.db`),
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
  const cookie = response.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
  const check = await fetch(`${url}/page`, { headers: { cookie } });
  if (check.status !== 200) throw new Error(`${url}: authenticated read answered ${check.status}`);
  return cookie;
}

type CacheStats = { serving: boolean; hits: number; misses: number; bypasses: number } | null;

/** The near-cache's counters of a latchkey server (null for the others). */
async function nearCacheStats(url: string): Promise<CacheStats> {
  return (await (await fetch(`${url}/__stats`)).json()) as CacheStats;
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

interface Sample {
  rps: number;
  p99: number;
  perRequest: number | null;
  errors: number;
  hitRate: number | null;
  cpu: number | null;
}

/** CPU seconds (user + system) a server process has used so far, from /proc (null where there is none). */
function cpuSeconds(pid: number | undefined): number | null {
  try {
    const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100 on Linux)
  } catch {
    return null;
  }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const usesRedis = (v: string) => nameOf(v).includes("redis") || nameOf(v).endsWith("-session");
// One private redis-server per row that uses Redis: the near-cache rows renew leases and ping in the
// background all run long, and a shared server would count that traffic against whichever row runs.
const redises: { url: string; stop: () => void }[] = [];
const servers = new Map<string, { url: string; child: ChildProcess; cookie: string; redisUrl: string }>();
try {
  for (const variant of variants) {
    const redisUrl = usesRedis(variant) ? redises[redises.push(await startPrivateRedis(mkdtempSync(join(work, "redis-")))) - 1]!.url : "";
    const server = await startServer(variant, redisUrl);
    servers.set(variant, { ...server, cookie: "", redisUrl });
    if (variant.split("+")[0]!.endsWith("-nc")) await untilServing(server.url);
    servers.get(variant)!.cookie = await login(server.url);
  }
  // A JIT-cold server would lose its first round: every server answers a short unmeasured load first.
  for (const variant of variants) {
    const server = servers.get(variant)!;
    if (warmup > 0) await autocannon({ url: `${server.url}/page`, connections, duration: warmup, headers: { cookie: server.cookie } });
  }
  const samples = new Map<string, Sample[]>(variants.map((v) => [v, []]));
  console.log(`${rounds} rounds × ${variants.length} variants × ${duration}s, ${connections} connections, GET /page with a signed-in cookie`);
  // Each round rotates the frameworks and, within each, its variants: a framework's rows run back to
  // back, so a ratio compares runs seconds apart, and no row always runs first or last.
  const groups = [...new Set(variants.map(frameworkOf))].map((f) => variants.filter((v) => frameworkOf(v) === f));
  const rotate = <T>(xs: T[], by: number) => xs.map((_, i) => xs[(i + by) % xs.length]!);
  for (let round = 0; round < rounds; round++) {
    for (const group of rotate(groups, round)) {
      for (const variant of rotate(group, round)) {
        const server = servers.get(variant)!;
        const name = nameOf(variant);
        const counter = name.includes("postgres") ? () => pgStatements(server.url) : usesRedis(variant) ? () => redisCalls(server.redisUrl) : null;
        const before = counter ? await counter() : 0;
        const cacheBefore = variant.split("+")[0]!.endsWith("-nc") ? await nearCacheStats(server.url) : null;
        const cpuBefore = cpuSeconds(server.child.pid);
        const result = await autocannon({
          url: `${server.url}/page`,
          connections,
          duration,
          headers: { cookie: server.cookie },
          ...(rate ? { overallRate: rate } : {}),
        });
        const cpuAfter = cpuSeconds(server.child.pid);
        const after = counter ? await counter() : 0;
        const cacheAfter = cacheBefore ? await nearCacheStats(server.url) : null;
        const reads = cacheBefore && cacheAfter ? (["hits", "misses", "bypasses"] as const).reduce((n, k) => n + cacheAfter[k] - cacheBefore[k], 0) : 0;
        const ok = result.requests.total - result.non2xx;
        samples.get(variant)!.push({
          rps: result.requests.average,
          p99: result.latency.p99,
          // Over requests sent: those still in flight when the round stops have read the store too.
          perRequest: counter ? (after - before) / ((result.requests as { sent?: number }).sent ?? result.requests.total) : null,
          errors: result.errors + result.non2xx + result.timeouts,
          hitRate: cacheBefore && cacheAfter && reads > 0 ? (cacheAfter.hits - cacheBefore.hits) / reads : null,
          cpu: cpuBefore !== null && cpuAfter !== null ? ((cpuAfter - cpuBefore) * 1e6) / result.requests.total : null,
        });
        console.log(
          `  round ${round + 1} ${variant.padEnd(28)} ${result.requests.average.toFixed(0).padStart(7)} req/s  p99 ${result.latency.p99} ms  ok ${ok}  errors ${result.errors + result.non2xx}`,
        );
      }
    }
  }
  /** The median over rounds of this row's req/s over another row's of the same round. */
  const ratio = (v: string, other: string | undefined) => {
    const of = other ? samples.get(`${frameworkOf(v)}:${other}`) : undefined;
    if (!of) return null;
    return median(samples.get(v)!.map((s, i) => s.rps / of[i]!.rps));
  };
  /** The same, by server CPU per request (baseline's CPU over this row's): what load on the machine disturbs least. */
  const cpuRatio = (v: string, other: string | undefined) => {
    const of = other ? samples.get(`${frameworkOf(v)}:${other}`) : undefined;
    if (!of || samples.get(v)![0]!.cpu === null) return null;
    return median(samples.get(v)!.map((s, i) => of[i]!.cpu! / s.cpu!));
  };
  const fmt = (x: number | null) => (x === null ? "—" : x.toFixed(2));
  /** The per-round ratios' range (min–max), beside a median: how far one round can stray on a shared machine. */
  const spread = (v: string, other: string | undefined, byCpu = false) => {
    const of = other ? samples.get(`${frameworkOf(v)}:${other}`) : undefined;
    if (!of || other === nameOf(v) || (byCpu && samples.get(v)![0]!.cpu === null)) return "";
    const xs = samples.get(v)!.map((s, i) => (byCpu ? of[i]!.cpu! / s.cpu! : s.rps / of[i]!.rps));
    return ` (${Math.min(...xs).toFixed(2)}–${Math.max(...xs).toFixed(2)})`;
  };
  const lines = [
    `| framework | variant | req/s (median) | × baseline | × control | × anchor | server CPU µs / request | × baseline by CPU | × control by CPU | p99 ms | store commands / request | near-cache hit rate | errors |`,
    `|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|`,
    ...variants.map((v) => {
      const s = samples.get(v)!;
      const f = frameworks[frameworkOf(v)]!;
      const per = s[0]!.perRequest === null ? "—" : median(s.map((x) => x.perRequest!)).toFixed(2);
      const hitRate = s[0]!.hitRate === null ? "—" : median(s.map((x) => x.hitRate!)).toFixed(4);
      const rps = median(s.map((x) => x.rps)).toFixed(0);
      const cpu = s[0]!.cpu === null ? "—" : median(s.map((x) => x.cpu!)).toFixed(0);
      return `| ${frameworkOf(v)} | ${nameOf(v)} | ${rps} | ${fmt(ratio(v, "baseline"))}${spread(v, "baseline")} | ${fmt(ratio(v, f.control))}${spread(v, f.control)} | ${fmt(ratio(v, f.anchor))} | ${cpu} | ${fmt(cpuRatio(v, "baseline"))}${spread(v, "baseline", true)} | ${fmt(cpuRatio(v, f.control))}${spread(v, f.control, true)} | ${median(s.map((x) => x.p99))} | ${per} | ${hitRate} | ${s.reduce((n, x) => n + x.errors, 0)} |`;
    }),
  ];
  // The targets: with the near-cache ≥ 0.9× the framework's baseline (or ≥ 0.97× its control); on Redis
  // without it ≥ 1.15× the anchor at ≤ 1 command per read.
  const verdicts = variants.flatMap((v) => {
    const f = frameworks[frameworkOf(v)]!;
    if (nameOf(v) === "latchkey-redis-nc") {
      // At a fixed --rate every row serves the same req/s: the target is then judged by server CPU.
      const b = (rate ? cpuRatio : ratio)(v, "baseline")!;
      const c = (rate ? cpuRatio : ratio)(v, f.control);
      const met = b >= 0.9 || (c !== null && c >= 0.97);
      const byCpu = `; by server CPU ${fmt(cpuRatio(v, "baseline"))}× baseline${c === null ? "" : `, ${fmt(cpuRatio(v, f.control))}× control`}`;
      return [
        `- ${v}: ${fmt(b)}× baseline${c === null ? "" : `, ${fmt(c)}× control`}${rate ? " by server CPU (fixed rate)" : byCpu} — target ≥ 0.9× baseline or ≥ 0.97× control: ${met ? "met" : "MISSED"}`,
      ];
    }
    if (nameOf(v) === "latchkey-redis" && f.anchor && samples.has(`${frameworkOf(v)}:${f.anchor}`)) {
      const a = (rate ? cpuRatio : ratio)(v, f.anchor)!;
      const per = median(samples.get(v)!.map((x) => x.perRequest!));
      const met = a >= 1.15 && per <= 1.005;
      return [
        `- ${v}: ${fmt(a)}× ${f.anchor} (by server CPU ${fmt(cpuRatio(v, f.anchor))}×) at ${per.toFixed(2)} Redis commands per read — target ≥ 1.15× at ≤ 1: ${met ? "met" : "MISSED"}`,
      ];
    }
    return [];
  });
  const command = `npm run bench -- --duration ${duration} --rounds ${rounds} --connections ${connections}${values.only ? ` --only ${values.only}` : ""}${rate ? ` --rate ${rate}` : ""}${values.variants ? ` --variants ${values.variants}` : ""}${pin ? " --pin" : ""}`;
  const report = [
    `Command: ${command}`,
    `Date: ${new Date().toISOString()}; Node ${process.version}; load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}; ${pin ? "servers pinned to CPU 0, autocannon and Redis to CPU 1; " : ""}${rounds} interleaved rounds; ratios are medians (min–max) of per-round ratios against the same framework's rows, by req/s and by the server process's CPU time per request (from /proc; the one less disturbed by other load on the machine); PostgreSQL counts are statements sent per request; -nc: with nearCache (its lease renewals and pings included in the counts).`,
    "",
    ...lines,
    "",
    ...verdicts,
  ].join("\n");
  console.log(`\n${report}`);
  mkdirSync("bench/results", { recursive: true });
  writeFileSync("bench/results/latest.md", `${report}\n`);
} finally {
  for (const server of servers.values()) server.child.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 300));
  for (const redis of redises) redis.stop();
  if (variants.some((v) => v.includes("latchkey-postgres"))) {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client
      .connect()
      .then(() => client.query(`DROP TABLE IF EXISTS latchkey_bench_${runId}, latchkey_bench_${runId}_leases`))
      .finally(() => client.end())
      .catch(() => undefined);
  }
  rmSync(work, { recursive: true, force: true });
}
