// redisStore's options: their types, and their validation at construction (every error says what to give).
import { redactUrl } from "../../store/redact.js";
import { resolveRevokeUserYield } from "../../store/revoke-yield.js";
import { adapterFor, clientKind } from "./adapter.js";
import type { RedisCommands } from "./commands.js";
import { withDeadline } from "./deadline.js";
import { resolveDurability, type RedisDurabilityOptions, type ResolvedDurability } from "./durability.js";
import { ioredisKeyPrefix } from "./ioredis.js";
import { ownedAdapter } from "./owned-connection.js";

const DEFAULT_PREFIX = "latchkey:";
const MAX_PREFIX_LENGTH = 256;

/**
 * A connected node-redis client (`createClient()`, `createCluster()` or
 * `createSentinel()` from "redis", v4 or v5) or an ioredis client (`new Redis()`,
 * also with `sentinels`, or `new Redis.Cluster()`).
 * Typed loosely so that neither library's types are required.
 */
export type RedisClientLike = object;

export interface RedisStoreOptions {
  /**
   * A client you created and connected; the store never quits it. So that a
   * command fails at once while Redis is down (and the request gets a 503)
   * rather than waiting in a queue, create it with
   * node-redis: `createClient({ url, disableOfflineQueue: true })`;
   * ioredis: `new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 1 })`.
   */
  client?: RedisClientLike;
  /** Instead of `client`: a redis:// or rediss:// URL. The store creates, connects and closes a node-redis client. */
  url?: string;
  /** Prepended to every key. Default "latchkey:". Must not contain "{" or "}" (they would change the Cluster hash tag). */
  prefix?: string;
  /** URL mode only: how long the first connection attempt may take, in ms. Default 5000. */
  connectTimeout?: number;
  /**
   * A command that has not been answered after this many ms fails (the request
   * answers 503) instead of hanging on a frozen server or a cut network. The
   * command may still run later. Default 5000.
   */
  commandTimeout?: number;
  /**
   * Replicated Redis (Sentinel, managed services): make every write that ends
   * a token (logout, revoke, revokeUser, login's rotation) wait until
   * `replicas` replicas confirmed it (Redis `WAIT`), at most `timeout` ms, so a
   * failover cannot bring the session back. Unconfirmed → the call rejects
   * with ReplicationUnconfirmedError (503). `everyWrite: true` makes new
   * sessions and data patches wait too. Off by default. On a Redis Cluster client each write and its
   * WAIT go to the master that serves the write's slot, on that master's connection.
   * @example
   * redisStore({ client: sentinel, durability: { replicas: 1, timeout: 250 } })
   */
  durability?: RedisDurabilityOptions;
  /**
   * `revokeUser` and `logoutOthers` end a user's sessions 128 per script. Before each script after the
   * first, the store waits this many times as long as the previous script took (its round trip), so
   * other clients' commands, and this process's requests, keep that share of Redis and of the CPU
   * while a user with thousands of sessions is logged out everywhere. Default 2: with 10^6 live
   * sessions, other users' reads' p99 stayed within 2× of idle while 10^4 sessions were revoked, in
   * 0.3–0.7 s instead of 0.1–0.2 s with 0 (docs/capacity.md). 0: no pause. A wait is never longer
   * than 1 s (after a step that stalled, say). A user with at most 128 sessions is ended by one
   * script and never waits; a session is valid until its step deletes it, and the call answers after
   * the last step, as without the pause.
   * @example
   * redisStore({ client, revokeUserYield: 0 }) // revokeUser as fast as Redis allows
   */
  revokeUserYield?: number;
}

/** What redisStore builds from valid options: the commands (with their deadline), the key prefix, WAIT settings. */
export interface ResolvedRedisStoreOptions {
  commands: RedisCommands;
  prefix: string;
  durability: ResolvedDurability | null;
  revokeUserYield: number;
}

/** Validates redisStore's options; a TypeError names what to give instead. */
export function resolveRedisStoreOptions(options: RedisStoreOptions): ResolvedRedisStoreOptions {
  if (!options || typeof options !== "object" || (options.client === undefined && options.url === undefined)) {
    throw new TypeError('latchkey: redisStore needs { client } or { url }, e.g. redisStore({ url: "redis://127.0.0.1:6379" })');
  }
  if (options.client !== undefined && options.url !== undefined) {
    throw new TypeError("latchkey: redisStore takes { client } or { url }, not both; pass the client you already connected, or only the URL");
  }
  const prefix = options.prefix ?? DEFAULT_PREFIX;
  if (typeof prefix !== "string" || prefix.length > MAX_PREFIX_LENGTH || /[{}]/.test(prefix)) {
    throw new TypeError(
      `latchkey: redisStore prefix must be a string of at most ${MAX_PREFIX_LENGTH} characters without "{" or "}" (got ${JSON.stringify(prefix)}), e.g. prefix: "myapp:sessions:"`,
    );
  }
  const connectTimeout = options.connectTimeout ?? 5000;
  if (typeof connectTimeout !== "number" || !Number.isInteger(connectTimeout) || connectTimeout <= 0) {
    throw new TypeError(`latchkey: redisStore connectTimeout must be a positive whole number of ms (got ${String(connectTimeout)})`);
  }
  const commandTimeout = options.commandTimeout ?? 5000;
  if (typeof commandTimeout !== "number" || !Number.isInteger(commandTimeout) || commandTimeout <= 0) {
    throw new TypeError(`latchkey: redisStore commandTimeout must be a positive whole number of ms (got ${String(commandTimeout)})`);
  }
  const revokeUserYield = resolveRevokeUserYield("redisStore", options.revokeUserYield);
  let commands: RedisCommands;
  if (options.url !== undefined) {
    if (typeof options.url !== "string" || !/^rediss?:\/\//i.test(options.url)) {
      throw new TypeError(
        `latchkey: redisStore url must be a redis:// or rediss:// URL, e.g. "redis://127.0.0.1:6379" (got ${JSON.stringify(redactUrl(String(options.url)))})`,
      );
    }
    try {
      new URL(options.url);
    } catch {
      throw new TypeError(`latchkey: redisStore url ${JSON.stringify(redactUrl(options.url))} is not a valid URL, e.g. "redis://127.0.0.1:6379"`);
    }
    commands = ownedAdapter(options.url, connectTimeout);
  } else {
    if (clientKind(options.client) === null) {
      throw new TypeError(
        'latchkey: redisStore client must be a node-redis client (createClient(), createCluster() or createSentinel() from "redis") or an ioredis client (new Redis(), with or without sentinels, or new Redis.Cluster())',
      );
    }
    const keyPrefix = ioredisKeyPrefix(options.client);
    if (keyPrefix) {
      throw new TypeError(
        `latchkey: redisStore cannot use an ioredis client with keyPrefix (${JSON.stringify(keyPrefix)}): the store's scripts build keys themselves. Remove keyPrefix and pass redisStore({ client, prefix: ${JSON.stringify(keyPrefix)} })`,
      );
    }
    const ioredisOptions = (options.client as { options?: { sentinels?: unknown[]; failoverDetector?: boolean } }).options;
    if (
      clientKind(options.client) === "ioredis" &&
      Array.isArray(ioredisOptions?.sentinels) &&
      ioredisOptions.sentinels.length > 0 &&
      ioredisOptions.failoverDetector !== true
    ) {
      throw new TypeError(
        "latchkey: redisStore needs an ioredis client with sentinels to have failoverDetector: true. Without it, after a failover that leaves the old primary running " +
          "(SENTINEL FAILOVER, a network partition) the client keeps reading and writing there until Sentinel demotes it, seconds later, and misses logouts done through the new primary. " +
          "new Redis({ sentinels, name, failoverDetector: true, enableOfflineQueue: false, maxRetriesPerRequest: 1 })",
      );
    }
    commands = adapterFor(options.client);
  }
  const durability = resolveDurability(options.durability, commandTimeout);
  return { commands: withDeadline(commands, commandTimeout), prefix, durability, revokeUserYield };
}
