// `durability` on a Redis Cluster: WAIT counts the writes of its own connection,
// so the script and its WAIT go, pipelined, to the one master that serves the
// script's slot, on that master's connection — never through the cluster
// client's routing, which could send them to two nodes. A redirection (the
// slot moved: MOVED; it is moving: ASK; its keys are split mid-move: TRYAGAIN)
// means the script did not run, so it is sent again where Redis says; anything
// else (a dead connection, CLUSTERDOWN) is not retried and fails the call:
// a write is never reported durable unless its own primary's WAIT said so.
import type { DurableReply } from "./commands.js";
import { keySlot } from "./slot.js";

/** One master's connection, as each client library exposes it. */
export interface ClusterTarget<Node> {
  node: Node;
  /** "host:port", for errors. */
  address: string;
}

export interface ClusterRouting<Node> {
  /** The master that serves `slot` in the client's current view of the cluster; null when none is known. */
  masterOf(slot: number): ClusterTarget<Node> | null;
  /** The master at "host:port" (from an ASK redirection); null when the client does not know it. */
  masterAt(address: string): ClusterTarget<Node> | null;
  /** Re-reads the slot map from the cluster (after MOVED, or a master that stopped answering). */
  refresh(): Promise<void>;
  /** [ASKING,] EVAL, WAIT pipelined on `node`'s one connection; -1 for WAIT when that connection closed in between. */
  evalThenWait(node: Node, asking: boolean, source: string, keys: string[], args: string[], replicas: number, timeout: number): Promise<DurableReply>;
}

/** MOVED / ASK redirections followed before giving up (a slot moving back and forth, a refresh that keeps lagging). */
const MAX_REDIRECTIONS = 8;
/**
 * How long TRYAGAIN is retried: a script whose keys are split between the two
 * masters of a slot being moved (a new session's keys do not exist yet on
 * either) can run only once the slot has moved, which redis-cli does slot by
 * slot, in milliseconds for a slot of sessions. The call's deadline still applies.
 */
const TRYAGAIN_BUDGET_MS = 1500;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * `refresh` shared by concurrent callers and run at most once per `intervalMs`:
 * while a master is down every request fails at once, and each failure asks for
 * a new slot map; one CLUSTER SLOTS per interval is enough to notice the promotion.
 * @example
 * const refresh = throttledRefresh(() => cluster.rediscover(), 100);
 */
export function throttledRefresh(refresh: () => Promise<void>, intervalMs: number): () => Promise<void> {
  let running: Promise<void> | undefined;
  let last = -Infinity;
  return () => {
    running ??= sleep(Math.max(0, last + intervalMs - performance.now()))
      .then(refresh)
      .finally(() => {
        last = performance.now();
        running = undefined;
      });
    return running;
  };
}

/** An error Redis answered (node-redis ErrorReply and its subclasses, ioredis ReplyError), not a connection's failure. */
export function isRedisReply(error: unknown): boolean {
  if (!(error instanceof Error)) return false;
  for (let proto = Object.getPrototypeOf(error); proto && proto !== Error.prototype; proto = Object.getPrototypeOf(proto)) {
    const name = (proto as { constructor?: { name?: string } }).constructor?.name;
    if (name === "ErrorReply" || name === "ReplyError") return true;
  }
  return false;
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/**
 * Runs `source` on the master of `keys[0]`'s slot and WAITs there, following
 * MOVED / ASK / TRYAGAIN; every other failure rejects (the caller answers 503).
 * @example
 * const { reply, acknowledged } = await clusterEvalThenWait(routing, "redis.call('DEL', KEYS[1])", ["k"], [], 1, 250);
 */
export async function clusterEvalThenWait<Node>(
  routing: ClusterRouting<Node>,
  source: string,
  keys: string[],
  args: string[],
  replicas: number,
  timeout: number,
): Promise<DurableReply> {
  const slot = keySlot(keys[0] ?? "");
  let asked: ClusterTarget<Node> | null = null;
  const started = performance.now();
  let redirections = 0;
  for (let attempt = 0; ; attempt++) {
    let target = asked ?? routing.masterOf(slot);
    if (!target) {
      await routing.refresh();
      target = routing.masterOf(slot);
    }
    if (!target) throw new Error(`latchkey: no Redis Cluster master is known for slot ${slot}`);
    try {
      return await routing.evalThenWait(target.node, asked !== null, source, keys, args, replicas, timeout);
    } catch (error) {
      const text = message(error);
      const redirected = /^(MOVED|ASK|TRYAGAIN)\b/.test(text);
      if (!redirected) {
        // A master that stopped answering may have been replaced: the next call should find its successor.
        if (!isRedisReply(error) || text.startsWith("CLUSTERDOWN")) void routing.refresh().catch(() => undefined);
        throw error;
      }
      const retrying = text.startsWith("TRYAGAIN");
      if (retrying ? performance.now() - started > TRYAGAIN_BUDGET_MS : ++redirections > MAX_REDIRECTIONS) {
        throw new Error(`latchkey: Redis Cluster slot ${slot} kept redirecting (last: ${text}); the write was not applied`, { cause: error });
      }
      asked = null;
      if (text.startsWith("ASK ")) {
        const address = text.slice(text.lastIndexOf(" ") + 1);
        asked = routing.masterAt(address);
        if (!asked) {
          await routing.refresh();
          asked = routing.masterAt(address);
        }
        if (!asked) throw new Error(`latchkey: Redis Cluster redirected slot ${slot} to ${address} (ASK), a node the client does not know`, { cause: error });
      } else if (text.startsWith("MOVED ")) {
        await routing.refresh();
      } else {
        // TRYAGAIN: the slot's keys are split between two masters for a moment (a migration in progress).
        // The map is refreshed too: once the slot has moved, the old master answers MOVED anyway.
        await sleep(Math.min(100, 10 * (attempt + 1)));
      }
    }
  }
}
