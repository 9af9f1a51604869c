// npm run bench:revoke — how long a revocation takes, and how fast it
// reaches the other processes' near-caches. For Redis (a private
// redis-server), a Redis Cluster (3 private masters) and PostgreSQL (a fresh table), with 2 and 4 server processes
// sharing the store, each with nearCache:
//   strict:  logout latency inside the revoking process (write + every
//            process's acknowledgement), p50/p99/max;
//   bounded: logout latency (the write only), and the propagation delay of
//            notices into the other processes (their stats().propagationMs).
// Before each logout the session is read through every process, so every
// cache holds it. Writes bench/results/revoke.md.
// Store "redis-replica": a private primary with one replica, logouts measured
// without and with durability: { replicas: 1 } (each logout then waits for
// the replica's WAIT acknowledgement).
//   npm run bench:revoke -- --revokes 300 --processes 2,4 --stores redis,cluster,postgres,redis-replica
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import pg from "pg";
import { startCluster } from "../src/testing/redis-cluster.js";
import { startPrivateRedis } from "./redis.js";

const { values } = parseArgs({
  options: {
    revokes: { type: "string", default: "300" },
    processes: { type: "string", default: "2,4" },
    stores: { type: "string", default: "redis,cluster,postgres,redis-replica" },
  },
});
const revokes = Number(values.revokes);
const processCounts = values.processes!.split(",").map(Number);
const stores = values.stores!.split(",");
const databaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const runId = `${process.pid}_${Date.now() % 1e8}`;
const work = mkdtempSync(join(tmpdir(), "latchkey-bench-revoke-"));
const tables: string[] = [];

async function startServer(env: Record<string, string>): Promise<{ url: string; child: ChildProcess }> {
  const child = spawn(process.execPath, ["bench/server.mjs"], {
    env: { ...process.env, ...env, NODE_ENV: "production" },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const line = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`server exited with ${code}`)));
    createInterface({ input: child.stdout! }).once("line", resolve);
  });
  return { url: `http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`, child };
}

const json = async (response: Response) => (await response.json()) as any;

async function untilServing(url: string): Promise<void> {
  for (let i = 0; i < 400; i++) {
    if ((await json(await fetch(`${url}/__stats`)))?.serving) return;
    await new Promise((r) => setTimeout(r, 25));
  }
  throw new Error(`${url}: the near-cache did not start serving`);
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const ms = (x: number | null | undefined) => (x === null || x === undefined ? "—" : x.toFixed(2));

interface Row {
  durability: string;
  store: string;
  processes: number;
  mode: string;
  p50: number;
  p90: number;
  p99: number;
  max: number;
  propagationP50: number | null;
  propagationP99: number | null;
  waitedOut: number;
  serverCpuMs: number | null;
}

/** CPU seconds the store's server has used so far (Redis: INFO cpu; PostgreSQL: not measured here). */
async function serverCpuSeconds(storeEnv: Record<string, string>): Promise<number | null> {
  if (!storeEnv.BENCH_REDIS_URL || storeEnv.BENCH_REDIS_CLUSTER) return null;
  const { createClient } = await import("redis");
  const client = await createClient({ url: storeEnv.BENCH_REDIS_URL }).connect();
  try {
    const info = await client.info("cpu");
    const field = (name: string) => Number(new RegExp(`${name}:([\\d.]+)`).exec(info)?.[1] ?? NaN);
    return field("used_cpu_user") + field("used_cpu_sys");
  } finally {
    await client.close();
  }
}

async function measure(store: string, storeEnv: Record<string, string>, processes: number, mode: "strict" | "bounded", durability = "—"): Promise<Row> {
  const variant = store === "postgres" ? "latchkey-postgres-nc" : "latchkey-redis-nc";
  const env = { ...storeEnv, BENCH_VARIANT: variant, BENCH_SESSIONS: JSON.stringify({ revocation: mode }), BENCH_PG_POOL_MAX: "3" };
  // Started four at a time: sixteen at once on a busy machine time out connecting to the store.
  const servers: Array<{ url: string; child: ChildProcess }> = [];
  try {
    for (let i = 0; i < processes; i += 4) servers.push(...(await Promise.all(Array.from({ length: Math.min(4, processes - i) }, () => startServer(env)))));
  } catch (error) {
    for (const server of servers) server.child.kill("SIGTERM");
    throw error;
  }
  try {
    await Promise.all(servers.map((s) => untilServing(s.url)));
    const took: number[] = [];
    let cpuBefore: number | null = null;
    for (let i = 0; i < revokes + 20; i++) {
      if (i === 20) cpuBefore = await serverCpuSeconds(storeEnv);
      const login = await fetch(`${servers[0]!.url}/login?user=revoke-${mode}-${processes}-${i}`, { method: "POST" });
      const cookie = login.headers
        .getSetCookie()
        .map((c) => c.split(";")[0])
        .join("; ");
      for (const server of servers) {
        const read = await fetch(`${server.url}/page`, { headers: { cookie } });
        if (read.status !== 200) throw new Error(`warm read answered ${read.status}`);
      }
      const logout = await json(await fetch(`${servers[i % processes]!.url}/logout`, { method: "POST", headers: { cookie } }));
      for (const server of servers) {
        const after = await fetch(`${server.url}/page`, { headers: { cookie } });
        if (mode === "strict" && after.status !== 401) throw new Error(`strict: a process still accepted the token (${after.status})`);
      }
      if (i >= 20) took.push(logout.ms as number); // the first 20 warm the JIT
    }
    const cpuAfter = await serverCpuSeconds(storeEnv);
    const stats = await Promise.all(servers.map(async (s) => json(await fetch(`${s.url}/__stats`))));
    took.sort((a, b) => a - b);
    const propagation = stats.map((s) => s.propagationMs);
    return {
      durability,
      store,
      processes,
      mode,
      p50: quantile(took, 0.5),
      p90: quantile(took, 0.9),
      p99: quantile(took, 0.99),
      max: took[took.length - 1]!,
      propagationP50: propagation.length ? Math.max(...propagation.map((p: any) => p.p50 ?? 0)) : null,
      propagationP99: propagation.length ? Math.max(...propagation.map((p: any) => p.p99 ?? 0)) : null,
      waitedOut: stats.reduce((n, s) => n + s.strictWaitedOut, 0),
      // Per cycle: a login, one read through every process, the logout and its notices/acks.
      serverCpuMs: cpuBefore === null || cpuAfter === null ? null : ((cpuAfter - cpuBefore) * 1000) / revokes,
    };
  } finally {
    for (const server of servers) server.child.kill("SIGTERM");
    await new Promise((r) => setTimeout(r, 200));
  }
}

const redis = stores.some((s) => s.startsWith("redis")) ? await startPrivateRedis(work, true) : null;
let replica: { url: string; stop: () => void } | null = null;
const DURABLE = { replicas: 1, timeout: 250 };
const cluster = stores.includes("cluster") ? await startCluster() : null;
const rows: Row[] = [];
try {
  for (const store of stores) {
    if (store === "redis-replica") {
      // Started only now, so the plain "redis" rows run without a replica. Wait until it is in sync.
      replica = await startPrivateRedis(work, true, redis!.url);
      const { createClient } = await import("redis");
      const primary = await createClient({ url: redis!.url }).connect();
      for (let i = 0; i < 200 && !/connected_slaves:1/.test(await primary.info("replication")); i++) await new Promise((r) => setTimeout(r, 50));
      await primary.close();
      for (const processes of processCounts) {
        for (const mode of ["strict", "bounded"] as const) {
          for (const durable of [false, true]) {
            const storeEnv = {
              BENCH_REDIS_URL: redis!.url,
              BENCH_PREFIX: `revoke:replica:${mode}:${processes}:${durable}:`,
              ...(durable ? { BENCH_REDIS_OPTIONS: JSON.stringify({ durability: DURABLE }) } : {}),
            };
            const row = await measure(store, storeEnv, processes, mode, durable ? `replicas: ${DURABLE.replicas}, timeout: ${DURABLE.timeout}` : "off");
            rows.push(row);
            console.log(
              `  ${store} ${processes} processes ${mode} durability ${row.durability}: logout p50 ${ms(row.p50)} ms, p90 ${ms(row.p90)} ms, p99 ${ms(row.p99)} ms`,
            );
          }
        }
      }
      continue;
    }
    for (const processes of processCounts) {
      for (const mode of ["strict", "bounded"] as const) {
        let storeEnv: Record<string, string>;
        if (store === "redis") {
          storeEnv = { BENCH_REDIS_URL: redis!.url, BENCH_PREFIX: `revoke:${mode}:${processes}:` };
        } else if (store === "cluster") {
          storeEnv = { BENCH_REDIS_URL: cluster!.url, BENCH_REDIS_CLUSTER: "1", BENCH_PREFIX: `revoke:${mode}:${processes}:` };
        } else {
          const table = `lk_bench_rv_${runId}_${mode[0]}${processes}`;
          tables.push(table);
          storeEnv = { BENCH_DATABASE_URL: databaseUrl, BENCH_TABLE: table };
        }
        const row = await measure(store, storeEnv, processes, mode);
        rows.push(row);
        console.log(
          `  ${store} ${processes} processes ${mode}: logout p50 ${ms(row.p50)} ms, p90 ${ms(row.p90)} ms, p99 ${ms(row.p99)} ms; propagation p50 ${ms(row.propagationP50)} p99 ${ms(row.propagationP99)} ms`,
        );
      }
    }
  }
  const report = [
    `Command: npm run bench:revoke -- --revokes ${revokes} --processes ${processCounts.join(",")} --stores ${stores.join(",")}`,
    `Date: ${new Date().toISOString()}; Node ${process.version}; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(
        " ",
      )} on ${cpus().length} CPUs; ${revokes} logouts per row, each after the session was read through every process; loopback. Cluster: 3 masters on this machine; each process subscribes through every master (first copy of each message kept).`,
    "",
    "| store | processes | revocation | durability | logout p50 ms | logout p90 ms | logout p99 ms | logout max ms | propagation p50 ms | propagation p99 ms | leases waited out | Redis CPU ms per cycle |",
    "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ...rows.map(
      (r) =>
        `| ${r.store} | ${r.processes} | ${r.mode} | ${r.durability} | ${ms(r.p50)} | ${ms(r.p90)} | ${ms(r.p99)} | ${ms(r.max)} | ${ms(r.propagationP50)} | ${ms(r.propagationP99)} | ${r.waitedOut} | ${r.serverCpuMs === null ? "—" : r.serverCpuMs.toFixed(3)} |`,
    ),
    "",
    "redis-replica: the same private redis-server, now with one replica (a second redis-server on this machine); durability waits for its WAIT acknowledgement.",
    "Redis CPU per cycle: the private redis-server's used_cpu_user+sys over the measured logouts, divided by their count; a cycle is a login, one read through every process, the logout, its notice to every process and (strict) every process's acknowledgement.",
    "Logout: measured inside the revoking process around `req.session.logout()`. Propagation: publish → receive delay of notices in the other processes (the worst process's p50 and p99).",
  ].join("\n");
  console.log(`\n${report}`);
  mkdirSync("bench/results", { recursive: true });
  writeFileSync("bench/results/revoke.md", `${report}\n`);
} finally {
  replica?.stop();
  redis?.stop();
  await cluster?.stop();
  if (tables.length > 0) {
    const client = new pg.Client({ connectionString: databaseUrl });
    await client
      .connect()
      .then(() => client.query(`DROP TABLE IF EXISTS ${tables.flatMap((t) => [t, `${t}_leases`]).join(", ")}`))
      .finally(() => client.end())
      .catch(() => undefined);
  }
  rmSync(work, { recursive: true, force: true });
}
