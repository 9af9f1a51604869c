// One dedicated subscriber connection for the invalidation feed, on either
// client library. The library's own reconnection is switched off: a lost
// connection must be *seen* (the near-cache flushes), and the feed opens a
// fresh connection itself, so no library can resubscribe behind its back and
// hide the messages lost meanwhile.

/** Shown in CLIENT LIST, so operators can tell the feed's connections apart. */
export const SUBSCRIBER_NAME = "latchkey-feed";
/** ioredis with `sentinels`, when the client sets no sentinelCommandTimeout: how long the feed waits for one Sentinel's answer. */
const SENTINEL_COMMAND_TIMEOUT_MS = 2000;

export interface RedisSubscriber {
  /** Subscribes to every channel; resolves once Redis confirmed them all. */
  subscribe(channels: string[], onMessage: (channel: string, message: string) => void): Promise<void>;
  /** `listener` is called once, when the connection is lost or closed. */
  onLost(listener: (error: Error) => void): void;
  close(): Promise<void>;
}

// The clients are duck-typed: neither library's types are required.
type AnyClient = any;

/** One subscriber connection of either library; reports its loss once, delivers nothing after close(). */
class DedicatedSubscriber implements RedisSubscriber {
  readonly #client: AnyClient;
  readonly #library: "node-redis" | "ioredis";
  /** After close(), nothing is delivered: a closing socket may still hold messages. */
  #closed = false;
  #lost: ((error: Error) => void) | null = null;
  #pending: Error | null = null;
  #reported = false;

  constructor(client: AnyClient, library: "node-redis" | "ioredis") {
    this.#client = client;
    this.#library = library;
    client.on("error", (error: Error) => this.#report(error));
    client.on(library === "ioredis" ? "close" : "end", () => this.#report(new Error("connection closed")));
  }

  async subscribe(channels: string[], onMessage: (channel: string, message: string) => void): Promise<void> {
    const deliver = (channel: unknown, message: unknown): void => {
      if (!this.#closed) onMessage(String(channel), String(message));
    };
    if (this.#library === "ioredis") {
      this.#client.on("message", deliver);
      await this.#client.subscribe(...channels);
    } else {
      await this.#client.subscribe(channels, (message: string, channel: string) => deliver(channel, message));
    }
  }

  onLost(listener: (error: Error) => void): void {
    this.#lost = listener;
    if (this.#pending) this.#report(this.#pending);
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#report(new Error("closed"));
    if (this.#library === "ioredis") this.#client.disconnect();
    else if (this.#client.isOpen) await (typeof this.#client.destroy === "function" ? this.#client.destroy() : this.#client.disconnect());
  }

  #report(error: Error): void {
    if (this.#reported) return;
    if (!this.#lost) {
      this.#pending = error;
      return;
    }
    this.#reported = true;
    this.#lost(error);
  }
}

/** Connects a new subscriber client; a failed connection is closed, not leaked. */
async function connected(client: AnyClient, library: "node-redis" | "ioredis"): Promise<RedisSubscriber> {
  const subscriber = new DedicatedSubscriber(client, library);
  try {
    await client.connect();
  } catch (error) {
    await subscriber.close().catch(() => undefined);
    throw error;
  }
  return subscriber;
}

/** A node-redis connection like `client` (same server, credentials, TLS), without reconnection. */
export async function nodeRedisSubscriber(client: AnyClient): Promise<RedisSubscriber> {
  const options = client.options ?? {};
  const sub = client.duplicate({
    name: SUBSCRIBER_NAME,
    // RESP2 keeps push messages on the plain SUBSCRIBE path on every node-redis version.
    RESP: undefined,
    clientSideCache: undefined,
    socket: { ...(options.socket ?? {}), reconnectStrategy: false },
  });
  return connected(sub, "node-redis");
}

/** For a node-redis cluster: a connection to one master (classic pub/sub reaches every node). */
export async function nodeRedisClusterSubscriber(cluster: AnyClient): Promise<RedisSubscriber> {
  const master = cluster.masters?.[0];
  if (!master) throw new Error("the Redis Cluster has no known master yet");
  return nodeRedisSubscriber(await cluster.nodeClient(master));
}

/** An ioredis connection like `client` (for a Cluster: to its first master), without reconnection or auto-resubscription. */
export async function ioredisSubscriber(client: AnyClient): Promise<RedisSubscriber> {
  const source = client.isCluster ? client.nodes("master")[0] : client;
  if (!source) throw new Error("the Redis Cluster has no known master yet");
  return ioredisSubscriberLike(source);
}

/** An ioredis connection like `source` (a Redis client, or one node of a Cluster), without reconnection or auto-resubscription. */
export async function ioredisSubscriberLike(source: AnyClient): Promise<RedisSubscriber> {
  const sub = source.duplicate({
    connectionName: SUBSCRIBER_NAME,
    lazyConnect: true,
    keepAlive: 10_000, // ioredis sends no TCP keepalives by default
    retryStrategy: () => null,
    // With `sentinels`: give up when no Sentinel answers, so the feed sees it and retries on its own schedule;
    // and skip a Sentinel that accepts the connection but never answers (frozen, overloaded) instead of waiting on it.
    sentinelRetryStrategy: () => null,
    sentinelCommandTimeout: source.options?.sentinelCommandTimeout ?? SENTINEL_COMMAND_TIMEOUT_MS,
    reconnectOnError: () => false,
    autoResubscribe: false,
    enableOfflineQueue: true,
    maxRetriesPerRequest: 1,
  });
  return connected(sub, "ioredis");
}
