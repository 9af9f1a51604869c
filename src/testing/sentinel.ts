// A Sentinel-managed Redis for tests and the failover soak: one primary, one
// replica and three Sentinels (`redis-server <conf> --sentinel`), all private
// processes on spare ports, with short timeouts so a failover takes seconds.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "redis";
import { sparePort, startRedisServer, until, type RedisServer } from "./redis-server.js";

export const MASTER_NAME = "latchkey-test";
/** Every data node: a (re)started replica syncs at once instead of after the default 5 s diskless-sync delay. */
const NODE_ARGS = ["--repl-diskless-sync-delay", "0", "--repl-timeout", "5"];

export interface SentinelTopology {
  /** The Sentinels' addresses, as both client libraries take them. */
  sentinels: Array<{ host: string; port: number }>;
  name: string;
  /** The data nodes by port; the primary at start is `nodes[0]`. */
  nodes: RedisServer[];
  /** The port Sentinel currently names as primary. */
  primaryPort(): Promise<number>;
  /** Waits until the Sentinels name another primary than `oldPort` and it answers as a primary; resolves to its port. */
  awaitPromotion(oldPort: number, timeoutMs?: number): Promise<number>;
  /** Runs one command on the node at `port`. */
  command(port: number, args: string[]): Promise<unknown>;
  /** SIGSTOP / SIGCONT a data node (a replica that stops reading and acknowledging). */
  pause(port: number): void;
  resume(port: number): void;
  /**
   * SIGSTOP / SIGCONT the Sentinel `sentinels[index]`: it accepts connections but answers nothing (frozen,
   * overloaded). primaryPort() and awaitPromotion() ask the others meanwhile.
   */
  pauseSentinel(index: number): void;
  resumeSentinel(index: number): void;
  /** Waits until every Sentinel sees the node at `port` as a healthy replica (so it could fail over to it again). */
  awaitHealthyReplica(port: number): Promise<void>;
  /** Kills the node at `port` (SIGKILL) and restarts it empty as a replica of the current primary, for repeated failovers. */
  restartAsReplica(port: number): Promise<void>;
  stop(): Promise<void>;
}

const children = new Set<ChildProcess>();
process.once("exit", () => {
  for (const child of children) child.kill("SIGKILL");
});

async function oneCommand(port: number, args: string[]): Promise<unknown> {
  const client = createClient({ socket: { host: "127.0.0.1", port, reconnectStrategy: false, connectTimeout: 2000 } });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return await client.sendCommand(args);
  } finally {
    client.destroy();
  }
}

function infoField(info: string, field: string): string | undefined {
  return new RegExp(`^${field}:(.*)$`, "m").exec(info)?.[1]?.trim();
}

function startSentinel(dir: string, port: number, primaryPort: number): ChildProcess {
  const conf = join(dir, `sentinel-${port}.conf`);
  writeFileSync(
    conf,
    [
      `port ${port}`,
      "bind 127.0.0.1",
      `dir ${dir}`,
      `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${primaryPort} 2`,
      `sentinel down-after-milliseconds ${MASTER_NAME} 500`,
      `sentinel failover-timeout ${MASTER_NAME} 3000`,
      `sentinel parallel-syncs ${MASTER_NAME} 1`,
      "",
    ].join("\n"),
  );
  const child = spawn("redis-server", [conf, "--sentinel"], { stdio: "ignore" });
  children.add(child);
  child.once("exit", () => children.delete(child));
  return child;
}

/**
 * Starts the primary and the replica, waits for replication, then the three
 * Sentinels, and waits until each knows the replica and the two other
 * Sentinels (so a failover can be agreed and can pick the replica).
 * @example
 * const ha = await startSentinelTopology();
 * const sentinel = await createSentinel({ name: ha.name, sentinelRootNodes: ha.sentinels }).connect();
 */
export async function startSentinelTopology(): Promise<SentinelTopology> {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-sentinel-"));
  const nodes: RedisServer[] = [];
  const sentinelChildren: ChildProcess[] = [];
  const stop = async () => {
    for (const child of sentinelChildren) {
      child.kill("SIGCONT");
      child.kill("SIGKILL");
    }
    for (const node of nodes) {
      node.child.kill("SIGCONT");
      await node.kill();
    }
    rmSync(dir, { recursive: true, force: true });
  };
  try {
    const primary = await startRedisServer({ port: await sparePort(), dir, args: NODE_ARGS });
    nodes.push(primary);
    const replica = await startRedisServer({ port: await sparePort(), dir, args: [...NODE_ARGS, "--replicaof", "127.0.0.1", String(primary.port)] });
    nodes.push(replica);
    await until(async () => infoField(String(await oneCommand(replica.port, ["INFO", "replication"])), "master_link_status") === "up", "the replica's link");
    const sentinelPorts = [await sparePort(), await sparePort(), await sparePort()];
    for (const port of sentinelPorts) sentinelChildren.push(startSentinel(dir, port, primary.port));
    for (const port of sentinelPorts) {
      await until(
        async () => {
          const fields = (await oneCommand(port, ["SENTINEL", "MASTER", MASTER_NAME])) as string[];
          const get = (name: string) => fields[fields.indexOf(name) + 1];
          return get("num-slaves") === "1" && get("num-other-sentinels") === "2";
        },
        `Sentinel ${port} to know the replica and the other Sentinels`,
        20_000,
      );
    }
    const sentinels = sentinelPorts.map((port) => ({ host: "127.0.0.1", port }));
    const pausedSentinels = new Set<number>();
    const primaryPort = async () => {
      for (const port of sentinelPorts.filter((p) => !pausedSentinels.has(p))) {
        try {
          const [, p] = (await oneCommand(port, ["SENTINEL", "GET-MASTER-ADDR-BY-NAME", MASTER_NAME])) as [string, string];
          return Number(p);
        } catch {
          // ask the next one
        }
      }
      throw new Error("no Sentinel answered");
    };
    const nodeAt = (port: number) => {
      const node = nodes.find((n) => n.port === port);
      if (!node) throw new Error(`no data node on port ${port}`);
      return node;
    };
    return {
      sentinels,
      name: MASTER_NAME,
      nodes,
      primaryPort,
      async awaitPromotion(oldPort, timeoutMs = 20_000) {
        let port = 0;
        await until(
          async () => {
            port = await primaryPort();
            if (port === oldPort) return false;
            return infoField(String(await oneCommand(port, ["INFO", "replication"])), "role") === "master";
          },
          `a replica to be promoted in place of ${oldPort}`,
          timeoutMs,
        );
        return port;
      },
      command: oneCommand,
      async awaitHealthyReplica(port) {
        for (const sentinel of sentinelPorts) {
          await until(
            async () => {
              const replicas = (await oneCommand(sentinel, ["SENTINEL", "REPLICAS", MASTER_NAME])) as string[][];
              return replicas.some((fields) => fields[fields.indexOf("port") + 1] === String(port) && fields[fields.indexOf("flags") + 1] === "slave");
            },
            `Sentinel ${sentinel} to see ${port} as a healthy replica`,
            30_000,
          );
        }
      },
      pauseSentinel(index) {
        pausedSentinels.add(sentinelPorts[index]!);
        sentinelChildren[index]!.kill("SIGSTOP");
      },
      resumeSentinel(index) {
        sentinelChildren[index]!.kill("SIGCONT");
        pausedSentinels.delete(sentinelPorts[index]!);
      },
      pause: (port) => void nodeAt(port).child.kill("SIGSTOP"),
      resume: (port) => void nodeAt(port).child.kill("SIGCONT"),
      async restartAsReplica(port) {
        const index = nodes.indexOf(nodeAt(port));
        await nodes[index]!.kill();
        const current = await primaryPort();
        nodes[index] = await startRedisServer({ port, dir, args: [...NODE_ARGS, "--replicaof", "127.0.0.1", String(current)] });
        await until(
          async () => infoField(String(await oneCommand(port, ["INFO", "replication"])), "master_link_status") === "up",
          `the restarted replica ${port}'s link`,
          30_000,
        );
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
