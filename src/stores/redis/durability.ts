// Durable revocation on replicated Redis (Sentinel, managed services): writes
// that end a token resolve only once `replicas` replicas acknowledged them
// (WAIT), so a failover cannot bring a logged-out session back.

/** The `durability` option of `redisStore`. */
export interface RedisDurabilityOptions {
  /**
   * How many replicas must have a write that ends a token (logout, revoke,
   * revokeUser, login's rotation) before the call resolves: Redis's
   * `WAIT replicas timeout`, sent on the same connection right behind the
   * write. A whole number ≥ 1; at most the number of replicas you run.
   */
  replicas: number;
  /**
   * How long to wait for them, in ms (WAIT's timeout). When fewer replicas
   * confirmed in time, the call rejects with ReplicationUnconfirmedError (an
   * adapter answers 503): the session is already dead on the primary, but a
   * failover could still undo that, so it is never reported as done.
   * A whole number ≥ 1, below `commandTimeout`.
   */
  timeout: number;
  /**
   * Make every write wait, not only those that end a token: new sessions and
   * data patches (set/unset) too. Default false: losing one of those in a
   * failover loses data or signs a user out, but cannot resurrect a session.
   * Touches (sliding expiry) never wait.
   */
  everyWrite?: boolean;
}

export interface ResolvedDurability {
  replicas: number;
  timeout: number;
  everyWrite: boolean;
}

/**
 * A write reached the primary, but fewer replicas than `durability.replicas`
 * confirmed it within `durability.timeout`. For a logout or revoke this means:
 * the token is already refused (the primary deleted it), but a failover in the
 * next moments could promote a replica that still has it, so latchkey does not
 * report success. Retrying the call is safe.
 */
export class ReplicationUnconfirmedError extends Error {
  /** Replicas that confirmed (WAIT's reply); -1 when the connection was lost before WAIT answered. */
  readonly acknowledged: number;
  readonly required: number;
  readonly timeout: number;
  constructor(endpoint: string, operation: string, acknowledged: number, required: number, timeout: number) {
    const what =
      acknowledged < 0
        ? `the connection to Redis at ${endpoint} was lost before the replicas confirmed ${operation}`
        : `only ${acknowledged} of ${required} Redis replica${required === 1 ? "" : "s"} confirmed ${operation} within ${timeout} ms (WAIT ${required} ${timeout} on ${endpoint})`;
    super(
      `latchkey: ${what}; the change is applied on the primary, but a failover now could undo it, so it is not reported as done (durability.replicas: ${required}). ` +
        "Check the replicas' health and replication lag (INFO replication); retrying is safe.",
    );
    this.name = "ReplicationUnconfirmedError";
    this.acknowledged = acknowledged;
    this.required = required;
    this.timeout = timeout;
  }
}

/** Validates the option at construction; null when off. */
export function resolveDurability(value: unknown, commandTimeout: number): ResolvedDurability | null {
  if (value === undefined || value === null || value === false) return null;
  const example = "e.g. durability: { replicas: 1, timeout: 250 }";
  if (typeof value !== "object") throw new TypeError(`latchkey: redisStore durability must be an object, ${example} (got ${JSON.stringify(value)})`);
  const { replicas, timeout, everyWrite, ...rest } = value as Record<string, unknown>;
  const unknown = Object.keys(rest);
  if (unknown.length > 0) {
    throw new TypeError(
      `latchkey: redisStore durability has unknown option${unknown.length > 1 ? "s" : ""} ${unknown.join(", ")}; it takes replicas, timeout and everyWrite, ${example}`,
    );
  }
  if (typeof replicas !== "number" || !Number.isInteger(replicas) || replicas < 1) {
    throw new TypeError(
      `latchkey: redisStore durability.replicas must be a whole number ≥ 1 (how many replicas must confirm a logout), ${example} (got ${String(replicas)})`,
    );
  }
  if (typeof timeout !== "number" || !Number.isInteger(timeout) || timeout < 1) {
    throw new TypeError(
      `latchkey: redisStore durability.timeout must be a whole number of ms ≥ 1 (WAIT 0 would wait forever), ${example} (got ${String(timeout)})`,
    );
  }
  if (timeout >= commandTimeout) {
    throw new TypeError(
      `latchkey: redisStore durability.timeout (${timeout} ms) must be below commandTimeout (${commandTimeout} ms), or every slow WAIT would be reported as Redis not answering; lower durability.timeout or raise commandTimeout`,
    );
  }
  if (everyWrite !== undefined && typeof everyWrite !== "boolean") {
    throw new TypeError(`latchkey: redisStore durability.everyWrite must be true or false (got ${String(everyWrite)})`);
  }
  return { replicas, timeout, everyWrite: everyWrite === true };
}
