import { Engine } from "./engine.js";
import { assertStoreFitsDeployment, resolveOptions, type Logger, type ResolvedCookieOptions, type ResolvedCsrfOptions, type SessionsOptions } from "./options.js";
import type { NearCacheStats } from "../nearcache/index.js";
import type { Session, Transport } from "./session.js";
import type { RequestContext } from "./request.js";
import type { JsonValue } from "../store/contract.js";
import { assertHandle, assertUserId } from "./validate.js";
import { deviceLabel } from "../devices/index.js";

export * from "./errors.js";
export type { CookieOptions, CsrfOptions, DestroyReason, Logger, NearCacheOptions, ResolvedCookieOptions, ResolvedCsrfOptions, SameSite, SessionHooks, SessionsOptions } from "./options.js";
export type { FeedState, NearCacheStats, LatencySummary } from "../nearcache/index.js";
export type { SessionsMetrics, StoreOperation } from "./metrics.js";
export type { RequestContext } from "./request.js";
export type { Session, Flashes, LoginOptions, Transport } from "./session.js";
export type { JsonValue } from "../store/contract.js";
export { deviceLabel } from "../devices/index.js";
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

/** One session as listed for its user: a public handle, never the token (G5). */
export interface SessionInfo {
  /** Pass to `sessions.revoke(handle)`. Derived from the token's hash; cannot be used as a cookie. */
  handle: string;
  userId: string;
  createdAt: number;
  lastSeenAt: number;
  /** The earlier of idle and absolute expiry. */
  expiresAt: number;
  absoluteExpiresAt: number;
  /** A readable name of the device that signed in, e.g. "Firefox on Linux" ("Unknown device" when none was recorded). */
  device: string;
  /** The User-Agent recorded at login (at most 512 characters), when there was one. */
  userAgent?: string;
  /** The client address recorded at login, only with the `recordIp` option. */
  ip?: string;
}

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
    return this.#engine.load<Data>(values, request, options?.transport);
  }

  /**
   * @internal For adapters: the session when the near-cache can answer at
   * once (one cached, unexpired session), else undefined — then use load().
   * Saves a promise and a microtask on the common authenticated read.
   */
  loadCached(cookieValues: readonly string[], request?: RequestContext, options?: LoadOptions): Session<Data> | undefined {
    return this.#engine.loadCached<Data>(cookieValues, request, options?.transport);
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
   * device that signed in (parsed here, never on the read path).
   * @example
   * for (const s of await sessions.list("alice")) console.log(s.handle, s.device, new Date(s.lastSeenAt));
   * // 2J9x:kq…  Firefox on Linux  2026-12-01T21:04:11.000Z
   */
  async list(userId: string): Promise<SessionInfo[]> {
    assertUserId(userId, "list");
    const now = this.#engine.options.now();
    const records = await this.#engine.call(() => this.#engine.store.listUser(userId));
    return records
      .filter((record) => record.userId === userId && !this.#engine.isExpired(record, now))
      .map((record) => {
        const info: SessionInfo = {
          handle: record.id,
          userId,
          createdAt: record.createdAt,
          lastSeenAt: record.lastSeenAt,
          expiresAt: record.expiresAt,
          absoluteExpiresAt: record.absoluteExpiresAt,
          device: deviceLabel(record.device?.userAgent),
        };
        if (record.device?.userAgent !== undefined) info.userAgent = record.device.userAgent;
        if (record.device?.ip !== undefined) info.ip = record.device.ip;
        return info;
      })
      .sort((a, b) => b.lastSeenAt - a.lastSeenAt);
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
    const removed = await this.#engine.call(() => this.#engine.store.sweep(this.#engine.options.now()));
    // A migration's leftovers in the old store (sealed tokens past their grace period): never fails the sweep.
    await this.#engine.options.migrateFrom?.sweep?.().catch((error: Error) => this.logger.warn(`latchkey: sweeping the migration's old store failed: ${error.message}`));
    return removed;
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
