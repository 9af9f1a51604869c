// npm run bench:cpu — the server's CPU time per authenticated read, side by side, in interleaved rounds:
// per framework a no-session baseline, latchkey on Redis, and latchkey with the near-cache (-nc). CPU per
// request (user + system time of the server process, from /proc, over the requests it answered) is what
// other load on a shared machine disturbs least; req/s is printed beside it. Each ratio is taken per round
// against the same framework's baseline (seconds apart), then the median and the range over rounds.
//   npm run bench:cpu -- --only koa                     one framework (about 35 s; all six: about 3.5 min)
//   npm run bench:cpu -- --only koa,hono --rounds 7     some frameworks
//   npm run bench:cpu -- --rate 0                       every row at full load (default: 1000 req/s each, like for like)
//   npm run bench:cpu -- --variants baseline,latchkey-redis-nc
//   npm run bench:cpu -- --inject 20000              in-process: each server answers 20000 requests through its own
//                                                    request listener (light-my-request, no sockets, no client): the
//                                                    server's JavaScript alone, the figure load disturbs least
//   npm run bench:cpu -- --pin                       servers on CPU 0, the load generator (and Redis) on CPU 1: the two no longer
//                                                    take turns on one core, which moves a row's figures more than latchkey does
//   npm run bench:cpu -- --against ../before         also the latchkey rows of another checkout (its bench/ and a
//                                                    built dist/), interleaved with these: before/after in one run
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import autocannon from "autocannon";
import { onServerCpu, pinLoadGenerator } from "./pin.js";
import { startPrivateRedis } from "./redis.js";

const servers: Record<string, string> = {
  express: "bench/server.mjs",
  fastify: "bench/fastify.mjs",
  koa: "bench/koa.mjs",
  node: "bench/node.mjs",
  hono: "bench/hono.mjs",
  web: "bench/web.mjs",
};

const { values } = parseArgs({
  options: {
    only: { type: "string" },
    variants: { type: "string", default: "baseline,latchkey-redis,latchkey-redis-nc" },
    duration: { type: "string", default: "2" },
    rounds: { type: "string", default: "5" },
    warmup: { type: "string", default: "1" },
    connections: { type: "string", default: "32" },
    rate: { type: "string", default: "1000" },
    against: { type: "string" },
    inject: { type: "string" },
    pin: { type: "boolean", default: false },
  },
});
const only = values.only?.split(",") ?? Object.keys(servers);
for (const name of only) if (!servers[name]) throw new Error(`--only ${name}: not one of ${Object.keys(servers).join(", ")}`);
const variants = values.variants.split(",");
if (variants[0] !== "baseline") throw new Error("--variants must start with baseline (every ratio is against it)");
const duration = Number(values.duration);
const rounds = Number(values.rounds);
const warmup = Number(values.warmup);
const connections = Number(values.connections);
// A fixed rate by default: at full load a server's CPU per request depends on how many requests each event-loop
// turn finds waiting (a faster row batches more), and on a loaded machine on how often it runs at all. --rate 0: full load.
const rate = Number(values.rate) === 0 ? undefined : Number(values.rate);
for (const [name, value] of Object.entries({ duration, rounds, warmup, connections, ...(rate === undefined ? {} : { rate }) })) {
  if (!Number.isFinite(value) || value < 0 || (name !== "warmup" && value === 0)) throw new Error(`--${name} must be a positive number`);
}

const against = values.against;
const inject = values.inject === undefined ? undefined : Number(values.inject);
if (inject !== undefined && !(Number.isInteger(inject) && inject > 0)) throw new Error("--inject must be a number of requests per round, e.g. 20000");
if (against !== undefined && !existsSync(join(against, "dist/core/index.js")))
  throw new Error(`--against ${against}: no built dist/ there (run npm run build in it)`);

const perFramework = (duration * rounds + warmup) * (variants.length + (against === undefined ? 0 : variants.length - 1));
if (perFramework * only.length > 60)
  console.warn(`!! about ${Math.round(perFramework * only.length)} s of load: on a shared machine run one framework at a time (--only koa)`);

const pin = values.pin;
if (pin) pinLoadGenerator();

const work = mkdtempSync(join(tmpdir(), "latchkey-bench-cpu-"));

/**
 * CPU seconds a process has used so far, every thread: from /proc/PID/task/TID/schedstat (nanoseconds),
 * else /proc/PID/stat (utime + stime, in 10 ms ticks: too coarse for short rounds at a fixed rate).
 */
function cpuSeconds(pid: number): number {
  try {
    let ns = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      try {
        ns += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, "utf8").split(" ")[0]);
      } catch {
        // a thread that just ended
      }
    }
    if (ns > 0) return ns / 1e9;
  } catch {
    // no schedstat (kernel without CONFIG_SCHEDSTATS)
  }
  const fields = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
  return (Number(fields[11]) + Number(fields[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100 on Linux)
}

interface Row {
  framework: string;
  variant: string;
  /** The row's name in the table: the variant, with "@against" for the other checkout's. */
  label: string;
  url: string;
  child: ChildProcess;
  cookie: string;
  samples: { cpu: number; rps: number; hits: number | null }[];
}

async function start(framework: string, variant: string, redisUrl: string, tree?: string): Promise<Row> {
  const label = tree === undefined ? variant : `${variant}@against`;
  const script = tree === undefined ? servers[framework]! : join(tree, servers[framework]!);
  const child = spawn(...onServerCpu(pin, [script]), {
    env: { ...process.env, BENCH_VARIANT: variant, BENCH_REDIS_URL: redisUrl, BENCH_PREFIX: `bench-cpu:${framework}:${label}:`, NODE_ENV: "production" },
    stdio: ["ignore", "pipe", "inherit", "ipc"],
  });
  const line = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`${framework}:${variant} server exited with ${code}`)));
    createInterface({ input: child.stdout! }).once("line", resolve);
  });
  const url = `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`;
  if (variant.endsWith("-nc")) {
    for (let i = 0; !(await stats(url))?.serving; i++) {
      if (i > 200) throw new Error(`${framework}:${variant}: the near-cache did not start serving`);
      await new Promise((r) => setTimeout(r, 25));
    }
  }
  const response = await fetch(`${url}/login`, { method: "POST" });
  const cookie = response.headers
    .getSetCookie()
    .map((c) => c.split(";")[0])
    .join("; ");
  const check = await fetch(`${url}/page`, { headers: { cookie } });
  if (check.status !== 200) throw new Error(`${framework}:${variant}: the authenticated read answered ${check.status}`);
  return { framework, variant, label, url, child, cookie, samples: [] };
}

async function stats(url: string): Promise<{ serving: boolean; hits: number; misses: number; bypasses: number } | null> {
  return (await (await fetch(`${url}/__stats`)).json()) as { serving: boolean; hits: number; misses: number; bypasses: number } | null;
}

/** One round of --inject: the server drives itself and reports its CPU µs per request. */
async function measureInjected(row: Row): Promise<void> {
  const before = row.variant.endsWith("-nc") ? await stats(row.url) : null;
  const reply = new Promise<{ cpu: number; seconds: number; failures: number }>((resolve) => row.child.once("message", resolve as (m: unknown) => void));
  row.child.send({ cookie: row.cookie, requests: inject, concurrency: connections });
  const result = await reply;
  if (result.failures > 0) throw new Error(`${row.framework}:${row.label}: ${result.failures} requests did not answer 200`);
  const after = before ? await stats(row.url) : null;
  const reads = before && after ? after.hits + after.misses + after.bypasses - (before.hits + before.misses + before.bypasses) : 0;
  row.samples.push({ cpu: result.cpu, rps: inject! / result.seconds, hits: before && after && reads > 0 ? (after.hits - before.hits) / reads : null });
  console.log(
    `  ${`${row.framework}:${row.label}`.padEnd(36)} ${result.cpu.toFixed(1).padStart(6)} µs/request  ${(inject! / result.seconds).toFixed(0).padStart(6)} req/s (in-process)`,
  );
}

async function measure(row: Row): Promise<void> {
  if (inject !== undefined) return measureInjected(row);
  const before = row.variant.endsWith("-nc") ? await stats(row.url) : null;
  const cpuBefore = cpuSeconds(row.child.pid!);
  const result = await autocannon({ url: `${row.url}/page`, connections, duration, headers: { cookie: row.cookie }, ...(rate ? { overallRate: rate } : {}) });
  const cpuAfter = cpuSeconds(row.child.pid!);
  const after = before ? await stats(row.url) : null;
  if (result.non2xx > 0 || result.errors > 0) throw new Error(`${row.framework}:${row.label}: ${result.non2xx} non-2xx answers, ${result.errors} errors`);
  const reads = before && after ? after.hits + after.misses + after.bypasses - (before.hits + before.misses + before.bypasses) : 0;
  row.samples.push({
    cpu: ((cpuAfter - cpuBefore) * 1e6) / result.requests.total,
    rps: result.requests.average,
    hits: before && after && reads > 0 ? (after.hits - before.hits) / reads : null,
  });
  console.log(
    `  ${`${row.framework}:${row.label}`.padEnd(36)} ${row.samples.at(-1)!.cpu.toFixed(1).padStart(6)} µs/request  ${result.requests.average.toFixed(0).padStart(6)} req/s`,
  );
}

const median = (xs: number[]) => {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length / 2;
  return sorted.length % 2 ? sorted[Math.floor(mid)]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
};
const summary = (xs: number[], digits: number) => `${median(xs).toFixed(digits)} (${Math.min(...xs).toFixed(digits)}–${Math.max(...xs).toFixed(digits)})`;

const redis = await startPrivateRedis(mkdtempSync(join(work, "redis-")));
const rows: Row[] = [];
// Interrupted (Ctrl-C, a timeout): leave no server or redis-server behind.
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    for (const row of rows) row.child.kill("SIGKILL");
    redis.stop();
    rmSync(work, { recursive: true, force: true });
    process.exit(130);
  });
}
try {
  for (const framework of only) {
    for (const variant of variants) rows.push(await start(framework, variant, redis.url));
    if (against !== undefined) for (const variant of variants.slice(1)) rows.push(await start(framework, variant, redis.url, against));
  }
  // A JIT-cold server would lose its first round.
  if (warmup > 0) for (const row of rows) await autocannon({ url: `${row.url}/page`, connections, duration: warmup, headers: { cookie: row.cookie } });
  console.log(
    `${rounds} rounds × ${rows.length} rows × ${duration} s, ${connections} connections${rate ? `, ${rate} req/s` : ""}, GET /page with a signed-in cookie`,
  );
  const groups = only.map((f) => rows.filter((r) => r.framework === f));
  const rotate = <T>(xs: T[], by: number) => xs.map((_, i) => xs[(i + by) % xs.length]!);
  for (let round = 0; round < rounds; round++) {
    console.log(`round ${round + 1}`);
    // A framework's rows run back to back (a ratio compares runs seconds apart), none always first.
    for (const group of rotate(groups, round)) for (const row of rotate(group, round)) await measure(row);
  }
  const lines = [
    "| framework | variant | server CPU µs / request | × baseline by CPU | req/s | × baseline by req/s | near-cache hit rate |",
    "|---|---|---:|---:|---:|---:|---:|",
  ];
  for (const group of groups) {
    const base = group[0]!;
    for (const row of group) {
      const byCpu = row.samples.map((s, i) => base.samples[i]!.cpu / s.cpu);
      const byRps = row.samples.map((s, i) => s.rps / base.samples[i]!.rps);
      const hits = row.samples[0]!.hits === null ? "—" : Math.min(...row.samples.map((s) => s.hits!)).toFixed(4);
      lines.push(
        `| ${row.framework} | ${row.label} | ${summary(
          row.samples.map((s) => s.cpu),
          1,
        )} | ${summary(byCpu, 2)} | ${summary(
          row.samples.map((s) => s.rps),
          0,
        )} | ${summary(byRps, 2)} | ${hits} |`,
      );
    }
  }
  const command = `npm run bench:cpu -- --rounds ${rounds} --duration ${duration} --connections ${connections}${values.only ? ` --only ${values.only}` : ""}${values.variants !== "baseline,latchkey-redis,latchkey-redis-nc" ? ` --variants ${values.variants}` : ""}${rate ? ` --rate ${rate}` : ""}${against ? ` --against ${against}` : ""}${inject ? ` --inject ${inject}` : ""}${pin ? " --pin" : ""}`;
  const report = [
    `Command: ${command}`,
    `Date: ${new Date().toISOString()}; Node ${process.version}; load average ${readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ")}; ${pin ? "servers pinned to CPU 0, the load generator and Redis to CPU 1; " : ""}${inject ? `in-process (light-my-request, ${inject} requests per round, ${connections} at a time: the server's JavaScript alone, no sockets); ` : ""}median (min–max) over ${rounds} interleaved rounds; ratios per round against the same framework's baseline (by CPU: baseline's µs over this row's, so higher is better, as for req/s); -nc: with nearCache${against ? `; @against: the same variant from ${against}` : ""}.`,
    "",
    ...lines,
  ].join("\n");
  console.log(`\n${report}`);
  mkdirSync("bench/results", { recursive: true });
  writeFileSync("bench/results/cpu.md", `${report}\n`);
} finally {
  for (const row of rows) row.child.kill("SIGTERM");
  await new Promise((r) => setTimeout(r, 300));
  redis.stop();
  rmSync(work, { recursive: true, force: true });
}
