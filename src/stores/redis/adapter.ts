// A tiny adapter over node-redis (v4/v5, client or cluster) and ioredis
// (Redis or Cluster): the store needs only EVALSHA/EVAL, HGETALL, ZRANGE,
// PING, PUBLISH, and a subscriber connection for its feed.
import { createRequire } from "node:module";
import { redactCredentials, redactUrl } from "../../store/redact.js";
import type { Script } from "./scripts.js";
import { ioredisSubscriber, nodeRedisClusterSubscriber, nodeRedisSubscriber, type RedisSubscriber } from "./subscriber.js";

export interface RedisCommands {
  /** "host:port" (or "cluster host:port") for names and errors. */
  readonly endpoint: string;
  /** EVALSHA, falling back to EVAL (which caches the script) on NOSCRIPT. */
  run(script: Script, keys: string[], args: string[]): Promise<unknown>;
  /**
   * The script, then `WAIT replicas timeout`, pipelined on one connection (WAIT
   * covers the writes of its own connection only). Resolves to the script's
   * reply and how many replicas confirmed; -1 when the connection was lost in
   * between (a client library could have re-sent WAIT alone on a new one).
   */
  runDurable(script: Script, keys: string[], args: string[], replicas: number, timeout: number): Promise<{ reply: unknown; acknowledged: number }>;
  /** standalone, cluster, or a primary found through Redis Sentinel. */
  readonly topology: "standalone" | "cluster" | "sentinel";
  hgetall(key: string): Promise<Record<string, string>>;
  zrange(key: string): Promise<string[]>;
  ping(): Promise<void>;
  publish(channel: string, message: string): Promise<void>;
  /** PUBLISH through every master (one on a standalone server); resolves to how many copies were sent. */
  publishThroughEveryMaster(channel: string, message: string): Promise<number>;
  /** A new connection for SUBSCRIBE, to the same server, that never reconnects by itself. */
  openSubscriber(): Promise<RedisSubscriber>;
  /** Resolves once the first connection is up (URL mode); rejects naming host and port. */
  ready(): Promise<void>;
  /** Closes the connection only if the store opened it. */
  close(): Promise<void>;
}

// The clients are duck-typed: neither library's types are required.
type AnyClient = any;

/** Which client library an object comes from, by the shape of its methods. */
export function clientKind(client: unknown): "node-redis" | "ioredis" | null {
  if (!client || typeof client !== "object") return null;
  const c = client as AnyClient;
  if (typeof c.hGetAll === "function" && typeof c.evalSha === "function") return "node-redis";
  if (typeof c.hgetall === "function" && typeof c.evalsha === "function") return "ioredis";
  return null;
}

/** A HGETALL reply as a plain record: object (RESP2), Map (RESP3 type mapping) or a flat array (Lua). */
export function toFields(reply: unknown): Record<string, string> {
  if (reply === null || reply === undefined) return {};
  if (Array.isArray(reply)) {
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < reply.length; i += 2) fields[String(reply[i])] = String(reply[i + 1]);
    return fields;
  }
  if (reply instanceof Map) {
    const fields: Record<string, string> = {};
    for (const [key, value] of reply) fields[String(key)] = String(value);
    return fields;
  }
  return reply as Record<string, string>;
}

function isNoScript(error: unknown): boolean {
  return error instanceof Error && error.message.startsWith("NOSCRIPT");
}

/** An error's message, also for AggregateError (IPv4 + IPv6 connect attempts) whose own message is empty. */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error ?? "not connected");
  if (error.message) return error.message;
  const inner = (error as { errors?: unknown[] }).errors;
  if (Array.isArray(inner) && inner.length > 0) return inner.map(describeError).join("; ");
  return (error as { code?: string }).code ?? error.name;
}

function hostPort(host: unknown, port: unknown): string {
  const h = typeof host === "string" && host !== "" ? host : "localhost";
  return `${h.includes(":") ? `[${h}]` : h}:${port === undefined || port === null || port === "" ? 6379 : String(port)}`;
}

export function endpointOfUrl(url: string): string {
  const parsed = new URL(url);
  return hostPort(parsed.hostname.replace(/^\[|\]$/g, ""), parsed.port);
}

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

abstract class Adapter implements RedisCommands {
  abstract readonly endpoint: string;
  abstract readonly topology: "standalone" | "cluster" | "sentinel";
  /** EVAL (not EVALSHA: no NOSCRIPT round trip to untangle in a pipeline) then WAIT, on one connection. */
  protected abstract evalThenWait(source: string, keys: string[], args: string[], replicas: number, timeout: number): Promise<{ reply: unknown; acknowledged: number }>;
  protected abstract evalsha(sha: string, keys: string[], args: string[]): Promise<unknown>;
  protected abstract eval(source: string, keys: string[], args: string[]): Promise<unknown>;
  abstract hgetall(key: string): Promise<Record<string, string>>;
  abstract zrange(key: string): Promise<string[]>;
  abstract ping(): Promise<void>;
  abstract publish(channel: string, message: string): Promise<void>;
  /** The masters' own clients on a cluster; null on a standalone server. */
  protected abstract masterClients(): Promise<Array<{ publish(channel: string, message: string): Promise<unknown> }>> | null;
  abstract openSubscriber(): Promise<RedisSubscriber>;

  async publishThroughEveryMaster(channel: string, message: string): Promise<number> {
    const masters = await this.masterClients();
    if (masters === null) {
      await this.publish(channel, message);
      return 1;
    }
    await Promise.all(masters.map((master) => master.publish(channel, message)));
    return masters.length;
  }

  run(script: Script, keys: string[], args: string[]): Promise<unknown> {
    return this.evalsha(script.sha, keys, args).catch((error: unknown) => {
      // Not cached on this node (restart, failover, another cluster shard): EVAL runs and caches it.
      if (isNoScript(error)) return this.eval(script.source, keys, args);
      throw error;
    });
  }

  runDurable(script: Script, keys: string[], args: string[], replicas: number, timeout: number): Promise<{ reply: unknown; acknowledged: number }> {
    return this.evalThenWait(script.source, keys, args, replicas, timeout);
  }

  ready(): Promise<void> {
    return this.ping();
  }

  async close(): Promise<void> {
    // A client passed in belongs to the caller: never quit it.
  }
}

class NodeRedisAdapter extends Adapter {
  readonly endpoint: string;
  protected readonly client: AnyClient;

  constructor(client: AnyClient, endpoint = nodeRedisEndpoint(client)) {
    super();
    this.client = client;
    this.endpoint = endpoint;
  }

  protected evalsha(sha: string, keys: string[], args: string[]): Promise<unknown> {
    return this.client.evalSha(sha, { keys, arguments: args });
  }

  protected eval(source: string, keys: string[], args: string[]): Promise<unknown> {
    return this.client.eval(source, { keys, arguments: args });
  }

  get topology(): "standalone" | "cluster" | "sentinel" {
    return this.#isCluster() ? "cluster" : "standalone";
  }

  protected async evalThenWait(source: string, keys: string[], args: string[], replicas: number, timeout: number): Promise<{ reply: unknown; acknowledged: number }> {
    // node-redis rejects commands in flight when their socket closes, so both replies come from one connection.
    const [reply, acknowledged] = (await this.client.multi().eval(source, { keys, arguments: args }).wait(replicas, timeout).execAsPipeline()) as [unknown, number];
    return { reply, acknowledged: Number(acknowledged) };
  }

  hgetall(key: string): Promise<Record<string, string>> {
    return this.client.hGetAll(key).then(toFields);
  }

  zrange(key: string): Promise<string[]> {
    return this.client.zRange(key, 0, -1);
  }

  async ping(): Promise<void> {
    // A cluster client has no PING of its own: ask the node that serves an arbitrary key.
    if (typeof this.client.ping === "function") await this.client.ping();
    else await this.client.exists("latchkey:ping");
  }

  async publish(channel: string, message: string): Promise<void> {
    await this.client.publish(channel, message);
  }

  protected masterClients(): Promise<AnyClient[]> | null {
    if (!this.#isCluster()) return null;
    const masters: unknown[] = this.client.masters ?? [];
    return Promise.all(masters.map((master) => this.client.nodeClient(master)));
  }

  openSubscriber(): Promise<RedisSubscriber> {
    return this.#isCluster() ? nodeRedisClusterSubscriber(this.client) : nodeRedisSubscriber(this.client);
  }

  #isCluster(): boolean {
    return Array.isArray(this.client._options?.rootNodes ?? this.client.options?.rootNodes);
  }
}

class IoRedisAdapter extends Adapter {
  readonly endpoint: string;
  readonly topology: "standalone" | "cluster" | "sentinel";
  readonly #client: AnyClient;
  /** Counts closed connections: ioredis re-sends unanswered commands on the next one, where WAIT would vouch for nothing. */
  #connections = 0;

  constructor(client: AnyClient) {
    super();
    this.#client = client;
    this.endpoint = ioredisEndpoint(client);
    this.topology = client.isCluster ? "cluster" : Array.isArray(client.options?.sentinels) && client.options.sentinels.length > 0 ? "sentinel" : "standalone";
    if (typeof client.on === "function") client.on("close", () => this.#connections++);
    if (this.topology === "sentinel" && typeof client.on === "function") reconnectWhenEndedBySentinelRace(client);
  }

  protected async evalThenWait(source: string, keys: string[], args: string[], replicas: number, timeout: number): Promise<{ reply: unknown; acknowledged: number }> {
    const connection = this.#connections;
    const replies = (await this.#client.pipeline().eval(source, keys.length, ...keys, ...args).call("WAIT", replicas, timeout).exec()) as Array<[Error | null, unknown]>;
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

  protected masterClients(): Promise<AnyClient[]> | null {
    return this.#client.isCluster ? Promise.resolve(this.#client.nodes("master")) : null;
  }

  openSubscriber(): Promise<RedisSubscriber> {
    return ioredisSubscriber(this.#client);
  }
}

/**
 * ioredis (5.x) can end a Sentinel client for good during a failover: when its
 * failover detector (`+switch-master`) fires while the client is asking a
 * Sentinel for the primary, the detector's disconnect makes that pending
 * connect fail with "Connection is closed." and the client goes to status
 * "end" with no reconnection scheduled, so every later command fails with
 * "Connection is closed." although Sentinel names a healthy primary. The
 * slower the machine, the longer that question takes and the likelier the
 * race. A client that ends straight from "connecting" without its owner
 * having closed it is reconnected here (backing off from 50 ms to 2 s); one
 * its owner closed (`disconnect()`, `quit()`) is left closed.
 */
function reconnectWhenEndedBySentinelRace(client: AnyClient): void {
  let previous = "";
  let attempts = 0;
  let timer: NodeJS.Timeout | undefined;
  const track = (event: string) => client.on(event, () => (previous = event));
  track("connecting");
  track("close");
  client.on("ready", () => {
    previous = "ready";
    attempts = 0;
  });
  client.on("end", () => {
    const endedWhileConnecting = previous === "connecting";
    previous = "end";
    // manuallyClosing: set by disconnect()/quit(), and still set when the owner's close interrupted a connect.
    if (!endedWhileConnecting || client.manuallyClosing === true) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (client.status === "end" && client.manuallyClosing !== true) client.connect().catch(() => undefined);
    }, Math.min(2000, 50 * 2 ** attempts++));
    timer.unref();
  });
}

type TrackedSubscriber = RedisSubscriber & { primaryChanged(): void };

/** node-redis's Sentinel client (`createSentinel()`, redis v5), by its shape. */
function isNodeRedisSentinel(c: AnyClient): boolean {
  return typeof c.getMasterNode === "function" && typeof c.getSentinelNode === "function" && typeof c._execute === "function";
}

/**
 * How long a command may wait for node-redis's Sentinel client to have a
 * primary before it fails. That client holds every command while there is
 * none (its `disableOfflineQueue` does not apply), so without this bound each
 * store operation of a request waited its whole commandTimeout through a
 * failover, a request of several operations went unanswered for many seconds
 * with nothing logged, and a command the request had already given up on was
 * sent to the new primary later. ioredis with `enableOfflineQueue: false`
 * fails at once.
 */
const PRIMARY_WAIT_MS = 1000;

/**
 * node-redis's Sentinel client: commands go to the current primary (the client
 * follows failovers itself), and fail after {@link PRIMARY_WAIT_MS} without
 * one; the feed's subscriber is a plain connection to the
 * primary of the moment, with the pool's own options (credentials, TLS), so a
 * failover closes it and the feed flushes, then resubscribes on the new primary.
 */
class NodeRedisSentinelAdapter extends NodeRedisAdapter {
  /** Open feed connections: all closed when Sentinel names a new primary. */
  readonly #subscribers = new Set<TrackedSubscriber>();

  constructor(client: AnyClient) {
    const sentinel = client.getSentinelNode?.();
    super(client, `sentinel via ${sentinel ? hostPort(sentinel.host, sentinel.port) : "unknown"}`);
    // A failover that leaves the old primary running (SENTINEL FAILOVER, a partition) does not close
    // connections to it until Sentinel demotes it, seconds later; meanwhile notices published on the new
    // primary never reach a subscriber on the old one. Close it at once: the feed flushes and resubscribes.
    client.on("topology-change", (event: { type?: string }) => {
      if (event?.type !== "MASTER_CHANGE") return;
      for (const subscriber of [...this.#subscribers]) subscriber.primaryChanged();
    });
  }

  override get topology(): "sentinel" {
    return "sentinel";
  }

  /**
   * Runs `send` on the primary's client once node-redis has one. Rejects when
   * it had none for {@link PRIMARY_WAIT_MS} (also between a failed attempt and
   * node-redis's retry on a new primary); after that, nothing is sent.
   */
  #onPrimary<T>(operation: string, send: (primary: AnyClient) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let gaveUp = false;
      let timer: NodeJS.Timeout | undefined;
      const waitForPrimary = (): void => {
        timer = setTimeout(() => {
          gaveUp = true;
          reject(new Error(`latchkey: no Redis primary to send ${operation} to within ${PRIMARY_WAIT_MS} ms (${this.endpoint}; a Sentinel failover in progress?)`));
        }, PRIMARY_WAIT_MS);
      };
      waitForPrimary();
      (this.client._execute(false, async (primary: AnyClient) => {
        if (gaveUp) throw new Error(`latchkey: ${operation} was given up while there was no primary; not sent`);
        clearTimeout(timer);
        try {
          return await send(primary);
        } catch (error) {
          if (!gaveUp) waitForPrimary(); // node-redis may retry on the next primary
          throw error;
        }
      }) as Promise<T>).then(
        (value) => {
          clearTimeout(timer);
          if (!gaveUp) resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          if (!gaveUp) reject(error);
        },
      );
    });
  }

  protected override evalsha(sha: string, keys: string[], args: string[]): Promise<unknown> {
    return this.#onPrimary("a script", (primary) => primary.evalSha(sha, { keys, arguments: args }));
  }

  protected override eval(source: string, keys: string[], args: string[]): Promise<unknown> {
    return this.#onPrimary("a script", (primary) => primary.eval(source, { keys, arguments: args }));
  }

  protected override async evalThenWait(source: string, keys: string[], args: string[], replicas: number, timeout: number): Promise<{ reply: unknown; acknowledged: number }> {
    const [reply, acknowledged] = (await this.#onPrimary("a script and WAIT", (primary) =>
      primary.multi().eval(source, { keys, arguments: args }).wait(replicas, timeout).execAsPipeline(),
    )) as [unknown, number];
    return { reply, acknowledged: Number(acknowledged) };
  }

  override hgetall(key: string): Promise<Record<string, string>> {
    return this.#onPrimary("HGETALL", (primary) => primary.hGetAll(key)).then(toFields);
  }

  override zrange(key: string): Promise<string[]> {
    return this.#onPrimary("ZRANGE", (primary) => primary.zRange(key, 0, -1));
  }

  override async ping(): Promise<void> {
    await this.#onPrimary("PING", (primary) => primary.ping());
  }

  override async publish(channel: string, message: string): Promise<void> {
    await this.#onPrimary("PUBLISH", (primary) => primary.publish(channel, message));
  }

  override async openSubscriber(): Promise<RedisSubscriber> {
    // _execute hands over the pool's client for the primary: duplicate() copies its options, not its socket.
    const primary: AnyClient = await this.client._execute(false, async (master: AnyClient) => master);
    const subscriber = await nodeRedisSubscriber(primary);
    let lost: ((error: Error) => void) | null = null;
    const report = (error: Error): void => {
      this.#subscribers.delete(tracked);
      const listener = lost;
      lost = null; // once
      listener?.(error);
    };
    const tracked: TrackedSubscriber = {
      subscribe: (channels, onMessage) => subscriber.subscribe(channels, onMessage),
      onLost: (listener) => {
        lost = listener;
        subscriber.onLost(report);
      },
      close: () => {
        this.#subscribers.delete(tracked);
        return subscriber.close();
      },
      primaryChanged: () => {
        report(new Error("Sentinel named a new primary"));
        void subscriber.close().catch(() => undefined);
      },
    };
    this.#subscribers.add(tracked);
    return tracked;
  }
}

export function adapterFor(client: unknown): RedisCommands {
  if (clientKind(client) === "ioredis") return new IoRedisAdapter(client);
  return isNodeRedisSentinel(client) ? new NodeRedisSentinelAdapter(client) : new NodeRedisAdapter(client);
}

/** Turns a connection failure into the error the store reports. */
export function cannotReach(endpoint: string, cause: unknown): Error {
  return new Error(redactCredentials(`latchkey: cannot reach Redis at ${endpoint}: ${describeError(cause)}`), { cause });
}

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
      (client.connect() as Promise<unknown>).then(
        () => {
          client.off("error", fail);
          resolve();
        },
        fail,
      );
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

  protected override evalThenWait(source: string, keys: string[], args: string[], replicas: number, timeout: number): Promise<{ reply: unknown; acknowledged: number }> {
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

/** Every command fails after `ms` without an answer, so a frozen server yields a 503, not a hung request (G6). */
export function withDeadline(commands: RedisCommands, ms: number): RedisCommands {
  // One watchdog interval for all in-flight commands: cheaper than a timer per command on the hot path.
  const inFlight = new Set<{ started: number; operation: string; reject: (error: Error) => void }>();
  let watchdog: NodeJS.Timeout | undefined;
  const check = (): void => {
    const now = performance.now();
    for (const entry of inFlight) {
      if (now - entry.started < ms) continue;
      inFlight.delete(entry);
      entry.reject(new Error(`latchkey: Redis at ${commands.endpoint} did not answer ${entry.operation} within ${ms} ms`));
    }
    if (inFlight.size === 0) {
      clearInterval(watchdog);
      watchdog = undefined;
    }
  };
  const deadline = <T>(operation: string, promise: Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const entry = { started: performance.now(), operation, reject };
      inFlight.add(entry);
      if (watchdog === undefined) {
        watchdog = setInterval(check, Math.max(5, Math.floor(ms / 4)));
        watchdog.unref();
      }
      promise.then(
        (value) => {
          inFlight.delete(entry);
          resolve(value);
        },
        (error: unknown) => {
          inFlight.delete(entry);
          reject(error);
        },
      );
    });
  return {
    get endpoint() {
      return commands.endpoint;
    },
    topology: commands.topology,
    run: (script, keys, args) => deadline("a script", commands.run(script, keys, args)),
    runDurable: (script, keys, args, replicas, timeout) => deadline("a script and WAIT", commands.runDurable(script, keys, args, replicas, timeout)),
    hgetall: (key) => deadline("HGETALL", commands.hgetall(key)),
    zrange: (key) => deadline("ZRANGE", commands.zrange(key)),
    ping: () => deadline("PING", commands.ping()),
    publish: (channel, message) => deadline("PUBLISH", commands.publish(channel, message)),
    publishThroughEveryMaster: (channel, message) => deadline("PUBLISH", commands.publishThroughEveryMaster(channel, message)),
    // Bounded by the connection's own connect timeout; a deadline here could orphan a late connection.
    openSubscriber: () => commands.openSubscriber(),
    ready: () => commands.ready(),
    close: () => commands.close(),
  };
}
