// The adapter over a node-redis (v4/v5) client or cluster the caller passed in.
import { clusterEvalThenWait, isRedisReply, throttledRefresh, type ClusterRouting } from "./cluster-durable.js";
import { Adapter, endpointOfUrl, hostPort, toFields, type AnyClient, type ClusterMaster, type DurableReply } from "./commands.js";
import { nodeRedisClusterSubscriber, nodeRedisSubscriber, type RedisSubscriber } from "./subscriber.js";

function nodeRedisEndpoint(c: AnyClient): string {
  const describeNode = (options: AnyClient): string => {
    if (!options) return hostPort(undefined, undefined);
    if (typeof options.url === "string") {
      try {
        return endpointOfUrl(options.url);
      } catch {
        return "unknown";
      }
    }
    if (typeof options.socket?.path === "string") return options.socket.path;
    return hostPort(options.socket?.host, options.socket?.port);
  };
  const rootNodes = c._options?.rootNodes ?? c.options?.rootNodes;
  if (Array.isArray(rootNodes)) return `cluster ${describeNode(rootNodes[0])}`;
  return describeNode(c.options);
}

export class NodeRedisAdapter extends Adapter {
  readonly endpoint: string;
  protected readonly client: AnyClient;

  /** On a cluster: how durable writes find their master, and the slot map's refresh after a master stopped answering. */
  readonly #routing: ClusterRouting<AnyClient> | null;

  constructor(client: AnyClient, endpoint = nodeRedisEndpoint(client)) {
    super();
    this.client = client;
    this.endpoint = endpoint;
    this.#routing = this.#isCluster() ? this.#clusterRouting() : null;
  }

  protected evalsha(sha: string, keys: string[], args: string[]): Promise<unknown> {
    return this.#refreshOnFailure(this.client.evalSha(sha, { keys, arguments: args }));
  }

  protected eval(source: string, keys: string[], args: string[]): Promise<unknown> {
    return this.#refreshOnFailure(this.client.eval(source, { keys, arguments: args }));
  }

  /**
   * node-redis re-reads a cluster's slot map only on MOVED, which a dead master
   * never sends: after its replica is promoted, every command for its slots
   * would keep failing until the old master came back. A command that failed
   * without a Redis reply (connection refused, client offline) asks for a new
   * map instead, so the promoted replica is found within a refresh interval.
   */
  #refreshOnFailure<T>(promise: Promise<T>): Promise<T> {
    if (this.#routing === null) return promise;
    return promise.catch((error: unknown) => {
      if (!isRedisReply(error) || /^CLUSTERDOWN/.test((error as Error).message)) void this.#routing!.refresh().catch(() => undefined);
      throw error;
    });
  }

  #clusterRouting(): ClusterRouting<AnyClient> {
    const cluster = this.client;
    const target = (node: AnyClient) => (node ? { node, address: String(node.address ?? `${node.host}:${node.port}`) } : null);
    const rediscover = async (): Promise<void> => {
      // node-redis v5 exposes its slot map as _slots; v4 keeps it private, where a routed
      // command (EXISTS with isReadonly false goes to the master) triggers the same rediscovery on MOVED.
      const slots = cluster._self?._slots ?? cluster._slots;
      const masters = (cluster.masters as AnyClient[] | undefined) ?? [];
      const known = (masters.find((node) => node.client?.isReady) ?? masters.find((node) => node.client))?.client;
      if (typeof slots?.rediscover === "function" && known) await slots.rediscover(known);
      else await cluster.sendCommand("latchkey:refresh", false, ["EXISTS", "latchkey:refresh"]);
    };
    return {
      masterOf: (slot) => target(cluster.getSlotMaster(slot)),
      masterAt: (address) => target((cluster.masters as AnyClient[] | undefined)?.find((node) => node.address === address)),
      refresh: throttledRefresh(rediscover, 100),
      evalThenWait: async (node, asking, source, keys, args, replicas, timeout) => {
        const connection = await cluster.nodeClient(node);
        let batch = connection.multi();
        if (asking) batch = batch.asking();
        // One node client, one socket: node-redis rejects both replies if it closes in between.
        const replies = (await batch.eval(source, { keys, arguments: args }).wait(replicas, timeout).execAsPipeline()) as unknown[];
        return { reply: replies[replies.length - 2], acknowledged: Number(replies[replies.length - 1]) };
      },
    };
  }

  get topology(): "standalone" | "cluster" | "sentinel" {
    return this.#isCluster() ? "cluster" : "standalone";
  }

  protected async evalThenWait(source: string, keys: string[], args: string[], replicas: number, timeout: number): Promise<DurableReply> {
    if (this.#routing !== null) return clusterEvalThenWait(this.#routing, source, keys, args, replicas, timeout);
    // node-redis rejects commands in flight when their socket closes, so both replies come from one connection.
    const [reply, acknowledged] = (await this.client.multi().eval(source, { keys, arguments: args }).wait(replicas, timeout).execAsPipeline()) as [
      unknown,
      number,
    ];
    return { reply, acknowledged: Number(acknowledged) };
  }

  hgetall(key: string): Promise<Record<string, string>> {
    return this.#refreshOnFailure(this.client.hGetAll(key)).then(toFields);
  }

  zrange(key: string): Promise<string[]> {
    return this.#refreshOnFailure(this.client.zRange(key, 0, -1));
  }

  async ping(): Promise<void> {
    // A cluster client has no PING of its own: ask the node that serves an arbitrary key.
    if (typeof this.client.ping === "function") await this.client.ping();
    else await this.#refreshOnFailure(this.client.exists("latchkey:ping"));
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.client.publish(channel, message);
  }

  async clusterMasters(refresh: boolean): Promise<ClusterMaster[]> {
    if (!this.#isCluster()) return [];
    if (refresh) await this.#rediscover();
    const masters: AnyClient[] = this.client.masters ?? [];
    return masters.map((master) => ({
      address: String(master.address ?? hostPort(master.host, master.port)),
      publish: async (channel: string, message: string) => {
        await (await this.client.nodeClient(master)).publish(channel, message);
      },
      openSubscriber: async () => nodeRedisSubscriber(await this.client.nodeClient(master)),
    }));
  }

  /**
   * Asks the cluster for its layout again (CLUSTER SLOTS through a node it knows, else its root nodes).
   * node-redis does this by itself only on MOVED/ASK; after a failover nothing may have redirected this
   * process yet. Uses node-redis 5's internal slots object; on versions without it the last known layout stays.
   */
  async #rediscover(): Promise<void> {
    const slots = this.client._self?._slots ?? this.client._slots;
    if (typeof slots?.rediscover !== "function") return;
    const known: AnyClient[] = this.client.masters ?? [];
    const start = known.find((master) => master.client?.isReady)?.client ?? known.find((master) => master.client)?.client;
    // Best effort: when no node answers, the known layout stays, and connecting to it fails on its own.
    if (start) await slots.rediscover(start).catch(() => undefined);
  }

  openSubscriber(): Promise<RedisSubscriber> {
    return this.#isCluster() ? nodeRedisClusterSubscriber(this.client) : nodeRedisSubscriber(this.client);
  }

  #isCluster(): boolean {
    return Array.isArray(this.client._options?.rootNodes ?? this.client.options?.rootNodes);
  }
}
