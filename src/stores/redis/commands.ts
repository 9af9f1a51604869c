// What the store needs from a Redis client, whichever library: only EVALSHA/EVAL,
// HGETALL, ZRANGE, PING, PUBLISH, and a subscriber connection for its feed.
// Also the base every client adapter extends and the helpers they share
// (reply shapes, endpoint names, connection errors).
import { redactCredentials } from "../../store/redact.js";
import type { Script } from "./scripts.js";
import type { RedisSubscriber } from "./subscriber.js";

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
  runDurable(script: Script, keys: string[], args: string[], replicas: number, timeout: number): Promise<DurableReply>;
  /** standalone, cluster, or a primary found through Redis Sentinel. */
  readonly topology: "standalone" | "cluster" | "sentinel";
  hgetall(key: string): Promise<Record<string, string>>;
  zrange(key: string): Promise<string[]>;
  ping(): Promise<void>;
  publish(channel: string, message: string): Promise<void>;
  /**
   * On a cluster: its masters as the client knows them, after asking the
   * cluster for its current layout when `refresh` (failover, resharding: a
   * master that left is not listed, a promoted replica is). Empty elsewhere.
   */
  clusterMasters(refresh: boolean): Promise<ClusterMaster[]>;
  /** A new connection for SUBSCRIBE, to the same server, that never reconnects by itself. */
  openSubscriber(): Promise<RedisSubscriber>;
  /** Resolves once the first connection is up (URL mode); rejects naming host and port. */
  ready(): Promise<void>;
  /** Closes the connection only if the store opened it. */
  close(): Promise<void>;
}

/** One master of a Redis Cluster, as the client knows it. */
export interface ClusterMaster {
  /** "host:port", as the client names it: the same for the feed's subscription and its pings. */
  readonly address: string;
  /** PUBLISH on this master itself (not wherever the client would route it). */
  publish(channel: string, message: string): Promise<void>;
  /** A new SUBSCRIBE connection to this master, that never reconnects by itself. */
  openSubscriber(): Promise<RedisSubscriber>;
}

// The clients are duck-typed: neither library's types are required.
export type AnyClient = any;

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

export function hostPort(host: unknown, port: unknown): string {
  const h = typeof host === "string" && host !== "" ? host : "localhost";
  return `${h.includes(":") ? `[${h}]` : h}:${port === undefined || port === null || port === "" ? 6379 : String(port)}`;
}

export function endpointOfUrl(url: string): string {
  const parsed = new URL(url);
  return hostPort(parsed.hostname.replace(/^\[|\]$/g, ""), parsed.port);
}

/** Turns a connection failure into the error the store reports. */
export function cannotReach(endpoint: string, cause: unknown): Error {
  return new Error(redactCredentials(`latchkey: cannot reach Redis at ${endpoint}: ${describeError(cause)}`), { cause });
}

/** A durable write's answer: the script's reply, and how many replicas WAIT counted (-1: the connection closed between the two). */
export interface DurableReply {
  reply: unknown;
  acknowledged: number;
}

export abstract class Adapter implements RedisCommands {
  abstract readonly endpoint: string;
  abstract readonly topology: "standalone" | "cluster" | "sentinel";
  /** EVAL (not EVALSHA: no NOSCRIPT round trip to untangle in a pipeline) then WAIT, on one connection. */
  protected abstract evalThenWait(source: string, keys: string[], args: string[], replicas: number, timeout: number): Promise<DurableReply>;
  protected abstract evalsha(sha: string, keys: string[], args: string[]): Promise<unknown>;
  protected abstract eval(source: string, keys: string[], args: string[]): Promise<unknown>;
  abstract hgetall(key: string): Promise<Record<string, string>>;
  abstract zrange(key: string): Promise<string[]>;
  abstract ping(): Promise<void>;
  abstract publish(channel: string, message: string): Promise<void>;
  abstract clusterMasters(refresh: boolean): Promise<ClusterMaster[]>;
  abstract openSubscriber(): Promise<RedisSubscriber>;

  run(script: Script, keys: string[], args: string[]): Promise<unknown> {
    return this.evalsha(script.sha, keys, args).catch((error: unknown) => {
      // Not cached on this node (restart, failover, another cluster shard): EVAL runs and caches it.
      if (isNoScript(error)) return this.eval(script.source, keys, args);
      throw error;
    });
  }

  runDurable(script: Script, keys: string[], args: string[], replicas: number, timeout: number): Promise<DurableReply> {
    return this.evalThenWait(script.source, keys, args, replicas, timeout);
  }

  ready(): Promise<void> {
    return this.ping();
  }

  async close(): Promise<void> {
    // A client passed in belongs to the caller: never quit it.
  }
}
