// The stores a soak runs on, each private to the run, with the faults each supports:
//   redis    a private redis-server (AOF, fsync always) — feed cut, restart
//   cluster  a private 3-master Redis Cluster (AOF, fsync always) — feed cut, a master restarted
//   postgres a fresh table in DATABASE_URL — feed cut (pg_terminate_backend)
//   sqlite   a temp file (no near-cache on SQLite)
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import pg from "pg";
import { createClient } from "redis";
import { startCluster } from "../../src/testing/redis-cluster.js";
import { sparePort, startRedisServer, until, type RedisServer } from "../../src/testing/redis-server.js";

export interface SoakStore {
  name: string;
  /** The spec the server processes open (src/testing/stores.ts). */
  spec: string;
  /** Cuts every feed (subscriber / LISTEN) connection; resolves to how many. */
  cutFeeds?(): Promise<number>;
  /** Kills the store (or one node of it) and starts it again from its data. */
  restart?(): Promise<void>;
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

export async function startSoakStore(kind: string): Promise<SoakStore> {
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
    const cluster = await startCluster(3, DURABLE);
    let turn = 0;
    return {
      name: "redis cluster (3 masters)",
      spec: `redis-cluster:${cluster.url}|${prefix}`,
      cutFeeds: async () => (await Promise.all(cluster.servers.map((s) => killPubsubClients(s.url)))).reduce((a, b) => a + b, 0),
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
