// The adapter over an ioredis client the caller passed in: Redis, Cluster, or
// Redis with `sentinels` (which sentinel.ts revives when ioredis ends it mid-failover).
import { redactUrl } from "../../store/redact.js";
import { clusterEvalThenWait, throttledRefresh, type ClusterRouting } from "./cluster-durable.js";
import { Adapter, hostPort, toFields, type AnyClient, type ClusterMaster, type DurableReply } from "./commands.js";
import { reconnectWhenEndedBySentinelRace } from "./sentinel.js";
import { ioredisSubscriber, ioredisSubscriberLike, type RedisSubscriber } from "./subscriber.js";

function ioredisEndpoint(c: AnyClient): string {
  const sentinels = c.options?.sentinels;
  if (Array.isArray(sentinels) && sentinels.length > 0) {
    return `sentinel ${String(c.options.name ?? "mymaster")} via ${hostPort(sentinels[0]?.host, sentinels[0]?.port ?? 26379)}`;
  }
  if (c.isCluster) {
    const first = c.startupNodes?.[0];
    if (typeof first === "string") return `cluster ${redactUrl(first)}`;
    if (typeof first === "number") return `cluster ${hostPort(undefined, first)}`;
    return `cluster ${hostPort(first?.host, first?.port)}`;
  }
  if (typeof c.options?.path === "string") return c.options.path;
  return hostPort(c.options?.host, c.options?.port);
}

/** The ioredis keyPrefix option would prefix KEYS but not the keys the scripts build, so it is refused. */
export function ioredisKeyPrefix(client: unknown): string | undefined {
  const c = client as AnyClient;
  return c.options?.keyPrefix || c.options?.redisOptions?.keyPrefix || undefined;
}

export class IoRedisAdapter extends Adapter {
  readonly endpoint: string;
  readonly topology: "standalone" | "cluster" | "sentinel";
  readonly #client: AnyClient;
  /** Counts closed connections: ioredis re-sends unanswered commands on the next one, where WAIT would vouch for nothing. */
  #connections = 0;
  /** On a cluster: closed connections per master's client, for the same reason. */
  readonly #nodeCloses = new WeakMap<object, { count: number }>();
  readonly #routing: ClusterRouting<AnyClient> | null;

  constructor(client: AnyClient) {
    super();
    this.#client = client;
    this.endpoint = ioredisEndpoint(client);
    this.topology = client.isCluster ? "cluster" : Array.isArray(client.options?.sentinels) && client.options.sentinels.length > 0 ? "sentinel" : "standalone";
    if (typeof client.on === "function") client.on("close", () => this.#connections++);
    if (this.topology === "sentinel" && typeof client.on === "function") reconnectWhenEndedBySentinelRace(client);
    this.#routing = this.topology === "cluster" ? this.#clusterRouting() : null;
  }

  #closesOf(node: AnyClient): { count: number } {
    let closes = this.#nodeCloses.get(node);
    if (!closes) {
      const counter = { count: 0 };
      closes = counter;
      this.#nodeCloses.set(node, counter);
      node.on("close", () => counter.count++);
    }
    return closes;
  }

  #clusterRouting(): ClusterRouting<AnyClient> {
    const cluster = this.#client;
    const nodeKey = (node: AnyClient) => `${String(node.options?.host)}:${String(node.options?.port)}`;
    const byKey = (key: string | undefined): AnyClient =>
      key === undefined
        ? undefined
        : (cluster.connectionPool?.getInstanceByKey?.(key) ?? (cluster.nodes("master") as AnyClient[]).find((n) => nodeKey(n) === key));
    const target = (key: string | undefined) => {
      const node = byKey(key);
      return node ? { node, address: key! } : null;
    };
    return {
      // cluster.slots[slot] lists the slot's nodes by "host:port", its master first.
      masterOf: (slot) => target((cluster.slots?.[slot] as string[] | undefined)?.[0]),
      masterAt: (address) => target(address),
      refresh: throttledRefresh(() => new Promise<void>((resolve) => cluster.refreshSlotsCache(() => resolve())), 100),
      evalThenWait: async (node, asking, source, keys, args, replicas, timeout) => {
        const closes = this.#closesOf(node);
        const before = closes.count;
        let pipeline = node.pipeline();
        if (asking) pipeline = pipeline.asking();
        const replies = (await pipeline
          .eval(source, keys.length, ...keys, ...args)
          .call("WAIT", replicas, timeout)
          .exec()) as Array<[Error | null, unknown]>;
        for (const [error] of replies) if (error) throw error;
        const [reply, acknowledged] = replies.slice(-2).map(([, value]) => value);
        return { reply, acknowledged: closes.count === before ? Number(acknowledged) : -1 };
      },
    };
  }

  protected async evalThenWait(source: string, keys: string[], args: string[], replicas: number, timeout: number): Promise<DurableReply> {
    if (this.#routing !== null) return clusterEvalThenWait(this.#routing, source, keys, args, replicas, timeout);
    const connection = this.#connections;
    const replies = (await this.#client
      .pipeline()
      .eval(source, keys.length, ...keys, ...args)
      .call("WAIT", replicas, timeout)
      .exec()) as Array<[Error | null, unknown]>;
    const [[scriptError, reply], [waitError, acknowledged]] = replies as [[Error | null, unknown], [Error | null, unknown]];
    if (scriptError) throw scriptError;
    if (waitError) throw waitError;
    return { reply, acknowledged: connection === this.#connections ? Number(acknowledged) : -1 };
  }

  protected evalsha(sha: string, keys: string[], args: string[]): Promise<unknown> {
    return this.#client.evalsha(sha, keys.length, ...keys, ...args);
  }

  protected eval(source: string, keys: string[], args: string[]): Promise<unknown> {
    return this.#client.eval(source, keys.length, ...keys, ...args);
  }

  hgetall(key: string): Promise<Record<string, string>> {
    return this.#client.hgetall(key).then(toFields);
  }

  zrange(key: string): Promise<string[]> {
    return this.#client.zrange(key, 0, -1);
  }

  async ping(): Promise<void> {
    await this.#client.ping();
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.#client.publish(channel, message);
  }

  async clusterMasters(refresh: boolean): Promise<ClusterMaster[]> {
    if (!this.#client.isCluster) return [];
    // ioredis refreshes its layout on MOVED and every slotsRefreshInterval; after a failover, ask now.
    if (refresh) await new Promise<void>((resolve) => this.#client.refreshSlotsCache(() => resolve()));
    const masters: AnyClient[] = this.#client.nodes("master");
    return masters.map((node) => ({
      address: hostPort(node.options?.host, node.options?.port),
      publish: async (channel: string, message: string) => {
        await node.publish(channel, message);
      },
      openSubscriber: () => ioredisSubscriberLike(node),
    }));
  }

  openSubscriber(): Promise<RedisSubscriber> {
    return ioredisSubscriber(this.#client);
  }
}
