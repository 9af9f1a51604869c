// One dedicated subscriber connection for the invalidation feed, on either
// client library. The library's own reconnection is switched off: a lost
// connection must be *seen* (the near-cache flushes), and the feed opens a
// fresh connection itself, so no library can resubscribe behind its back and
// hide the messages lost meanwhile.

/** Shown in CLIENT LIST, so operators can tell the feed's connections apart. */
export const SUBSCRIBER_NAME = "latchkey-feed";

export interface RedisSubscriber {
  /** Subscribes to every channel; resolves once Redis confirmed them all. */
  subscribe(channels: string[], onMessage: (channel: string, message: string) => void): Promise<void>;
  /** `listener` is called once, when the connection is lost or closed. */
  onLost(listener: (error: Error) => void): void;
  close(): Promise<void>;
}

// The clients are duck-typed: neither library's types are required.
type AnyClient = any;

abstract class LossReporter {
  /** After close(), nothing is delivered: a closing socket may still hold messages. */
  protected closed = false;
  #lost: ((error: Error) => void) | null = null;
  #reported = false;
  #pending: Error | null = null;

  onLost(listener: (error: Error) => void): void {
    this.#lost = listener;
    if (this.#pending) this.lost(this.#pending);
  }

  protected lost(error: Error): void {
    if (this.#reported) return;
    if (!this.#lost) {
      this.#pending = error;
      return;
    }
    this.#reported = true;
    this.#lost(error);
  }
}

class NodeRedisSubscriber extends LossReporter implements RedisSubscriber {
  readonly #client: AnyClient;

  constructor(client: AnyClient) {
    super();
    this.#client = client;
    client.on("error", (error: Error) => this.lost(error));
    client.on("end", () => this.lost(new Error("connection closed")));
  }

  async subscribe(channels: string[], onMessage: (channel: string, message: string) => void): Promise<void> {
    await this.#client.subscribe(channels, (message: string, channel: string) => {
      if (!this.closed) onMessage(String(channel), String(message));
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    this.lost(new Error("closed"));
    if (this.#client.isOpen) await (typeof this.#client.destroy === "function" ? this.#client.destroy() : this.#client.disconnect());
  }
}

class IoRedisSubscriber extends LossReporter implements RedisSubscriber {
  readonly #client: AnyClient;

  constructor(client: AnyClient) {
    super();
    this.#client = client;
    client.on("error", (error: Error) => this.lost(error));
    client.on("close", () => this.lost(new Error("connection closed")));
  }

  async subscribe(channels: string[], onMessage: (channel: string, message: string) => void): Promise<void> {
    this.#client.on("message", (channel: string, message: string) => {
      if (!this.closed) onMessage(String(channel), String(message));
    });
    await this.#client.subscribe(...channels);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.lost(new Error("closed"));
    this.#client.disconnect();
  }
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
  const subscriber = new NodeRedisSubscriber(sub);
  try {
    await sub.connect();
  } catch (error) {
    await subscriber.close().catch(() => undefined);
    throw error;
  }
  return subscriber;
}

/** For a node-redis cluster: a connection to one master (classic pub/sub reaches every node). */
export async function nodeRedisClusterSubscriber(cluster: AnyClient): Promise<RedisSubscriber> {
  const master = cluster.masters?.[0];
  if (!master) throw new Error("the Redis Cluster has no known master yet");
  return nodeRedisSubscriber(await cluster.nodeClient(master));
}

/** An ioredis connection like `client`, without reconnection or auto-resubscription. */
export async function ioredisSubscriber(client: AnyClient): Promise<RedisSubscriber> {
  const source = client.isCluster ? client.nodes("master")[0] : client;
  if (!source) throw new Error("the Redis Cluster has no known master yet");
  const sub = source.duplicate({
    connectionName: SUBSCRIBER_NAME,
    lazyConnect: true,
    retryStrategy: () => null,
    reconnectOnError: () => false,
    autoResubscribe: false,
    enableOfflineQueue: true,
    maxRetriesPerRequest: 1,
  });
  const subscriber = new IoRedisSubscriber(sub);
  try {
    await sub.connect();
  } catch (error) {
    await subscriber.close().catch(() => undefined);
    throw error;
  }
  return subscriber;
}
