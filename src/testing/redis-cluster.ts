// A real Redis Cluster for tests and soaks: 3 masters started with
// redis-server on spare ports and joined with `redis-cli --cluster create`.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "redis";
import { requireService, type ServiceCheck } from "./services.js";
import { sparePort, startRedisServer, until, type RedisServer } from "./redis-server.js";

export interface RedisCluster {
  servers: RedisServer[];
  /** A node URL to give a cluster client as its root node. */
  url: string;
  /** Kills node `index` (SIGKILL) and starts it again on its port from its data (use with AOF). */
  restart(index: number): Promise<void>;
  /** Kills every node and removes the data folder. */
  stop(): Promise<void>;
}

/** redis-server and redis-cli on PATH: skipped loudly without them, a failure with CI=true. */
export function requireClusterTools(): Promise<ServiceCheck> {
  return requireService(
    "Redis Cluster (redis-server, redis-cli)",
    async () => {
      for (const tool of ["redis-server", "redis-cli"]) {
        const result = spawnSync(tool, ["--version"], { encoding: "utf8" });
        if (result.error || result.status !== 0) throw new Error(`${tool} is not on PATH`);
      }
    },
    { hint: "install redis-server and redis-cli (e.g. apt-get install redis-server)" },
  );
}

/** Starts `masters` cluster-enabled redis-servers (with `extraArgs`), creates the cluster, and waits until every node reports it healthy. */
export async function startCluster(masters = 3, extraArgs: string[] = []): Promise<RedisCluster> {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-redis-cluster-"));
  const servers: RedisServer[] = [];
  const stop = async () => {
    await Promise.all(servers.map((s) => s.kill()));
    rmSync(dir, { recursive: true, force: true });
  };
  const args = (port: number) => [
    "--cluster-enabled",
    "yes",
    "--cluster-config-file",
    join(dir, `nodes-${port}.conf`),
    "--cluster-node-timeout",
    "5000",
    "--appendfilename",
    `appendonly-${port}.aof`,
    "--appenddirname",
    `aof-${port}`,
    "--dbfilename",
    `dump-${port}.rdb`,
    ...extraArgs,
  ];
  const restart = async (index: number) => {
    const server = servers[index]!;
    await server.kill();
    servers[index] = await startRedisServer({ port: server.port, dir, args: args(server.port) });
  };
  try {
    for (let i = 0; i < masters; i++) {
      const port = await sparePort(10_000); // the cluster bus listens on port + 10000
      servers.push(await startRedisServer({ port, dir, args: args(port) }));
    }
    const create = spawnSync("redis-cli", ["--cluster", "create", ...servers.map((s) => `127.0.0.1:${s.port}`), "--cluster-replicas", "0", "--cluster-yes"], {
      encoding: "utf8",
      timeout: 30_000,
    });
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed (${create.status ?? create.signal}): ${create.stdout}${create.stderr}`);
    for (const server of servers) {
      const client = await createClient({ url: server.url }).connect();
      try {
        await until(
          async () => {
            const info = await client.clusterInfo();
            return /cluster_state:ok/.test(info) && /cluster_slots_ok:16384/.test(info) && new RegExp(`cluster_known_nodes:${masters}\\b`).test(info);
          },
          `cluster_state:ok on port ${server.port}`,
          20_000,
        );
      } finally {
        client.destroy();
      }
    }
    return { servers, url: servers[0]!.url, restart, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
