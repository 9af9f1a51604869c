// A real Redis Cluster for tests and soaks: 3 masters (and, optionally, replicas)
// started with redis-server on spare ports and joined with `redis-cli --cluster create`;
// with helpers to fail a master over and to move slots while clients run.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Cluster } from "ioredis";
import { createClient, createCluster } from "redis";
import { requireService, type ServiceCheck } from "./services.js";
import { sparePort, startRedisServer, until, type RedisServer } from "./redis-server.js";

/**
 * A node-redis and an ioredis client of the cluster that `root` belongs to, both connected, as the
 * cluster tests use them: node-redis without an offline queue, ioredis with one retry per request.
 */
export async function connectClusterClients(root: { url: string; port: number }): Promise<{ node: ReturnType<typeof createCluster>; io: Cluster }> {
  const node = createCluster({ rootNodes: [{ url: root.url }], defaults: { disableOfflineQueue: true } });
  node.on("error", () => undefined);
  await node.connect();
  const io = new Cluster([{ host: "127.0.0.1", port: root.port }], { enableOfflineQueue: true, redisOptions: { maxRetriesPerRequest: 1 } });
  await new Promise<void>((resolve, reject) => {
    io.once("ready", resolve);
    io.once("error", reject);
  });
  return { node, io };
}

export interface RedisCluster {
  servers: RedisServer[];
  /** A node URL to give a cluster client as its root node. */
  url: string;
  /** Kills node `index` (SIGKILL) and starts it again on its port from its data (use with AOF). */
  restart(index: number): Promise<void>;
  /** Kills node `index` (SIGKILL) and leaves it down. */
  kill(index: number): Promise<void>;
  /** Starts node `index` again on its port from its data (after kill); a failed-over master rejoins as a replica. */
  start(index: number): Promise<void>;
  /** The indexes of the nodes that are masters now, by CLUSTER NODES as node `from` sees it (only live nodes). */
  masters(from?: number): Promise<number[]>;
  /** Waits until every live node reports cluster_state:ok and every master has `replicas` connected replicas. */
  settle(timeoutMs?: number): Promise<void>;
  /** Kills every node and removes the data folder. */
  stop(): Promise<void>;
}

export interface ClusterOptions {
  /** Replicas per master (redis-cli --cluster-replicas). Default 0. */
  replicas?: number;
  /** cluster-node-timeout, ms: how long a master may be silent before its replica is promoted. Default 5000. */
  nodeTimeout?: number;
}

/** redis-cli with a bound on its run time; throws with its output when it fails. */
export function redisCli(args: string[], timeoutMs = 60_000): string {
  const result = spawnSync("redis-cli", args, { encoding: "utf8", timeout: timeoutMs });
  if (result.status !== 0) throw new Error(`redis-cli ${args.join(" ")} failed (${result.status ?? result.signal}): ${result.stdout}${result.stderr}`);
  return result.stdout;
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

/** Starts `masters` cluster-enabled redis-servers (and `replicas` per master, with `extraArgs`), creates the cluster, and waits until every node reports it healthy. */
export async function startCluster(masters = 3, extraArgs: string[] = [], options: ClusterOptions = {}): Promise<RedisCluster> {
  const replicas = options.replicas ?? 0;
  const total = masters * (1 + replicas);
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
    String(options.nodeTimeout ?? 5000),
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
  const down = new Set<number>();
  const kill = async (index: number) => {
    down.add(index);
    await servers[index]!.kill();
  };
  const start = async (index: number) => {
    servers[index] = await startRedisServer({ port: servers[index]!.port, dir, args: args(servers[index]!.port) });
    down.delete(index);
  };
  const ask = async <T>(index: number, fn: (client: ReturnType<typeof createClient>) => Promise<T>): Promise<T> => {
    const client = createClient({ url: servers[index]!.url, socket: { reconnectStrategy: false, connectTimeout: 2000 } });
    client.on("error", () => undefined);
    await client.connect();
    try {
      return await fn(client);
    } finally {
      client.destroy();
    }
  };
  const live = () => servers.map((_, i) => i).filter((i) => !down.has(i));
  const masterIndexes = async (from = live()[0]!) => {
    const nodes = await ask(from, (c) => c.sendCommand(["CLUSTER", "NODES"]) as Promise<string>);
    const ports = nodes
      .split("\n")
      .filter((line) => / master /.test(` ${line.split(" ")[2]?.replace(/,/g, " ")} `) && !/fail/.test(line.split(" ")[2] ?? ""))
      .map((line) => Number(line.split(" ")[1]!.split("@")[0]!.split(":")[1]));
    return live().filter((i) => ports.includes(servers[i]!.port));
  };
  const settle = async (timeoutMs = 30_000) => {
    for (const index of live()) {
      let last = "";
      try {
        await until(
          async () =>
            ask(index, async (c) => {
              const info = await c.clusterInfo();
              const replication = (await c.sendCommand(["INFO", "replication"])) as string;
              last = `${/cluster_state:\w+/.exec(info)?.[0]} ${/cluster_slots_ok:\d+/.exec(info)?.[0]} ${/role:\w+/.exec(replication)?.[0]} ${/connected_slaves:\d+/.exec(replication)?.[0] ?? ""} ${/master_link_status:\w+/.exec(replication)?.[0] ?? ""}`;
              if (!/cluster_state:ok/.test(info) || !/cluster_slots_ok:16384/.test(info)) return false;
              // With a node down, some master has fewer replicas than configured: cluster_state:ok is all to wait for.
              if (/role:master/.test(replication)) return down.size > 0 || Number(/connected_slaves:(\d+)/.exec(replication)?.[1] ?? 0) >= replicas;
              return /master_link_status:up/.test(replication);
            }).catch((error: unknown) => ((last = String(error)), false)),
          `the cluster to settle (node ${servers[index]!.port})`,
          timeoutMs,
        );
      } catch (error) {
        throw new Error(`${(error as Error).message}: ${last}`, { cause: error });
      }
    }
  };
  try {
    for (let i = 0; i < total; i++) {
      const port = await sparePort(10_000); // the cluster bus listens on port + 10000
      servers.push(await startRedisServer({ port, dir, args: args(port) }));
    }
    const create = spawnSync(
      "redis-cli",
      ["--cluster", "create", ...servers.map((s) => `127.0.0.1:${s.port}`), "--cluster-replicas", String(replicas), "--cluster-yes"],
      {
        encoding: "utf8",
        timeout: 30_000,
      },
    );
    if (create.status !== 0) throw new Error(`redis-cli --cluster create failed (${create.status ?? create.signal}): ${create.stdout}${create.stderr}`);
    for (const server of servers) {
      const client = await createClient({ url: server.url }).connect();
      try {
        await until(
          async () => {
            const info = await client.clusterInfo();
            return /cluster_state:ok/.test(info) && /cluster_slots_ok:16384/.test(info) && new RegExp(`cluster_known_nodes:${total}\\b`).test(info);
          },
          `cluster_state:ok on port ${server.port}`,
          20_000,
        );
      } finally {
        client.destroy();
      }
    }
    if (replicas > 0) await settle();
    return { servers, url: servers[0]!.url, restart, kill, start, masters: masterIndexes, settle, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
