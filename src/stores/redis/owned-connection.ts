// URL mode: the adapter over a node-redis connection the store opens and closes itself.
import { createRequire } from "node:module";
import { cannotReach, endpointOfUrl, type AnyClient, type DurableReply, type RedisCommands } from "./commands.js";
import { NodeRedisAdapter } from "./node-redis.js";

/**
 * URL mode: a node-redis client the store creates, connects and closes.
 * - The offline queue is off, so a command while Redis is down fails at once
 *   (the engine answers 503) instead of waiting for a reconnect.
 * - It reconnects forever with a capped backoff, so the app recovers by itself.
 * - The first connection attempt is bounded (connectTimeout); its failure
 *   rejects ready() and every command with "cannot reach Redis at host:port".
 */
class OwnedNodeRedisAdapter extends NodeRedisAdapter {
  #ready: Promise<void>;
  #settled = false;
  #lastError: unknown;

  constructor(url: string, connectTimeout: number) {
    const require = createRequire(import.meta.url);
    let redis: { createClient: (options: object) => AnyClient };
    try {
      redis = require("redis") as typeof redis;
    } catch (error) {
      throw new Error("latchkey: redisStore({ url }) needs the redis package (node-redis): npm install redis", { cause: error });
    }
    const client = redis.createClient({
      url,
      disableOfflineQueue: true,
      socket: {
        connectTimeout,
        reconnectStrategy: (retries: number) => Math.min(50 * 2 ** retries, 1000),
      },
    });
    super(client, endpointOfUrl(url));
    // Without a listener an 'error' event would crash the process.
    client.on("error", (error: unknown) => {
      this.#lastError = error;
    });
    this.#ready = new Promise<void>((resolve, reject) => {
      const fail = (error: unknown) => reject(cannotReach(this.endpoint, error));
      client.once("error", fail);
      (client.connect() as Promise<unknown>).then(() => {
        client.off("error", fail);
        resolve();
      }, fail);
    }).finally(() => {
      this.#settled = true;
    });
    this.#ready.catch(() => undefined);
  }

  #gate(): Promise<void> {
    if (!this.#settled) return this.#ready;
    if (this.client.isReady) return Promise.resolve();
    return Promise.reject(cannotReach(this.endpoint, this.#lastError ?? new Error("not connected")));
  }

  protected override evalsha(sha: string, keys: string[], args: string[]): Promise<unknown> {
    return this.client.isReady ? super.evalsha(sha, keys, args) : this.#gate().then(() => super.evalsha(sha, keys, args));
  }

  protected override eval(source: string, keys: string[], args: string[]): Promise<unknown> {
    return this.client.isReady ? super.eval(source, keys, args) : this.#gate().then(() => super.eval(source, keys, args));
  }

  override hgetall(key: string): Promise<Record<string, string>> {
    return this.client.isReady ? super.hgetall(key) : this.#gate().then(() => super.hgetall(key));
  }

  override zrange(key: string): Promise<string[]> {
    return this.client.isReady ? super.zrange(key) : this.#gate().then(() => super.zrange(key));
  }

  override publish(channel: string, message: string): Promise<void> {
    return this.client.isReady ? super.publish(channel, message) : this.#gate().then(() => super.publish(channel, message));
  }

  protected override evalThenWait(source: string, keys: string[], args: string[], replicas: number, timeout: number): Promise<DurableReply> {
    const run = () => super.evalThenWait(source, keys, args, replicas, timeout);
    return this.client.isReady ? run() : this.#gate().then(run);
  }

  override ready(): Promise<void> {
    return this.#ready;
  }

  override async close(): Promise<void> {
    const client = this.client;
    if (!client.isOpen) return;
    if (client.isReady) {
      await (typeof client.close === "function" ? client.close() : client.quit());
    } else {
      // Still connecting or reconnecting: stop now rather than wait for Redis.
      await (typeof client.destroy === "function" ? client.destroy() : client.disconnect());
    }
  }
}

export function ownedAdapter(url: string, connectTimeout: number): RedisCommands {
  return new OwnedNodeRedisAdapter(url, connectTimeout);
}
