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
// Many processes: --processes 2,4,8,16 --modes strict (or bounded) splits a long run; --pg-pool sizes each
// process's PostgreSQL pool (each also holds one LISTEN connection: the run is refused up front when
// processes × (pool + 1) does not fit in max_connections). Each logout's CPU time in the store's server
// and in all the app processes is read from /proc (see revoke-probe.ts).
import { spawn, type ChildProcess } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import pg from "pg";
import { startCluster } from "../src/testing/redis-cluster.js";
import { startPrivateRedis } from "./redis.js";
import { checkConnectionBudget, cpuMsBetween, cpuSnapshot, PostgresBackends } from "./revoke-probe.js";

const { values } = parseArgs({
  options: {
    revokes: { type: "string", default: "300" },
    processes: { type: "string", default: "2,4" },
    stores: { type: "string", default: "redis,cluster,postgres,redis-replica" },
    modes: { type: "string", default: "strict,bounded" },
    "pg-pool": { type: "string", default: "3" },
  },
});
const revokes = Number(values.revokes);
const processCounts = values.processes!.split(",").map(Number);
const stores = values.stores!.split(",");
const modes = values.modes!.split(",") as Array<"strict" | "bounded">;
const pgPool = Number(values["pg-pool"]);
if (modes.some((m) => m !== "strict" && m !== "bounded")) throw new Error(`--modes: strict and/or bounded (got ${values.modes})`);
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

/** Up to 30 s: sixteen processes on a loaded 2-CPU machine can take more than 10 s to get their first lease. */
async function untilServing(url: string): Promise<void> {
  for (let i = 0; i < 1200; i++) {
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
  /** Per logout, median: the store server's CPU, and every app process's together (idle rate subtracted). */
  serverCpuPerLogout: number | null;
  appCpuPerLogout: number | null;
  /** Bounded: logouts whose notice had not reached every process 50 ms after the logout answered. */
  late: number;
  /** PostgreSQL backends the row held (pool + LISTEN), or null. */
  connections: string | null;
  /** The store server's CPU with no logouts going on (leases renewed, pings), in ms per second. */
  serverIdle: number | null;
  seconds: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const median = (xs: number[]) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]! : null);
/** How long a bounded logout's notice may take to reach every process before the CPU window closes. */
const SETTLE_MS = 50;

async function measure(store: string, storeEnv: Record<string, string>, processes: number, mode: "strict" | "bounded", durability = "—"): Promise<Row> {
  const rowStarted = performance.now();
  const variant = store === "postgres" ? "latchkey-postgres-nc" : "latchkey-redis-nc";
  const env = { ...storeEnv, BENCH_VARIANT: variant, BENCH_SESSIONS: JSON.stringify({ revocation: mode }), BENCH_PG_POOL_MAX: String(pgPool) };
  if (store === "postgres") await checkConnectionBudget(databaseUrl, processes, pgPool);
  // Started four at a time: sixteen at once on a busy machine time out connecting to the store.
  const servers: Array<{ url: string; child: ChildProcess }> = [];
  try {
    // A process that fails to start (its store connection timed out under load) is retried once.
    const start = () => startServer(env).catch(() => startServer(env));
    for (let i = 0; i < processes; i += 4) servers.push(...(await Promise.all(Array.from({ length: Math.min(4, processes - i) }, start))));
  } catch (error) {
    for (const server of servers) server.child.kill("SIGTERM");
    throw error;
  }
  const backends = store === "postgres" ? new PostgresBackends(databaseUrl, storeEnv.BENCH_PG_APP!, storeEnv.BENCH_TABLE!) : null;
  const appPids = servers.map((s) => s.child.pid!);
  // The store's server processes: the private redis-server; on PostgreSQL the row's own backends (its pools and LISTENs).
  const serverPids = async (): Promise<number[]> => {
    if (backends) return Object.values(await backends.pids()).flat();
    return storeEnv.BENCH_REDIS_PID ? [Number(storeEnv.BENCH_REDIS_PID)] : [];
  };
  const invalidations = async () => Promise.all(servers.map(async (s) => (await json(await fetch(`${s.url}/__stats`))).invalidations as number));
  try {
    await Promise.all(servers.map((s) => untilServing(s.url)));
    const took: number[] = [];
    const serverCpu: number[] = [];
    const appCpu: number[] = [];
    let late = 0;
    let connections: string | null = null;
    let cycleStart: { pids: Map<number, number>; at: number } | null = null;
    // CPU per ms that leases and pings cost with nothing else going on, subtracted from each logout's window.
    let idle = { server: 0, app: 0 };
    for (let i = 0; i < revokes + 20; i++) {
      if (i === 20) {
        const [s0, a0, t0] = [cpuSnapshot(await serverPids()), cpuSnapshot(appPids), performance.now()];
        await sleep(1000);
        const t1 = performance.now();
        idle = { server: cpuMsBetween(s0, cpuSnapshot([...s0.keys()])) / (t1 - t0), app: cpuMsBetween(a0, cpuSnapshot(appPids)) / (t1 - t0) };
        if (backends)
          connections = Object.values(await backends.pids())
            .map((p) => p.length)
            .join(" + ");
        cycleStart = { pids: cpuSnapshot(await serverPids()), at: i };
      }
      const login = await fetch(`${servers[0]!.url}/login?user=revoke-${mode}-${processes}-${i}`, { method: "POST" });
      const cookie = login.headers
        .getSetCookie()
        .map((c) => c.split(";")[0])
        .join("; ");
      for (const server of servers) {
        const read = await fetch(`${server.url}/page`, { headers: { cookie } });
        if (read.status !== 200) throw new Error(`warm read answered ${read.status}`);
      }
      const before = await invalidations();
      const pids = await serverPids();
      const [s0, a0, t0] = [cpuSnapshot(pids), cpuSnapshot(appPids), performance.now()];
      const logout = await json(await fetch(`${servers[i % processes]!.url}/logout`, { method: "POST", headers: { cookie } }));
      // Strict: answered means every process applied it and acknowledged. Bounded: give the notice time to arrive.
      if (mode === "bounded") await sleep(SETTLE_MS);
      const [s1, a1, t1] = [cpuSnapshot(pids), cpuSnapshot(appPids), performance.now()];
      const after = await invalidations();
      if (after.some((n, k) => n <= before[k]!)) {
        if (mode === "strict") throw new Error("strict: a logout answered before every process applied its notice");
        late++;
        for (let wait = 0; wait < 100 && (await invalidations()).some((n, k) => n <= before[k]!); wait++) await sleep(20);
      }
      for (const server of servers) {
        const read = await fetch(`${server.url}/page`, { headers: { cookie } });
        if (mode === "strict" && read.status !== 401) throw new Error(`strict: a process still accepted the token (${read.status})`);
      }
      if (i >= 20) {
        // the first 20 warm the JIT
        took.push(logout.ms as number);
        if (pids.length > 0) serverCpu.push(cpuMsBetween(s0, s1) - idle.server * (t1 - t0));
        appCpu.push(cpuMsBetween(a0, a1) - idle.app * (t1 - t0));
      }
    }
    const cycleEnd = cycleStart ? cpuSnapshot([...cycleStart.pids.keys()]) : null;
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
      // Per cycle: a login, one read through every process, the logout and its notices/acks, and the reads after it.
      serverCpuMs: cycleStart && cycleEnd && cycleStart.pids.size > 0 ? cpuMsBetween(cycleStart.pids, cycleEnd) / revokes : null,
      serverCpuPerLogout: median(serverCpu),
      appCpuPerLogout: median(appCpu),
      late,
      connections,
      serverIdle: storeEnv.BENCH_REDIS_PID || backends ? idle.server * 1000 : null,
      seconds: (performance.now() - rowStarted) / 1000,
    };
  } finally {
    for (const server of servers) server.child.kill("SIGTERM");
    await backends?.close();
    await sleep(200);
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
        for (const mode of modes) {
          for (const durable of [false, true]) {
            const storeEnv = {
              BENCH_REDIS_URL: redis!.url,
              BENCH_REDIS_PID: String(redis!.pid ?? ""),
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
      for (const mode of modes) {
        let storeEnv: Record<string, string>;
        if (store === "redis") {
          storeEnv = { BENCH_REDIS_URL: redis!.url, BENCH_REDIS_PID: String(redis!.pid ?? ""), BENCH_PREFIX: `revoke:${mode}:${processes}:` };
        } else if (store === "cluster") {
          storeEnv = { BENCH_REDIS_URL: cluster!.url, BENCH_REDIS_CLUSTER: "1", BENCH_PREFIX: `revoke:${mode}:${processes}:` };
        } else {
          const table = `lk_bench_rv_${runId}_${mode[0]}${processes}`;
          tables.push(table);
          storeEnv = { BENCH_DATABASE_URL: databaseUrl, BENCH_TABLE: table, BENCH_PG_APP: `lkbench_${table}` };
        }
        const row = await measure(store, storeEnv, processes, mode);
        rows.push(row);
        console.log(
          `  ${store} ${processes} processes ${mode}: logout p50 ${ms(row.p50)} ms, p90 ${ms(row.p90)} ms, p99 ${ms(row.p99)} ms; propagation p50 ${ms(row.propagationP50)} p99 ${ms(row.propagationP99)} ms; ` +
            `CPU per logout: server ${ms(row.serverCpuPerLogout)} ms, apps ${ms(row.appCpuPerLogout)} ms, server idle ${ms(row.serverIdle)} ms/s; ${row.seconds.toFixed(0)} s; load ${loadavg()[0]!.toFixed(1)}`,
        );
      }
    }
  }
  const report = [
    `Command: npm run bench:revoke -- --revokes ${revokes} --processes ${processCounts.join(",")} --stores ${stores.join(",")} --modes ${modes.join(",")}` +
      (stores.includes("postgres") ? ` --pg-pool ${pgPool}` : ""),
    `Date: ${new Date().toISOString()}; Node ${process.version}; load average ${loadavg()
      .map((l) => l.toFixed(1))
      .join(
        " ",
      )} on ${cpus().length} CPUs; ${revokes} logouts per row, each after the session was read through every process; loopback. Cluster: 3 masters on this machine; each process subscribes through every master (first copy of each message kept).`,
    "",
    "| store | processes | revocation | durability | logout p50 ms | logout p90 ms | logout p99 ms | logout max ms | propagation p50 ms | propagation p99 ms | leases waited out | server CPU ms per logout | app CPU ms per logout | server CPU ms per cycle | server CPU idle ms/s | late notices | PostgreSQL connections | row s |",
    "|---|---:|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|",
    ...rows.map(
      (r) =>
        `| ${r.store} | ${r.processes} | ${r.mode} | ${r.durability} | ${ms(r.p50)} | ${ms(r.p90)} | ${ms(r.p99)} | ${ms(r.max)} | ${ms(r.propagationP50)} | ${ms(r.propagationP99)} | ${r.waitedOut} | ${ms(r.serverCpuPerLogout)} | ${ms(r.appCpuPerLogout)} | ${ms(r.serverCpuMs)} | ${ms(r.serverIdle)} | ${r.mode === "bounded" ? r.late : "—"} | ${r.connections ?? "—"} | ${r.seconds.toFixed(0)} |`,
    ),
    "",
    "redis-replica: the same private redis-server, now with one replica (a second redis-server on this machine); durability waits for its WAIT acknowledgement.",
    "CPU (from /proc/<pid>/schedstat): server = the private redis-server, or on PostgreSQL the row's own backends (pools + LISTENs); app = all the row's server processes together.",
    `Per logout: the median over logouts of the CPU used from the logout request until it answered (strict) or ${SETTLE_MS} ms later (bounded), less the idle rate (leases, pings) measured over 1 s; it includes the revoking request's HTTP handling.`,
    "Idle: the server's CPU over that 1 s with no requests (lease renewals and pings of every process), in ms per second.",
    "Per cycle: the server's CPU over the whole measured loop divided by the logouts: a login, a read through every process, the logout with its notices (and acks), and a read through every process after it.",
    `Late notices (bounded): logouts whose notice had not reached every process ${SETTLE_MS} ms after the logout answered. PostgreSQL connections: pool + LISTEN backends the row held.`,
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
