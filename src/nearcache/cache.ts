import type { JsonValue, SessionRecord } from "../store/contract.js";
import { routeOfId, userRoute } from "../store/token.js";

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
  /** The data as JSON: every hit parses its own copy, so no request can mutate another's. */
  json: string;
  bytes: number;
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

  /** A private copy of the cached record, or undefined. Marks it most recently used. */
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
      data: JSON.parse(entry.json) as Record<string, JsonValue>,
      createdAt: entry.createdAt,
      lastSeenAt: entry.lastSeenAt,
      expiresAt: entry.expiresAt,
      absoluteExpiresAt: entry.absoluteExpiresAt,
      version: entry.version,
    };
  }

  /** Starts a fill of `id`; pass the ticket to complete() or abandon(). */
  begin(id: string): FillTicket {
    const ticket: FillTicket = { id, poisoned: false };
    let tickets = this.#inflight.get(id);
    if (tickets === undefined) this.#inflight.set(id, (tickets = new Set()));
    tickets.add(ticket);
    return ticket;
  }

  /** Ends a fill: caches `record` unless the ticket was poisoned meanwhile. Returns whether it was cached. */
  complete(ticket: FillTicket, record: SessionRecord | null): boolean {
    this.abandon(ticket);
    if (ticket.poisoned || record === null) return false;
    return this.#put(record);
  }

  abandon(ticket: FillTicket): void {
    const tickets = this.#inflight.get(ticket.id);
    if (tickets === undefined) return;
    tickets.delete(ticket);
    if (tickets.size === 0) this.#inflight.delete(ticket.id);
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
    for (const user of users) {
      for (const id of [...(this.#byUser.get(user) ?? [])]) if (this.#remove(id)) dropped++;
      const route = userRoute(user);
      for (const [id, tickets] of this.#inflight) {
        if (routeOfId(id) === route) for (const ticket of tickets) ticket.poisoned = true;
      }
    }
    return dropped;
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
    this.#entries.set(record.id, {
      id: record.id,
      userId: record.userId,
      createdAt: record.createdAt,
      lastSeenAt: record.lastSeenAt,
      expiresAt: record.expiresAt,
      absoluteExpiresAt: record.absoluteExpiresAt,
      version: record.version,
      movedAt: this.#uses,
      json,
      bytes,
    });
    this.#bytes += bytes;
    if (record.userId !== null) {
      let ids = this.#byUser.get(record.userId);
      if (ids === undefined) this.#byUser.set(record.userId, (ids = new Set()));
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
    if (entry.userId !== null) {
      const ids = this.#byUser.get(entry.userId);
      ids?.delete(id);
      if (ids?.size === 0) this.#byUser.delete(entry.userId);
    }
    return true;
  }
}
