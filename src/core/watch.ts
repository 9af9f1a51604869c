// sessions.watch(): tells a live connection (WebSocket, Socket.IO, server-sent
// events) that its session ended, in every process that watches it.
//
// Three sources, whichever comes first, and each watch fires exactly once:
// - this process ended it (logout, revoke, rotation, expiry, sweep): the write
//   tells the registry directly, before it resolves;
// - another process ended it: its notice on the store's feed (Redis, Cluster,
//   PostgreSQL). A notice naming a user (revokeUser, logoutOthers) is checked
//   against the store first, so a kept session or one created after it is not
//   told; a store without a feed is polled every `watchInterval`, one read for
//   every watched session;
// - it expired: a timer at its expiry re-reads it (another process may have
//   kept it alive), so expiry is told at the expiry time without any request.
import type { DestroyReason } from "./options.js";
import type { SessionExpiry } from "../store/contract.js";

/**
 * Why a watched session ended. The reasons of `DestroyReason` (logout,
 * revoke, revoke-user, logout-others, expired, ...), or:
 * - "rotated": its token was replaced (login, reauthentication): the handle is
 *   dead, the browser holds a new cookie; a connection should re-authenticate or close;
 * - "gone": the store no longer has it and this process cannot tell why (a
 *   store without a feed, ended by another process; or notices were lost).
 */
export type WatchReason = DestroyReason | "rotated" | "gone";

/** What a watch listener is called with, once. */
export interface WatchEvent {
  handle: string;
  userId: string | null;
  reason: WatchReason;
}

export type WatchListener = (event: WatchEvent) => void;

/** What the registry needs from the manager. */
export interface WatchHost {
  now(): number;
  isExpired(record: SessionExpiry, now: number): boolean;
  /** The user and times of `ids` (null when absent), in one store read where the store allows. */
  readMany(ids: readonly string[]): Promise<(SessionExpiry | null)[]>;
  /** Deletes an expired session (its `ended` event, its notice); the registry is told through ended(). */
  expire(record: SessionExpiry): Promise<void>;
  warn(message: string): void;
  error(message: string): void;
}

interface Watched {
  handle: string;
  userId: string | null;
  /** When it ends unless used again, as last read; 0 until the first read. */
  deadline: number;
  timer: NodeJS.Timeout | undefined;
  listeners: Set<{ listener: WatchListener }>;
}

/** setTimeout's largest delay: later deadlines are re-armed when it fires. */
const MAX_TIMER_MS = 2 ** 31 - 1;
/** A session missing this close to its expiry time counts as expired. */
const EXPIRY_SLACK_MS = 5;
/**
 * With a feed, how long a session found missing waits for the notice that names its reason before it
 * is told "gone" (a notice and a read's reply travel on different connections, in either order).
 */
const NOTICE_GRACE_MS = 100;
/** Reads of many handles go out in chunks of this many ids. */
const READ_CHUNK = 1000;

export class WatchRegistry {
  readonly #host: WatchHost;
  readonly #pollMs: number | null;
  readonly #sessions = new Map<string, Watched>();
  readonly #byUser = new Map<string, Set<string>>();
  /** Handles watched but not read yet: read together on the next turn. */
  #unread = new Set<string>();
  #readScheduled = false;
  #poll: NodeJS.Timeout | undefined;
  #polling = false;
  #closed = false;

  /** `pollMs`: how often a store without a feed is re-read for ends told by nobody; null with a feed. */
  constructor(host: WatchHost, pollMs: number | null) {
    this.#host = host;
    this.#pollMs = pollMs;
  }

  get size(): number {
    return this.#sessions.size;
  }

  watch(handle: string, listener: WatchListener): () => void {
    if (this.#closed) throw new Error("latchkey: sessions.watch() after sessions.close()");
    const entry = { listener };
    let watched = this.#sessions.get(handle);
    if (!watched) {
      watched = { handle, userId: null, deadline: 0, timer: undefined, listeners: new Set() };
      this.#sessions.set(handle, watched);
      this.#unread.add(handle);
      this.#scheduleRead();
      this.#startPolling();
    }
    watched.listeners.add(entry);
    const target = watched;
    return () => {
      if (!target.listeners.delete(entry) || target.listeners.size > 0 || this.#sessions.get(handle) !== target) return;
      this.#remove(target);
    };
  }

  /** These sessions ended (this process's write, or an id notice): tell their watchers now. */
  ended(ids: readonly string[], reason: WatchReason): void {
    for (const id of ids) {
      const watched = this.#sessions.get(id);
      if (watched) this.#fire(watched, reason);
    }
  }

  /**
   * A notice named whole users (revokeUser, logoutOthers): their watched
   * sessions are re-read, and only those the store no longer has are told,
   * so the kept session and any created after the revocation are not.
   */
  async endedUsers(users: readonly string[], reason: WatchReason): Promise<void> {
    const handles: string[] = [];
    for (const user of users) for (const handle of this.#byUser.get(user) ?? []) handles.push(handle);
    if (handles.length > 0) await this.#check(handles, reason);
  }

  /** Notices may have been missed: re-read every watched session. */
  resync(): Promise<void> {
    return this.#check([...this.#sessions.keys()], "gone");
  }

  close(): void {
    this.#closed = true;
    clearInterval(this.#poll);
    for (const watched of this.#sessions.values()) clearTimeout(watched.timer);
    this.#sessions.clear();
    this.#byUser.clear();
    this.#unread.clear();
  }

  // ---- reading ---------------------------------------------------------------

  #scheduleRead(): void {
    if (this.#readScheduled) return;
    this.#readScheduled = true;
    setImmediate(() => {
      this.#readScheduled = false;
      const handles = [...this.#unread];
      this.#unread = new Set();
      void this.#check(handles, "gone");
    });
  }

  /**
   * Reads `handles` and settles each still watched: absent → told (`reason`,
   * or "expired" when its known deadline passed), expired → deleted as such,
   * alive → its expiry timer set from the record.
   */
  async #check(handles: readonly string[], reason: WatchReason): Promise<void> {
    for (let i = 0; i < handles.length; i += READ_CHUNK) {
      const chunk = handles.slice(i, i + READ_CHUNK);
      let records: (SessionExpiry | null)[];
      try {
        records = await this.#host.readMany(chunk);
      } catch (error) {
        // Fail closed would mean telling every connection its session ended; a retry is the next poll, timer or notice.
        this.#host.warn(
          `latchkey: watched sessions could not be read (${(error as Error).message}); they are checked again on the next poll, expiry or notice`,
        );
        for (const handle of chunk) {
          const watched = this.#sessions.get(handle);
          if (watched && watched.deadline === 0) this.#arm(watched, this.#host.now() + 1000);
        }
        continue;
      }
      const now = this.#host.now();
      chunk.forEach((handle, j) => {
        const watched = this.#sessions.get(handle);
        if (!watched) return;
        const record = records[j];
        if (!record) {
          // Past its known expiry time, it expired (the store's TTL may run a millisecond ahead of this clock).
          const why = watched.deadline !== 0 && now >= watched.deadline - EXPIRY_SLACK_MS ? "expired" : reason;
          // With a feed, the notice of the write that deleted it is on its way on another connection, and may
          // arrive after this read's reply: it tells the real reason (logout, revoke...) if it comes in time.
          if (why === "gone" && this.#pollMs === null) setTimeout(() => this.#fire(watched, "gone"), NOTICE_GRACE_MS).unref();
          else this.#fire(watched, why);
        } else if (this.#host.isExpired(record, now)) {
          this.#expire(watched, record);
        } else {
          this.#track(watched, record);
        }
      });
    }
  }

  #track(watched: Watched, record: SessionExpiry): void {
    if (watched.userId === null && record.userId !== null) {
      watched.userId = record.userId;
      let handles = this.#byUser.get(record.userId);
      if (!handles) this.#byUser.set(record.userId, (handles = new Set()));
      handles.add(watched.handle);
    }
    const deadline = Math.min(record.expiresAt, record.absoluteExpiresAt);
    if (deadline !== watched.deadline || watched.timer === undefined) this.#arm(watched, deadline);
  }

  #arm(watched: Watched, deadline: number): void {
    clearTimeout(watched.timer);
    if (watched.deadline === 0 || deadline > 0) watched.deadline = deadline;
    const delay = Math.min(MAX_TIMER_MS, Math.max(0, deadline - this.#host.now()));
    watched.timer = setTimeout(() => {
      watched.timer = undefined;
      // Missing at its expiry time: it expired (Redis's TTL, another process's sweep or read).
      if (this.#sessions.get(watched.handle) === watched) void this.#check([watched.handle], "expired");
    }, delay);
    watched.timer.unref();
  }

  #expire(watched: Watched, record: SessionExpiry): void {
    this.#host.expire(record).then(
      () => this.#fire(watched, "expired"), // already told if the delete was ours; told here if another process deleted it
      (error: Error) => {
        this.#host.warn(`latchkey: could not delete an expired watched session: ${error.message}`);
        this.#fire(watched, "expired"); // expired either way (G4)
      },
    );
  }

  // ---- polling (stores without a feed) ------------------------------------------

  #startPolling(): void {
    if (this.#pollMs === null || this.#poll !== undefined) return;
    this.#poll = setInterval(() => {
      if (this.#sessions.size === 0) {
        clearInterval(this.#poll);
        this.#poll = undefined;
        return;
      }
      if (this.#polling) return; // the previous poll is still reading
      this.#polling = true;
      void this.resync().finally(() => (this.#polling = false));
    }, this.#pollMs);
    this.#poll.unref();
  }

  // ---- telling ---------------------------------------------------------------------

  /** Exactly once: the session stops being watched before any listener runs. */
  #fire(watched: Watched, reason: WatchReason): void {
    if (this.#sessions.get(watched.handle) !== watched) return;
    this.#remove(watched);
    const event: WatchEvent = { handle: watched.handle, userId: watched.userId, reason };
    for (const { listener } of watched.listeners) {
      try {
        listener(event);
      } catch (error) {
        this.#host.error(`latchkey: a sessions.watch() listener threw: ${(error as Error).stack ?? String(error)}`);
      }
    }
  }

  #remove(watched: Watched): void {
    clearTimeout(watched.timer);
    this.#sessions.delete(watched.handle);
    this.#unread.delete(watched.handle);
    if (watched.userId !== null) {
      const handles = this.#byUser.get(watched.userId);
      handles?.delete(watched.handle);
      if (handles?.size === 0) this.#byUser.delete(watched.userId);
    }
  }
}
