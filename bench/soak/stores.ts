// The stores a soak runs on, each private to the run, with the faults each supports:
//   redis    a private redis-server (AOF, fsync always) — feed cut, restart
//   cluster  a private 3-master Redis Cluster (AOF, fsync always), optionally with replicas — feed cut,
//            a master restarted, slots resharded while scripts run, a master killed and its replica promoted
//   postgres a fresh table in DATABASE_URL — feed cut (pg_terminate_backend)
//   sqlite   a temp file (no near-cache on SQLite)
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { createClient } from "redis";
import { startCluster, type RedisCluster } from "../../src/testing/redis-cluster.js";
import { sparePort, startRedisServer, until, type RedisServer } from "../../src/testing/redis-server.js";

export interface SoakStore {
  name: string;
  /** The spec the server processes open (src/testing/stores.ts). */
  spec: string;
  /** Cuts every feed (subscriber / LISTEN) connection; resolves to how many. */
  cutFeeds?(): Promise<number>;
  /** Kills the store (or one node of it) and starts it again from its data. */
  restart?(): Promise<void>;
  /** Moves slots between two masters with redis-cli --cluster reshard while clients run; resolves to the slots moved. */
  reshard?(random: () => number): Promise<number>;
  /**
   * Kills a master (SIGKILL) and waits until its replica is promoted (`promoted` is called then);
   * then starts the old master again, which rejoins as a replica. Resolves to how long the slots had no master, ms.
   */
  failover?(random: () => number, promoted: () => Promise<void>): Promise<number>;
  stop(): Promise<void>;
}

const DURABLE = ["--appendonly", "yes", "--appendfsync", "always"];
const runId = `${process.pid}_${Date.now() % 1e8}`;

async function killPubsubClients(url: string): Promise<number> {
  const admin = await createClient({ url }).connect();
  try {
    return Number(await admin.sendCommand(["CLIENT", "KILL", "TYPE", "pubsub"]));
  } finally {
    admin.destroy();
  }
}

async function restartServer(server: RedisServer, dir: string, args: string[]): Promise<RedisServer> {
  await server.kill();
  await new Promise((resolve) => setTimeout(resolve, 100));
  return startRedisServer({ port: server.port, dir, args });
}

/** Runs redis-cli without blocking the soak's clients (they share this event loop); rejects with its output on failure. */
function redisCliAsync(args: string[], timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn("redis-cli", args, { stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      if (code === 0) resolve(output);
      else reject(new Error(`redis-cli ${args.slice(0, 3).join(" ")} failed (${code}): ${output.slice(-500)}`));
    });
  });
}

/** The live masters that serve slots, by CLUSTER NODES as a live node sees it. */
async function masterNodes(cluster: RedisCluster, from: number): Promise<Array<{ id: string; port: number; slots: number }>> {
  const client = await createClient({ url: cluster.servers[from]!.url }).connect();
  try {
    const text = (await client.sendCommand(["CLUSTER", "NODES"])) as string;
    return text
      .trim()
      .split("\n")
      .map((line) => line.split(" "))
      .filter(([, , flags]) => flags!.split(",").includes("master") && !flags!.includes("fail"))
      .map(([id, address, , , , , , , ...ranges]) => ({
        id: id!,
        port: Number(address!.split("@")[0]!.split(":")[1]),
        slots: ranges
          .filter((range) => !range.startsWith("["))
          .reduce((n, range) => {
            const [a, b = a] = range.split("-").map(Number);
            return n + b! - a! + 1;
          }, 0),
      }))
      .filter((node) => node.slots > 0);
  } finally {
    client.destroy();
  }
}

export interface ClusterSoakOptions {
  /** Replicas per master. */
  replicas: number;
  /** "redis-cluster" (node-redis createCluster) or "ioredis-cluster" (ioredis Cluster). */
  client: "redis-cluster" | "ioredis-cluster";
}

export async function startSoakStore(kind: string, clusterOptions: ClusterSoakOptions = { replicas: 0, client: "redis-cluster" }): Promise<SoakStore> {
  const prefix = `latchkey-soak:${runId}:`;
  if (kind === "redis") {
    const dir = mkdtempSync(join(tmpdir(), "latchkey-soak-redis-"));
    let server = await startRedisServer({ port: await sparePort(), dir, args: DURABLE });
    return {
      name: "redis (one server)",
      spec: `redis:${server.url}|${prefix}`,
      cutFeeds: () => killPubsubClients(server.url),
      restart: async () => {
        server = await restartServer(server, dir, DURABLE);
      },
      stop: async () => {
        await server.kill();
        rmSync(dir, { recursive: true, force: true });
      },
    };
  }
  if (kind === "cluster") {
    const { replicas } = clusterOptions;
    // A 2 s node timeout: a dead master's replica is promoted in about 3 s instead of 6 (the failover fault).
    const cluster = await startCluster(3, DURABLE, { replicas, nodeTimeout: replicas > 0 ? 2000 : 5000 });
    const down = new Set<number>();
    const live = () => cluster.servers.map((_, i) => i).filter((i) => !down.has(i));
    let turn = 0;
    const library = clusterOptions.client === "ioredis-cluster" ? "ioredis" : "node-redis";
    return {
      name: `redis cluster (3 masters, ${replicas} replica${replicas === 1 ? "" : "s"} each, ${library})`,
      // Every node as a root node: the client must find the cluster again whichever node died.
      spec: `${clusterOptions.client}:${cluster.servers.map((s) => s.url).join(",")}|${prefix}`,
      cutFeeds: async () => (await Promise.all(live().map((i) => killPubsubClients(cluster.servers[i]!.url)))).reduce((a, b) => a + b, 0),
      restart: async () => {
        // Not the first node: the server processes' clients use it as their root node.
        const index = 1 + (turn++ % (cluster.servers.length - 1));
        await cluster.restart(index);
        await until(
          async () => {
            const client = await createClient({ url: cluster.servers[index]!.url }).connect();
            try {
              return /cluster_state:ok/.test(await client.clusterInfo());
            } finally {
              client.destroy();
            }
          },
          "the restarted master to rejoin",
          20_000,
        );
        if (replicas > 0) await cluster.settle();
      },
      reshard: async (random) => {
        const masters = await masterNodes(cluster, live()[0]!);
        const from = masters[Math.floor(random() * masters.length)]!;
        const others = masters.filter((m) => m.id !== from.id);
        const to = others[Math.floor(random() * others.length)]!;
        const slots = Math.max(1, Math.min(from.slots - 1, 200 + Math.floor(random() * 800)));
        await redisCliAsync(
          [
            "--cluster",
            "reshard",
            `127.0.0.1:${from.port}`,
            "--cluster-from",
            from.id,
            "--cluster-to",
            to.id,
            "--cluster-slots",
            String(slots),
            "--cluster-yes",
          ],
          120_000,
        );
        return slots;
      },
      failover: async (random, promoted) => {
        const masters = await masterNodes(cluster, live()[0]!);
        const victim = masters[Math.floor(random() * masters.length)]!;
        const index = cluster.servers.findIndex((s) => s.port === victim.port);
        down.add(index);
        const killedAt = performance.now();
        await cluster.kill(index);
        // Promoted: a live node names another master for the victim's slots and the cluster is whole again.
        await until(
          async () => {
            const client = await createClient({ url: cluster.servers[live()[0]!]!.url }).connect();
            try {
              const info = await client.clusterInfo();
              const now = await masterNodes(cluster, live()[0]!);
              return /cluster_state:ok/.test(info) && !now.some((m) => m.port === victim.port) && now.reduce((n, m) => n + m.slots, 0) === 16384;
            } finally {
              client.destroy();
            }
          },
          "a replica to be promoted",
          30_000,
        );
        const withoutMaster = performance.now() - killedAt;
        await promoted();
        // The old master comes back as a replica of the promoted one (its nodes.conf says it lost its slots).
        await new Promise((resolve) => setTimeout(resolve, 2000));
        await cluster.start(index);
        down.delete(index);
        await cluster.settle(60_000);
        return withoutMaster;
      },
      stop: () => cluster.stop(),
    };
  }
  if (kind === "postgres") {
    const url = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
    const table = `latchkey_soak_${runId}`;
    const admin = new pg.Pool({ connectionString: url, max: 1 });
    return {
      name: "postgres",
      spec: `postgres:${url}|${table}`,
      cutFeeds: async () =>
        (await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE query ILIKE 'LISTEN%' AND query ILIKE $1", [`%${table}%`])).rowCount ??
        0,
      stop: async () => {
        await admin.query(`DROP TABLE IF EXISTS "${table}", "${table}_leases"`);
        await admin.end();
      },
    };
  }
  if (kind === "sqlite") {
    const dir = mkdtempSync(join(tmpdir(), "latchkey-soak-sqlite-"));
    return { name: "sqlite", spec: `sqlite:${join(dir, "sessions.db")}`, stop: async () => rmSync(dir, { recursive: true, force: true }) };
  }
  throw new Error(`unknown store ${kind}: use redis, cluster, postgres or sqlite`);
}
