import { Engine } from "./engine.js";
import { assertStoreFitsDeployment, resolveOptions, type Logger, type ResolvedCookieOptions, type SessionsOptions } from "./options.js";
import type { NearCacheStats } from "../nearcache/index.js";
import type { Session } from "./session.js";
import type { RequestContext } from "./request.js";
import type { JsonValue } from "./store.js";
import { assertHandle, assertUserId } from "./validate.js";
import { deviceLabel } from "../devices/index.js";

export * from "./errors.js";
export type { CookieOptions, DestroyReason, Logger, NearCacheOptions, ResolvedCookieOptions, SameSite, SessionHooks, SessionsOptions } from "./options.js";
export type { FeedState, NearCacheStats, LatencySummary } from "../nearcache/index.js";
export { multiProcessReason } from "./options.js";
export type { SessionsMetrics, StoreOperation } from "./metrics.js";
export type { RequestContext } from "./request.js";
export type { MigrationHost, MigrationResult, SessionMigration } from "./migration.js";
export { Session, type CommitOutcome, type CookieInstruction, type FirstChangeHook } from "./session.js";
export type { LoginOptions } from "./login-options.js";
export * from "./store.js";
export { keepListening, type FeedConnection } from "./feed.js";
export { readCookie, serializeCookie, type CookieWrite } from "./cookie.js";
export { idOfToken, isWellFormedId, isWellFormedToken, routeOfId, userRoute } from "./token.js";
export { MAX_KEY_LENGTH, MAX_USER_ID_LENGTH } from "./validate.js";
export { deviceLabel, MAX_USER_AGENT_LENGTH } from "../devices/index.js";

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
  /** Whether its cookie outlives the browser (`login(userId, { persistent })`, else the manager's cookie.persistent). */
  persistent: boolean;
  /** Its idle timeout in ms: login's `idleTimeout`, else the manager's. */
  idleTimeout: number;
  /** When the user last authenticated in it (login, reauthenticate), when known. */
  authenticatedAt?: number;
  /**
   * Present on an impersonation: the user acting as `userId`. Such a session
   * is listed for both users, and `revokeUser()` of either ends it.
   */
  impersonator?: string;
}

/** Options of {@link Sessions.revokeUser}. */
export interface RevokeUserOptions {
  /** A handle to keep (the caller's own session): "log out other devices". */
  except?: string;
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
   * const session = await sessions.load(readCookie(req.headers.cookie, sessions.cookie.name));
   */
  load(cookieValues: string | readonly string[] | undefined, request?: RequestContext): Promise<Session<Data>> {
    const values = cookieValues === undefined ? [] : typeof cookieValues === "string" ? [cookieValues] : cookieValues;
    return this.#engine.load<Data>(values, request);
  }

  /**
   * @internal For adapters: the session when the near-cache can answer at
   * once (one cached, unexpired session), else undefined — then use load().
   * Saves a promise and a microtask on the common authenticated read.
   */
  loadCached(cookieValues: readonly string[], request?: RequestContext): Session<Data> | undefined {
    return this.#engine.loadCached<Data>(cookieValues, request);
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
   * as and for the impersonator).
   * @example
   * for (const s of await sessions.list("alice")) console.log(s.handle, s.device, new Date(s.lastSeenAt));
   * // 2J9x:kq…  Firefox on Linux  2026-12-01T21:04:11.000Z
   */
  async list(userId: string): Promise<SessionInfo[]> {
    assertUserId(userId, "list");
    const now = this.#engine.options.now();
    const records = await this.#engine.call(() => this.#engine.store.listUser(userId));
    return records
      .filter((record) => (record.userId === userId || record.impersonator === userId) && !this.#engine.isExpired(record, now))
      .map((record) => {
        const info: SessionInfo = {
          handle: record.id,
          userId: record.userId!,
          createdAt: record.createdAt,
          lastSeenAt: record.lastSeenAt,
          expiresAt: record.expiresAt,
          absoluteExpiresAt: record.absoluteExpiresAt,
          device: deviceLabel(record.device?.userAgent),
          persistent: record.persistent ?? this.#engine.options.cookie.persistent,
          idleTimeout: this.#engine.idleTimeoutOf(record),
        };
        if (record.authenticatedAt !== undefined) info.authenticatedAt = record.authenticatedAt;
        if (record.impersonator !== undefined) info.impersonator = record.impersonator;
        if (record.device?.userAgent !== undefined) info.userAgent = record.device.userAgent;
        if (record.device?.ip !== undefined) info.ip = record.device.ip;
        return info;
      })
      .sort((a, b) => b.lastSeenAt - a.lastSeenAt);
  }

  /**
   * Destroy one session by its public handle (from `list()` or `session.handle`).
   * @returns true if it existed
   * @example
   * await sessions.revoke(handle);
   */
  async revoke(handle: string): Promise<boolean> {
    assertHandle(handle, "revoke");
    return this.#engine.destroy({ id: handle, userId: null }, "revoke");
  }

  /**
   * Delete expired records now (also runs every `sweepInterval`).
   * @example
   * const removed = await sessions.sweep();
   */
  sweep(): Promise<number> {
    return this.#engine.call(() => this.#engine.store.sweep(this.#engine.options.now()));
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
