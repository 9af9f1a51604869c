import { Engine } from "./engine.js";
import {
  assertStoreFitsDeployment,
  resolveOptions,
  type Logger,
  type ResolvedCookieOptions,
  type ResolvedCsrfOptions,
  type SessionsOptions,
} from "./options.js";
import type { NearCacheStats } from "../nearcache/index.js";
import type { Session, Transport } from "./session.js";
import type { RequestContext } from "./request.js";
import type { JsonValue } from "../store/contract.js";
import type { WatchListener } from "./watch.js";
import { assertHandle, assertUserId } from "./validate.js";
import { sessionInfos, type SessionInfo } from "./list.js";

export * from "./errors.js";
export type {
  CookieOptions,
  CsrfOptions,
  DestroyReason,
  Logger,
  NearCacheOptions,
  ResolvedCookieOptions,
  ResolvedCsrfOptions,
  SameSite,
  SessionEndedEvent,
  SessionHooks,
  SessionsOptions,
} from "./options.js";
export type { WatchEvent, WatchListener, WatchReason } from "./watch.js";
export type { FeedState, NearCacheStats, LatencySummary } from "../nearcache/index.js";
export type { SessionsMetrics, StoreOperation } from "./metrics.js";
export type { RequestContext } from "./request.js";
export type { Session, Flashes, LoginOptions, Transport } from "./session.js";
export type { JsonValue } from "../store/contract.js";
export { deviceLabel } from "../devices/index.js";
export type { SessionInfo } from "./list.js";
export { RESERVED_KEY_PREFIX } from "./validate.js";

/** What `sessions.stats()` returns. */
export type SessionsStats = NearCacheStats;

const NO_LATENCY = { count: 0, p50: null, p99: null, max: null };
const DISABLED_STATS: SessionsStats = {
  enabled: false,
  revocation: "bounded",
  feed: "off",
  serving: false,
  entries: 0,
  bytes: 0,
  hits: 0,
  misses: 0,
  bypasses: 0,
  invalidations: 0,
  flushes: { total: 0, feedLost: 0, gap: 0, lease: 0, malformed: 0 },
  propagationMs: NO_LATENCY,
  strictWaitMs: NO_LATENCY,
  strictWaitedOut: 0,
};

/** Options of {@link Sessions.load}. */
export interface LoadOptions {
  /** "bearer" when the values came from an `Authorization: Bearer` header (no cookie is set or cleared). Default "cookie". */
  transport?: Transport;
}

/** Options of {@link Sessions.revokeUser}. */
export interface RevokeUserOptions {
  /** A handle to keep (the caller's own session): "log out other devices". */
  except?: string;
}

/** Options of {@link Sessions.list} that ask for one page. */
export interface ListOptions {
  /** At most this many sessions per page: a whole number from 1 to 1000. Default 100. */
  limit?: number;
  /** `next` of the previous page; absent or null for the first page. */
  cursor?: string | null;
}

/** One page of a user's sessions, from {@link Sessions.list} with options. */
export interface SessionPage {
  /** The live sessions of this page, in a fixed order (by handle) that adding or ending sessions does not disturb. */
  items: SessionInfo[];
  /** Pass as `cursor` for the next page; null after the last. */
  next: string | null;
}

const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;

/** Options of {@link Sessions.revoke}. */
export interface RevokeOptions {
  /** Revoke only if the session belongs to this user; another user's handle is refused (false). */
  userId?: string;
}

/** The session manager returned by {@link createSessions}. */
export class Sessions<Data extends object = Record<string, JsonValue>> {
  #engine: Engine;
  #sweeper: NodeJS.Timeout | undefined;
  #closed = false;

  /** @internal Use createSessions(). */
  constructor(engine: Engine) {
    this.#engine = engine;
    const { sweepInterval } = engine.options;
    if (sweepInterval !== false) {
      this.#sweeper = setInterval(() => {
        this.sweep().catch((error: Error) => engine.options.logger.warn(`latchkey: sweeping expired sessions failed: ${error.message}`));
      }, sweepInterval);
      this.#sweeper.unref();
    }
    engine.metrics?.observe(() => this.stats());
  }

  /** Cookie settings, for adapters. */
  get cookie(): ResolvedCookieOptions {
    return this.#engine.options.cookie;
  }

  /** For adapters: whether `Authorization: Bearer` is accepted (the `bearer` option). */
  get bearer(): boolean {
    return this.#engine.options.bearer;
  }

  /** For adapters: the `csrf` option, or null when off. */
  get csrf(): ResolvedCsrfOptions | null {
    return this.#engine.options.csrf;
  }

  get logger(): Logger {
    return this.#engine.options.logger;
  }

  /** The store's name, for log lines. */
  get storeName(): string {
    return this.#engine.store.name;
  }

  /**
   * The session for a request, from the values of its session cookie
   * (adapters call this). Malformed values are never looked up. Rejects with
   * StoreUnavailableError when the store cannot answer (G6).
   * @example
   * const secure = true; // false only for plain HTTP to localhost (see cookie.secure)
   * const session = await sessions.load(readCookie(req.headers.cookie, cookieName(sessions.cookie, secure)));
   */
  load(cookieValues: string | readonly string[] | undefined, request?: RequestContext, options?: LoadOptions): Promise<Session<Data>> {
    const values = cookieValues === undefined ? [] : typeof cookieValues === "string" ? [cookieValues] : cookieValues;
    return this.#engine.loader.load<Data>(values, request, options?.transport);
  }

  /**
   * @internal For adapters: the session when the near-cache can answer at
   * once (one cached, unexpired session), else undefined — then use load().
   * Saves a promise and a microtask on the common authenticated read.
   */
  loadCached(cookieValues: readonly string[], request?: RequestContext, options?: LoadOptions): Session<Data> | undefined {
    return this.#engine.loader.loadCached<Data>(cookieValues, request, options?.transport);
  }

  /**
   * Log a user out everywhere, atomically: sessions created concurrently are
   * either counted here or were created after it resolved. With `except`,
   * every session but that one ("log out other devices";
   * `session.logoutOthers()` does this for the signed-in user).
   * @returns how many sessions were destroyed
   * @example
   * const count = await sessions.revokeUser("alice");
   * @example
   * await sessions.revokeUser("alice", { except: req.session.handle! });
   */
  async revokeUser(userId: string, options: RevokeUserOptions = {}): Promise<number> {
    assertUserId(userId, "revokeUser");
    if (options === null || typeof options !== "object") {
      throw new TypeError("latchkey: revokeUser(userId, options): options must be an object such as { except: handle }");
    }
    if (options.except !== undefined) assertHandle(options.except, "revokeUser", "except");
    return this.#engine.destroyUser(userId, options.except);
  }

  /**
   * The live sessions of a user, most recently seen first, each with the
   * device that signed in (parsed here, never on the read path), its own
   * lifetime, and `impersonator` on impersonations (listed for the user viewed
   * as and for the impersonator). This reads every session of the user: when
   * a user may have thousands, ask for pages.
   * @example
   * for (const s of await sessions.list("alice")) console.log(s.handle, s.device, new Date(s.lastSeenAt));
   * // 2J9x:kq…  Firefox on Linux  2026-12-01T21:04:11.000Z
   */
  list(userId: string): Promise<SessionInfo[]>;
  /**
   * One page of a user's live sessions: `{ items, next }`. Pages come in a
   * fixed order (by handle), read through the store's index: each page costs
   * the same however many sessions the user has, and a session that lives
   * throughout the listing is listed exactly once, whatever is added or ended
   * meanwhile. A page may hold fewer than `limit` sessions (expired ones are
   * left out); keep going while `next` is not null.
   * @example
   * let cursor: string | null = null;
   * do {
   *   const page = await sessions.list("alice", { limit: 100, cursor });
   *   for (const s of page.items) console.log(s.handle, s.device);
   *   cursor = page.next;
   * } while (cursor !== null);
   */
  list(userId: string, options: ListOptions): Promise<SessionPage>;
  async list(userId: string, options?: ListOptions): Promise<SessionInfo[] | SessionPage> {
    assertUserId(userId, "list");
    if (options === undefined) {
      const records = await this.#engine.call(() => this.#engine.store.listUser(userId));
      return sessionInfos(this.#engine, userId, records).sort((a, b) => b.lastSeenAt - a.lastSeenAt);
    }
    if (options === null || typeof options !== "object") {
      throw new TypeError("latchkey: list(userId, options): options must be an object such as { limit: 100, cursor: page.next }");
    }
    const limit = options.limit ?? DEFAULT_PAGE_SIZE;
    if (typeof limit !== "number" || !Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
      throw new TypeError(`latchkey: list(userId, { limit }): limit must be a whole number from 1 to ${MAX_PAGE_SIZE} (got ${String(limit)})`);
    }
    const cursor = options.cursor ?? undefined;
    if (cursor !== undefined) assertHandle(cursor, "list", "cursor");
    const records = await this.#engine.call(() => this.#engine.store.listUser(userId, cursor === undefined ? { limit } : { limit, after: cursor }));
    const next = records.length >= limit ? records[records.length - 1]!.id : null;
    return { items: sessionInfos(this.#engine, userId, records.slice(0, limit)), next };
  }

  /**
   * Destroy one session by its public handle (from `list()` or `session.handle`).
   * With `userId`, only if the session belongs to that user: a handle of
   * another user's (or an anonymous) session is refused and nothing is
   * revoked — pass it when the handle comes from the client ("sign out this
   * device" on an account page).
   * @returns true if it existed (and, with `userId`, was that user's)
   * @example
   * await sessions.revoke(handle);
   * @example
   * // A handle posted by a signed-in user: never end someone else's session.
   * const revoked = await sessions.revoke(req.body.handle, { userId: req.session.userId! });
   */
  async revoke(handle: string, options: RevokeOptions = {}): Promise<boolean> {
    assertHandle(handle, "revoke");
    if (options === null || typeof options !== "object") {
      throw new TypeError("latchkey: revoke(handle, options): options must be an object such as { userId }");
    }
    if (options.userId === undefined) return this.#engine.destroy({ id: handle, userId: null }, "revoke");
    assertUserId(options.userId, "revoke");
    // Check, then destroy, is safe: a handle's user never changes (every change of user — login,
    // rotation — moves the session to a fresh handle, and handles are never reused), so a record that
    // names this user now can be ended only as this user's, and one that does not never will.
    const record = await this.#engine.call(() => this.#engine.store.get(handle));
    if (record === null || record.userId !== options.userId) return false;
    return this.#engine.destroy({ id: handle, userId: options.userId }, "revoke");
  }

  /**
   * Delete expired records now (also runs every `sweepInterval`).
   * @example
   * const removed = await sessions.sweep();
   */
  async sweep(): Promise<number> {
    const removed = await this.#engine.sweep();
    // A migration's leftovers in the old store (sealed tokens past their grace period): never fails the sweep.
    await this.#engine.options.migrateFrom
      ?.sweep?.()
      .catch((error: Error) => this.logger.warn(`latchkey: sweeping the migration's old store failed: ${error.message}`));
    return removed;
  }

  /**
   * Call `listener` once when the session `handle` ends, however it ends and
   * whichever process ends it: logout, revoke, revokeUser, logoutOthers,
   * rotation of its token by login ("rotated"), idle or absolute expiry
   * ("expired", told at the expiry time without any request). For live
   * connections (WebSocket, Socket.IO, server-sent events): close them in the
   * listener. Stores with a feed (Redis, PostgreSQL) tell every watching
   * process within the propagation delay; SQLite and memory within
   * `watchInterval` (default 1 s). Under `revocation: "strict"` a logout or
   * revoke resolves only after every process's listeners ran (or a frozen
   * process's lease ran out). Returns a function that stops watching.
   * @example
   * const session = await sessions.load(sessionCookieValues(sessions, req.headers.cookie, secure));
   * if (session.userId === null) return socket.destroy();
   * const stop = sessions.watch(session.handle!, ({ reason }) => ws.close(4401, `session ended: ${reason}`));
   * ws.on("close", stop);
   */
  watch(handle: string, listener: WatchListener): () => void {
    assertHandle(handle, "watch");
    if (typeof listener !== "function")
      throw new TypeError("latchkey: sessions.watch(handle, listener): listener must be a function, e.g. ({ reason }) => socket.close(4401, reason)");
    return this.#engine.watchers().watch(handle, listener);
  }

  /**
   * Activity on a long-lived connection (a WebSocket message, say) keeps its
   * session alive as a request does: the idle timeout slides, with at most one
   * store write per `touchInterval` (none when not due). Resolves to whether
   * the session is still live.
   * @example
   * ws.on("message", async () => {
   *   if (!(await sessions.touch(handle))) ws.close(4401, "session ended: expired");
   * });
   */
  touch(handle: string): Promise<boolean> {
    assertHandle(handle, "touch");
    return this.#engine.touchHandle(handle);
  }

  /**
   * Counters of this process's near-cache and invalidation feed: hits,
   * misses, bypasses, invalidations, flushes (and why), propagation latency,
   * and how long strict revocations waited. All zero, with `feed: "off"`,
   * when the store has no feed.
   * @example
   * const { hits, misses, propagationMs } = sessions.stats();
   * console.log(`hit rate ${(hits / (hits + misses)).toFixed(3)}, p99 ${propagationMs.p99} ms`);
   */
  stats(): SessionsStats {
    return this.#engine.coherence?.stats() ?? DISABLED_STATS; // no feed: neither a near-cache nor strict revocation
  }

  /**
   * Stop the sweeper and close the store.
   * @example
   * process.on("SIGTERM", () => sessions.close());
   */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#sweeper);
    this.#engine.closeWatchers();
    this.#engine.metrics?.close();
    await this.#engine.coherence?.close();
    await this.#engine.store.close();
  }
}

/**
 * Create the session manager. Options are checked now; a process-local store
 * in a multi-process deployment is refused (G7).
 * @example
 * import { createSessions } from "latchkey";
 * import { sqliteStore } from "latchkey/sqlite";
 *
 * type Data = { cart?: string[]; theme?: string };
 * const sessions = createSessions<Data>({
 *   store: sqliteStore({ path: "./sessions.db" }),
 *   idleTimeout: 30 * 60_000,
 *   absoluteTimeout: 12 * 3_600_000,
 * });
 */
export function createSessions<Data extends object = Record<string, JsonValue>>(options: SessionsOptions): Sessions<Data> {
  const resolved = resolveOptions(options);
  assertStoreFitsDeployment(resolved.store, options.allowProcessLocalStore);
  return new Sessions<Data>(new Engine(resolved));
}
