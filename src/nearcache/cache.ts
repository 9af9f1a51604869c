import type { JsonValue, SessionMeta, SessionRecord } from "../store/contract.js";
import { sessionMetaOf } from "../store/records.js";
import { routeOfId, userRoute } from "../store/token.js";

/** How many users' invalidations are remembered for fills in flight before the oldest that no fill began before are let go. */
const MAX_INVALIDATED_USERS = 1024;
/** Rough per-entry cost beyond its strings (Map slots, the entry object). */
const ENTRY_OVERHEAD_BYTES = 160;

interface Entry {
  id: string;
  userId: string | null;
  createdAt: number;
  lastSeenAt: number;
  expiresAt: number;
  absoluteExpiresAt: number;
  version: number;
  /** #uses when it was last moved to the most-recent end. */
  movedAt: number;
  /**
   * The data, decoded once and deeply frozen: every hit shares it, and a
   * Session copies it only when the request reads an object value or writes
   * (a read that changes nothing decodes nothing).
   */
  data: Readonly<Record<string, JsonValue>>;
  bytes: number;
  /** The record's meta fields (per-session lifetime, authenticatedAt, impersonator), or null when it has none. */
  meta: SessionMeta | null;
}

/**
 * A fill in progress: the store read of one id. An invalidation of that id
 * (or a flush) while the read is in flight poisons the ticket, and its reply
 * is then not cached — the reply may predate the invalidation (DESIGN.md,
 * "a read racing an invalidation").
 */
export interface FillTicket {
  readonly id: string;
  poisoned: boolean;
  /** The cache's count of user invalidations when the fill began (see complete()). */
  readonly users: number;
}

/**
 * A bounded LRU of session records, private to one process. Knows nothing of
 * feeds or leases: the coherence layer decides when it may be used and tells
 * it what to forget.
 */
export class NearCache {
  readonly maxEntries: number;
  readonly maxBytes: number;
  /** Map order is recency: the first entry is the least recently used. */
  readonly #entries = new Map<string, Entry>();
  readonly #byUser = new Map<string, Set<string>>();
  readonly #inflight = new Map<string, Set<FillTicket>>();
  /** User invalidations so far, and the last one that named each user while fills were in flight. */
  #userInvalidations = 0;
  readonly #invalidatedUsers = new Map<string, number>();
  #bytes = 0;
  /** Hits so far: an entry is moved to the recent end only if others were used since (a hot entry is not re-inserted on every hit). */
  #uses = 0;

  constructor(maxEntries: number, maxBytes: number) {
    this.maxEntries = maxEntries;
    this.maxBytes = maxBytes;
  }

  get size(): number {
    return this.#entries.size;
  }

  get bytes(): number {
    return this.#bytes;
  }

  /**
   * A copy of the cached record (its own object: the caller may update its
   * times and version) whose `data` is shared and deeply frozen, or
   * undefined. Marks it most recently used.
   */
  get(id: string): SessionRecord | undefined {
    const entry = this.#entries.get(id);
    if (entry === undefined) return undefined;
    // Approximate LRU: an entry used again within the last quarter of the cache's
    // capacity is recent enough; moving it costs two Map operations per hit.
    if (++this.#uses - entry.movedAt > this.maxEntries / 4) {
      entry.movedAt = this.#uses;
      this.#entries.delete(id);
      this.#entries.set(id, entry);
    }
    return {
      id,
      userId: entry.userId,
      data: entry.data as Record<string, JsonValue>,
      createdAt: entry.createdAt,
      lastSeenAt: entry.lastSeenAt,
      expiresAt: entry.expiresAt,
      absoluteExpiresAt: entry.absoluteExpiresAt,
      version: entry.version,
      ...entry.meta,
    };
  }

  /** Starts a fill of `id`; pass the ticket to complete() or abandon(). */
  begin(id: string): FillTicket {
    const ticket: FillTicket = { id, poisoned: false, users: this.#userInvalidations };
    let tickets = this.#inflight.get(id);
    if (tickets === undefined) this.#inflight.set(id, (tickets = new Set()));
    tickets.add(ticket);
    return ticket;
  }

  /** Ends a fill: caches `record` unless the ticket was poisoned meanwhile. Returns whether it was cached. */
  complete(ticket: FillTicket, record: SessionRecord | null): boolean {
    // An impersonation's id is on its impersonator's route, so invalidateUsers() of the user it acts as
    // could not poison its fill by route: a reply that began before that invalidation is not cached.
    const stale = typeof record?.impersonator === "string" && record.userId !== null && (this.#invalidatedUsers.get(record.userId) ?? -1) >= ticket.users;
    this.abandon(ticket);
    if (ticket.poisoned || record === null || stale) return false;
    return this.#put(record);
  }

  abandon(ticket: FillTicket): void {
    const tickets = this.#inflight.get(ticket.id);
    if (tickets === undefined) return;
    tickets.delete(ticket);
    if (tickets.size === 0) this.#inflight.delete(ticket.id);
    // No fill left that began before them: the recorded invalidations can concern none.
    if (this.#inflight.size === 0) this.#invalidatedUsers.clear();
  }

  /** Forgets these ids and poisons their fills in flight. Returns how many entries were dropped. */
  invalidateIds(ids: readonly string[]): number {
    let dropped = 0;
    for (const id of ids) {
      if (this.#remove(id)) dropped++;
      const tickets = this.#inflight.get(id);
      if (tickets) for (const ticket of tickets) ticket.poisoned = true;
    }
    return dropped;
  }

  /**
   * Forgets every session of these users. A fill in flight does not know its
   * user yet, so every fill on the user's route (which all of the user's
   * session ids share) is poisoned.
   */
  invalidateUsers(users: readonly string[]): number {
    let dropped = 0;
    const invalidation = this.#userInvalidations++;
    if (this.#inflight.size > 0) {
      for (const user of users) this.#invalidatedUsers.set(user, invalidation);
      if (this.#invalidatedUsers.size > MAX_INVALIDATED_USERS) this.#pruneInvalidatedUsers();
    }
    for (const user of users) {
      for (const id of [...(this.#byUser.get(user) ?? [])]) if (this.#remove(id)) dropped++;
      const route = userRoute(user);
      for (const [id, tickets] of this.#inflight) {
        if (routeOfId(id) === route) for (const ticket of tickets) ticket.poisoned = true;
      }
    }
    return dropped;
  }

  /** Keeps only the invalidations some fill in flight began before (fills stay in flight for ever under constant load). */
  #pruneInvalidatedUsers(): void {
    let oldest = this.#userInvalidations;
    for (const tickets of this.#inflight.values()) for (const ticket of tickets) oldest = Math.min(oldest, ticket.users);
    for (const [user, invalidation] of this.#invalidatedUsers) if (invalidation < oldest) this.#invalidatedUsers.delete(user);
  }

  /** Forgets everything and poisons every fill in flight. */
  flush(): void {
    this.#entries.clear();
    this.#byUser.clear();
    this.#bytes = 0;
    for (const tickets of this.#inflight.values()) for (const ticket of tickets) ticket.poisoned = true;
  }

  /** This process touched `id` in the store: keep the cached copy's sliding expiry in step. */
  touched(id: string, lastSeenAt: number, expiresAt: number): void {
    const entry = this.#entries.get(id);
    if (entry === undefined || entry.lastSeenAt >= lastSeenAt) return;
    entry.lastSeenAt = lastSeenAt;
    entry.expiresAt = expiresAt;
  }

  #put(record: SessionRecord): boolean {
    const json = JSON.stringify(record.data);
    const bytes = (json.length + record.id.length + (record.userId?.length ?? 0)) * 2 + ENTRY_OVERHEAD_BYTES;
    if (bytes > this.maxBytes) return false;
    this.#remove(record.id);
    const meta = sessionMetaOf(record);
    this.#entries.set(record.id, {
      id: record.id,
      userId: record.userId,
      createdAt: record.createdAt,
      lastSeenAt: record.lastSeenAt,
      expiresAt: record.expiresAt,
      absoluteExpiresAt: record.absoluteExpiresAt,
      version: record.version,
      movedAt: this.#uses,
      // Decoded from the JSON, not copied from record.data: JSON.parse makes a "__proto__" key an own property.
      data: deepFreeze(JSON.parse(json) as Record<string, JsonValue>),
      bytes,
      meta: Object.keys(meta).length === 0 ? null : meta,
    });
    this.#bytes += bytes;
    // An impersonation is a session of both users: forgetting either user forgets it.
    for (const user of [record.userId, record.impersonator]) {
      if (user === null || user === undefined) continue;
      let ids = this.#byUser.get(user);
      if (ids === undefined) this.#byUser.set(user, (ids = new Set()));
      ids.add(record.id);
    }
    while (this.#entries.size > this.maxEntries || this.#bytes > this.maxBytes) {
      this.#remove(this.#entries.keys().next().value!);
    }
    return true;
  }

  #remove(id: string): boolean {
    const entry = this.#entries.get(id);
    if (entry === undefined) return false;
    this.#entries.delete(id);
    this.#bytes -= entry.bytes;
    for (const user of [entry.userId, entry.meta?.impersonator]) {
      if (user === null || user === undefined) continue;
      const ids = this.#byUser.get(user);
      ids?.delete(id);
      if (ids?.size === 0) this.#byUser.delete(user);
    }
    return true;
  }
}

/** Freezes a decoded JSON value and everything in it, in place. */
function deepFreeze<T extends JsonValue>(value: T): T {
  if (value !== null && typeof value === "object") {
    for (const key of Object.keys(value)) deepFreeze((value as Record<string, JsonValue>)[key]!);
    Object.freeze(value);
  }
  return value;
}
