/**
 * The storage contract. Every store (memory, SQLite, Redis, PostgreSQL, or a
 * third party's) implements this interface and passes `latchkey/conformance`.
 *
 * Stores know nothing of HTTP or tokens: they see only the session id, which
 * is `route + ":" + base64url(SHA-256(token))` (G5), and plain records.
 */

/** A JSON-serialisable value stored under one top-level session key. */
export type JsonValue = string | number | boolean | null | JsonValue[] | { [key: string]: JsonValue };

/** One session as a store keeps it. Times are milliseconds since the epoch. */
export interface SessionRecord {
  /** `route:hash` — the SHA-256 of the token, never the token itself. */
  id: string;
  userId: string | null;
  data: Record<string, JsonValue>;
  createdAt: number;
  lastSeenAt: number;
  /** min(lastSeenAt + idleTimeout, absoluteExpiresAt): when the store may drop the record. */
  expiresAt: number;
  absoluteExpiresAt: number;
  /** Incremented by every patch and rotation (not by touch). */
  version: number;
  /**
   * The device that signed in, recorded at login (create or rotate). Stores
   * return it from `listUser`; `get` may leave it out (the read path never
   * needs it), and patch and touch leave it as it is.
   */
  device?: DeviceInfo;
  /**
   * This session's own idle timeout in ms (`login(userId, { idleTimeout })`);
   * absent: the manager's. Like every field below it is stored with the
   * session, returned by `get` (the read path enforces it, G4), kept by patch
   * and touch, and written anew by rotate from its input.
   */
  idleTimeout?: number;
  /** `login(userId, { persistent })`: false gives a browser-session cookie; absent: the manager's cookie.persistent. */
  persistent?: boolean;
  /** When the user last proved who they are (login, reauthenticate), ms since the epoch. */
  authenticatedAt?: number;
  /**
   * The signed-in user acting as `userId` (impersonation). Such a session's id
   * has the impersonator's route (userRoute(impersonator)), and it counts as a
   * session of both users: `listUser` and `destroyUser` of either include it.
   */
  impersonator?: string;
}

/** The per-session attributes beyond the data: what a store keeps in its `meta` column or field. */
export type SessionMeta = Pick<SessionRecord, "idleTimeout" | "persistent" | "authenticatedAt" | "impersonator">;

/**
 * A cap on the user's sessions, enforced by `create` and `rotate` in the same
 * atomic step as the write (`maxSessionsPerUser`). Counted: the user's own
 * sessions (userId = the new record's, no impersonator) that are live at `now`
 * (expiresAt and absoluteExpiresAt after it), the rotated one excepted.
 */
export interface SessionLimit {
  max: number;
  /** "end-oldest": delete the least recently seen (lowest lastSeenAt) so that `max` remain with the new one; "refuse": write nothing. */
  onLimit: "end-oldest" | "refuse";
  now: number;
}

export interface CreateInput {
  /** Only on stores with `sessionLimits: true`. */
  limit?: SessionLimit;
  /** Publish this on the store's feed atomically with the write (as in PatchInput); given with a limit only. */
  notice?: string;
}

/** What `create` resolves to when given a limit (without one a store may resolve to nothing). */
export type CreateResult = { status: "ok"; ended: string[] } | { status: "limit" };

/** What a session remembers of the device that signed in. */
export interface DeviceInfo {
  /** The User-Agent header, cut to a bounded length. */
  userAgent?: string;
  /** The client address, only when the app opted in (`recordIp`). */
  ip?: string;
}

/** The top-level keys a request changed (G2): only these are written. */
export interface ChangeSet {
  set: Record<string, JsonValue>;
  unset: string[];
}

export interface PatchInput {
  change: ChangeSet;
  /** New last-seen time and store expiry, written with the patch. */
  lastSeenAt: number;
  expiresAt: number;
  /** When given, the patch applies only if the stored version equals it. */
  expectVersion?: number;
  /**
   * When given, the patch applies only if the merged data (the stored data
   * with this change applied) measures at most this many bytes by
   * {@link dataBytes}; else nothing is written and the result is "too-large".
   * Checked inside the same atomic step as the write, so overlapping patches
   * can never together grow a session past it.
   */
  maxDataBytes?: number;
  /** Publish this on the store's feed atomically with the write (see {@link StoreFeed}). */
  notice?: string;
}

/** The merged data would be over `maxDataBytes`: nothing was written. `bytes`: its size by {@link dataBytes}. */
export type TooLargeResult = { status: "too-large"; bytes: number };

export type PatchResult = { status: "ok"; version: number } | { status: "gone" } | { status: "conflict"; version: number } | TooLargeResult;

/** The new record's meta fields (SessionMeta) are exactly those given: an absent one is absent from the new record. */
export interface RotateInput extends SessionMeta {
  /** The replacement record's id (a fresh token's hash). */
  newId: string;
  userId: string | null;
  /** Changes applied to the old data while it moves to the new id. */
  change: ChangeSet;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  absoluteExpiresAt: number;
  /** The device of the new record; when absent the new record has none. */
  device?: DeviceInfo;
  /** As in PatchInput: over it, the old session stays as it was and the result is "too-large". */
  maxDataBytes?: number;
  /** Publish this on the store's feed atomically with the write (see {@link StoreFeed}). */
  notice?: string;
  /** Only on stores with `sessionLimits: true`: see {@link SessionLimit}. */
  limit?: SessionLimit;
}

/** Options of {@link SessionStore.destroy}. */
export interface DestroyOptions {
  /** Publish this on the store's feed atomically with the write (see {@link StoreFeed}). */
  notice?: string;
}

/** Options of {@link SessionStore.destroyUser}. */
export interface DestroyUserOptions {
  /** Publish this on the store's feed atomically with the write (see {@link StoreFeed}). */
  notice?: string;
  /**
   * For a store that ends the sessions in several steps (Redis: bounded chunks, so other
   * clients' commands run between them): publish this with every step but the last, atomically
   * with it, and `notice` with the last. It names the same user with the same sequence number
   * but asks for no acknowledgement, so a strict revocation waits for acknowledgements of the
   * last step (sent once nothing of the user is left to delete). Absent: publish `notice` with each.
   */
  stepNotice?: string;
  /** The id of a record to keep (the caller's own session): "log out other devices". */
  except?: string;
}

/** Options of {@link SessionStore.listUser}: one page of a user's sessions. */
export interface ListUserOptions {
  /**
   * At most this many records (a positive whole number). With it, records
   * come in ascending order of id (ids never change, so pages stay stable
   * while sessions are added and removed).
   */
  limit?: number;
  /** Only records whose id sorts after this one (the last id of the previous page). */
  after?: string;
}

/**
 * "ok": `ended` lists the sessions a limit ended (when given one). "limit": the
 * limit refused the new session; nothing was written, unless `previousEnded`
 * (a sharded store that had to end the old session first: its token is dead).
 * "too-large": over `maxDataBytes`; nothing was written.
 */
export type RotateResult =
  { status: "ok"; record: SessionRecord; ended?: string[] } | { status: "gone" } | { status: "limit"; previousEnded?: boolean } | TooLargeResult;

/** What watchers need of a session: who, and when it ends. */
export type SessionExpiry = Pick<SessionRecord, "id" | "userId" | "lastSeenAt" | "expiresAt" | "absoluteExpiresAt" | "idleTimeout">;

/** A session a store deleted: what the manager tells watchers and the `ended` hook. */
export interface EndedSession {
  id: string;
  userId: string | null;
  /** The device recorded at login, when the store still had it (a Redis session expired by its TTL has none). */
  device?: DeviceInfo;
  /**
   * destroyUser only: the store had already expired it by its own TTL and only
   * now dropped its trace (Redis's index). Reported as expired, not revoked.
   */
  expired?: true;
}

export interface SessionStore {
  /** Shown in logs and errors, e.g. "sqlite(./sessions.db)". */
  readonly name: string;
  /**
   * True when sessions live in this process's memory only. createSessions
   * refuses such a store in a multi-process deployment (G7).
   */
  readonly processLocal: boolean;
  /**
   * Insert a new record. Rejects with SessionExistsError if the id is taken. Only create inserts (G1).
   * With `input.limit` (stores with `sessionLimits`) it resolves to a {@link CreateResult}.
   */
  create(record: SessionRecord, input?: CreateInput): Promise<void | CreateResult>;
  /** The record, or null when absent. Stores may return expired records; the manager checks expiry (G4). */
  get(id: string): Promise<SessionRecord | null>;
  /** Apply a change set to an existing record, atomically; never inserts (G1, G2). */
  patch(id: string, input: PatchInput): Promise<PatchResult>;
  /** Update last-seen and expiry of an existing record; never inserts. Resolves false when gone. */
  touch(id: string, lastSeenAt: number, expiresAt: number): Promise<boolean>;
  /**
   * Atomically replace `id` by `input.newId`, carrying the data over with the
   * change applied. "gone" when `id` no longer exists; the old id is dead after "ok".
   */
  rotate(id: string, input: RotateInput): Promise<RotateResult>;
  /**
   * Delete one record. Resolves to what was deleted (id, user, device), or
   * null when it did not exist: exactly one of concurrent callers gets it.
   */
  destroy(id: string, options?: DestroyOptions): Promise<EndedSession | null>;
  /**
   * Delete every record of a user in one atomic step, except the record whose
   * id is `options.except` (log out other devices). Resolves to the records it
   * deleted (each reported by exactly one call).
   */
  destroyUser(userId: string, options?: DestroyUserOptions): Promise<EndedSession[]>;
  /** Records of one user (expired ones may be included; the manager filters them). */
  /**
   * Without options: all of them, in any order. With \`limit\` and/or \`after\`:
   * the records with id > \`after\`, in ascending order of id (the store's own
   * string order, the same for \`after\` as for sorting), at most \`limit\` of
   * them, read through an index (keyset), so a page of a user with 10^4
   * sessions costs about what a page of a user with 10 does.
   */
  listUser(userId: string, options?: ListUserOptions): Promise<SessionRecord[]>;
  /**
   * Delete records whose expiry passed before `now`. Resolves to the records it
   * deleted, each reported by exactly one sweep across processes (Redis: those
   * its own TTL removed, found through the user indexes).
   */
  sweep(now: number): Promise<EndedSession[]>;
  /**
   * Optional: the user and times of several sessions in one read (null for
   * each absent one), in the order asked — no data. Watchers on stores
   * without a feed poll with it; without it they call `get` per session.
   */
  expiries?(ids: readonly string[]): Promise<(SessionExpiry | null)[]>;
  close(): Promise<void>;
  /**
   * Present on stores shared over a network (Redis, PostgreSQL): the channel
   * that keeps per-process near-caches coherent and carries strict-revocation
   * acknowledgements. Stores without one cannot be used with `nearCache` or
   * `revocation: "strict"`.
   */
  readonly feed?: StoreFeed;
  /**
   * True when create and rotate enforce a {@link SessionLimit} atomically.
   * createSessions refuses `maxSessionsPerUser` on a store without it.
   */
  readonly sessionLimits?: boolean;
}

/**
 * The messaging a store offers to the manager's near-cache layer. It carries
 * opaque strings: what they mean (invalidations, sequence numbers, acks,
 * pings) is the manager's business, so a third-party store only moves bytes.
 *
 * Contract (checked by `runFeedConformance` in `latchkey/conformance`):
 * - A write given a `notice` publishes it to every listener **atomically with
 *   the write**: whenever the call resolves, whatever its outcome ("ok",
 *   "gone", "conflict"), and never when it fails with an error. Reads and
 *   touches publish nothing.
 * - A listener receives notices and inbox messages in the order the store
 *   committed them (a sharded store: per shard), each at most once, while it
 *   stays connected; `down` is called when the connection is lost (messages
 *   may have been missed), and `up` once it is subscribed again (the feed
 *   reconnects by itself).
 * - Leases are stamped by the store server's clock, never the caller's.
 */
export interface StoreFeed {
  /**
   * Writes that end a token (logout, revoke, rotation) publish their notice
   * from every process, always. Data changes (patches) publish from every
   * process where this is true — publishing costs next to nothing (Redis) —
   * and otherwise (PostgreSQL, where a NOTIFYing commit takes a database-wide
   * lock) only from processes with `nearCache` or `revocation: "strict"`, or
   * when the store was told to.
   */
  readonly publishByDefault?: boolean;
  /**
   * Subscribe to notices and to the messages sent to `inbox`. `up` is called
   * once both subscriptions are confirmed, again after every reconnection.
   */
  listen(inbox: string, listener: FeedListener): FeedSubscription;
  /** Deliver `payload` to the listener of `inbox` (acknowledgements, pings). */
  send(inbox: string, payload: string): Promise<void>;
  /**
   * A sharded store: deliver `payload` to `inbox` once through every shard
   * (each copy behind everything that shard published before it), resolving
   * to how many copies were sent. Without it, a ping is one `send`.
   */
  ping?(inbox: string, payload: string): Promise<number>;
  /** Register or extend the lease of `inbox` to `ttlMs` from now, by the store server's clock. */
  renewLease(inbox: string, ttlMs: number): Promise<void>;
  /** Leases still running by the store server's clock, with the milliseconds each has left. */
  liveLeases(): Promise<LiveLease[]>;
  /** End a lease now (clean shutdown, or a process that fenced itself). */
  dropLease(inbox: string): Promise<void>;
}

export interface FeedListener {
  message(payload: string): void;
  up(): void;
  down(error: Error): void;
}

export interface FeedSubscription {
  /** Unsubscribe and close the feed's connection. */
  close(): Promise<void>;
  /** Drop the connection and open a new one (it went silent): `down`, then `up` once subscribed again. */
  reset?(): void;
}

export interface LiveLease {
  inbox: string;
  remainingMs: number;
}

/** Thrown by `create` when the id already exists. With 256-bit tokens this means a bug, never chance. */
export class SessionExistsError extends Error {
  constructor(id: string) {
    super(`latchkey: a session with id ${id.slice(0, 12)}… already exists; create never overwrites (G1)`);
    this.name = "SessionExistsError";
  }
}

/**
 * The size `maxDataBytes` limits: the UTF-8 bytes of the session data as
 * JSON (`JSON.stringify(data)`). Every store measures the merged data this
 * way, whatever order it keeps the keys in (the order does not change the length).
 * @example
 * dataBytes({ theme: "dark" }); // 16, the bytes of '{"theme":"dark"}'
 */
export function dataBytes(data: Record<string, JsonValue>): number {
  return Buffer.byteLength(JSON.stringify(data));
}

/**
 * A store's verdict on merged data of `bytes` (by {@link dataBytes}): the
 * "too-large" result when over `maxDataBytes`, else null (also without a limit).
 * @example
 * const tooLarge = overLimit(dataBytes(merged), input.maxDataBytes);
 * if (tooLarge) return tooLarge; // before writing anything
 */
export function overLimit(bytes: number, maxDataBytes: number | undefined): TooLargeResult | null {
  return maxDataBytes !== undefined && bytes > maxDataBytes ? { status: "too-large", bytes } : null;
}
