import cluster from "node:cluster";
import type { DeviceInfo, SessionStore } from "../store/contract.js";
import type { SessionMigration } from "./migration.js";
import type { DestroyReason, Logger } from "./types.js";
import { assertMetrics, type SessionsMetrics } from "./metrics.js";
import { resolveCookie, type CookieOptions, type ResolvedCookieOptions, type SameSite } from "./cookie-options.js";

export type { CookieOptions, DestroyReason, Logger, ResolvedCookieOptions, SameSite };

/** What `hooks.ended` is told, once per ended session across all processes. */
export interface SessionEndedEvent {
  handle: string;
  userId: string | null;
  reason: DestroyReason;
  /** The device recorded at login, when the store still had it (null otherwise). */
  device: DeviceInfo | null;
  /** When this process ended it (ms since the epoch, by the manager's clock). */
  at: number;
}

export interface SessionHooks {
  /** A session was first written to the store. */
  created?(event: { handle: string; userId: string | null; impersonator?: string }): void;
  /** login() replaced a session's token (the old one is dead everywhere). */
  rotated?(event: { previousHandle: string; handle: string; userId: string | null; impersonator?: string }): void;
  /** Sessions were destroyed. `handle` is null for revoke-user and logout-others, where `count` says how many. */
  destroyed?(event: { handle: string | null; userId: string | null; reason: DestroyReason; count: number; impersonator?: string }): void;
  /**
   * A session ended: exactly once per session across every process, in the
   * process whose write deleted it (logout, revoke, revokeUser, logoutOthers;
   * for expiry the process whose read or sweep deleted it). Not for rotation
   * (`rotated`): the session lives on under a new handle.
   */
  ended?(event: SessionEndedEvent): void;
}

export interface SessionsOptions {
  /** Where sessions live: sqliteStore(), redisStore(), postgresStore(), or memoryStore() for one process. */
  store: SessionStore;
  /** Sliding idle timeout in ms. Default 30 minutes. */
  idleTimeout?: number;
  /** Absolute lifetime in ms, counted from login or creation. Default 12 hours. */
  absoluteTimeout?: number;
  /** Last-seen is written at most once per this many ms (G4 precision vs. store traffic). Default min(60 s, idleTimeout / 10). */
  touchInterval?: number;
  cookie?: CookieOptions;
  /**
   * "last-write-wins" (default): overlapping requests that set the same key — the later commit wins; different keys both persist.
   * "reject": optimistic locking per session — a request whose session was changed by any other commit since it loaded gets 409 and writes nothing.
   */
  conflicts?: "last-write-wins" | "reject";
  /** Largest serialized session data in bytes. Default 64 KiB. */
  maxDataBytes?: number;
  /** How often this process deletes expired records, in ms; false to never. Default 5 minutes. */
  sweepInterval?: number | false;
  /** Clock in ms since the epoch. Default Date.now; inject one in tests. */
  now?: () => number;
  hooks?: SessionHooks;
  /** Where warnings and store errors are written. Default console. */
  logger?: Logger;
  /**
   * A per-process cache of sessions in front of a shared store (redisStore,
   * postgresStore), kept coherent through the store's invalidation feed: an
   * authenticated read that hits costs no store round trip. `true` takes the
   * defaults. See "Near-cache" in the README for the bound on revocation lag.
   */
  nearCache?: boolean | NearCacheOptions;
  /**
   * "bounded" (default): logout/revoke resolve once the store is written;
   * other processes' near-caches drop the session within the propagation
   * delay (milliseconds), and in every case within one lease.
   * "strict": they resolve only when no process can still accept the token —
   * every process holding a lease acknowledged, or its lease ran out. Needs a
   * store with a feed.
   */
  revocation?: "bounded" | "strict";
  /**
   * Record the client IP address at login, for `sessions.list()` (as the
   * framework resolves it: Express's "trust proxy"). Off by default: an IP
   * address is personal data. The User-Agent is always recorded (at most 512
   * characters).
   */
  recordIp?: boolean;
  /**
   * Report metrics (sessions created, rotated, ended; near-cache lookups and
   * flushes; store operation durations; notice propagation; feed state):
   * `otelMetrics()` from `latchkey/otel`. Off by default.
   */
  metrics?: SessionsMetrics;
  /**
   * Allow a process-local store (memoryStore) in a multi-process deployment.
   * Only for tests: each process would have its own sessions (G7).
   */
  allowProcessLocalStore?: boolean;
  /**
   * Sign in users who still carry another library's session cookie, once:
   * `expressSessionMigration()` or `fastifySessionMigration()` from
   * `latchkey/migrate`. See "Switching from express-session" in the README.
   */
  migrateFrom?: SessionMigration;
  /**
   * How often, in ms, a store without a feed (sqliteStore, memoryStore) is
   * read for the sessions this process watches (`sessions.watch`), in one
   * read for all of them: the longest a watcher waits to learn of an end
   * caused by another process. Stores with a feed tell watchers at once.
   * Default 1000.
   */
  watchInterval?: number;
  /**
   * At most this many live sessions per user, enforced in the same atomic
   * store step as each login (every process, every store). Impersonation
   * sessions do not count. Default: no limit.
   */
  maxSessionsPerUser?: number;
  /**
   * What a login beyond `maxSessionsPerUser` does. "end-oldest" (default): the
   * user's least recently used sessions end (hooks: reason "limit"; every
   * process stops accepting them like a revoke). "refuse": `login()` rejects
   * with SessionLimitError (status 409) and nothing changes.
   */
  onSessionLimit?: "end-oldest" | "refuse";
  /**
   * Also accept `Authorization: Bearer <token>` (API and mobile clients) in
   * every adapter. A request with that header is authenticated by it alone
   * (its cookie is not read), never gets a Set-Cookie and needs no CSRF
   * token; `session.login(userId, { transport: "bearer" })` issues a token
   * the app returns in its body (`session.token`). Default false.
   */
  bearer?: boolean;
  /**
   * CSRF protection bound to the session: every adapter answers 403 to a
   * cookie-carrying POST, PUT, PATCH or DELETE without `session.csrfToken`
   * in the `x-csrf-token` header; HTML form posts are admitted locked until
   * `session.verifyCsrf(field)`. `true` takes the defaults. Default false.
   */
  csrf?: boolean | CsrfOptions;
}

export interface CsrfOptions {
  /** The request header that carries `session.csrfToken`. Default "x-csrf-token". */
  header?: string;
  /**
   * A cookie-carrying form post (Content-Type application/x-www-form-urlencoded,
   * multipart/form-data or text/plain: what an HTML form sends) without the
   * header is admitted with its session locked — it reads as anonymous and
   * refuses changes — until the app calls `session.verifyCsrf(form field)`.
   * false: such posts get 403 like any other request without the header
   * (an app without HTML forms). Default true.
   */
  forms?: boolean;
}

export interface ResolvedCsrfOptions {
  /** Lower case. */
  header: string;
  forms: boolean;
}

export interface NearCacheOptions {
  /** Most sessions kept per process. Default 10 000. */
  maxEntries?: number;
  /** Approximate memory bound in bytes per process. Default 32 MiB. */
  maxBytes?: number;
  /**
   * Lease in ms: the cache serves only while its lease, renewed every lease/4
   * through the store and its feed, is running; a process that cannot renew
   * (store or feed down, frozen, stalled) stops serving from it before the
   * lease ends. Also the longest a strict revocation waits for an
   * unresponsive process, and the hard bound on revocation lag in bounded
   * mode. Default 2000; at most 60000.
   */
  lease?: number;
}

export interface ResolvedNearCache {
  maxEntries: number;
  maxBytes: number;
  leaseMs: number;
}

export interface ResolvedOptions {
  store: SessionStore;
  idleTimeout: number;
  absoluteTimeout: number;
  touchInterval: number;
  cookie: ResolvedCookieOptions;
  conflicts: "last-write-wins" | "reject";
  maxDataBytes: number;
  sweepInterval: number | false;
  now: () => number;
  hooks: SessionHooks;
  logger: Logger;
  nearCache: ResolvedNearCache | null;
  strict: boolean;
  migrateFrom: SessionMigration | null;
  recordIp: boolean;
  metrics: SessionsMetrics | null;
  bearer: boolean;
  csrf: ResolvedCsrfOptions | null;
  watchInterval: number;
  /** maxSessionsPerUser and onSessionLimit, or null without a limit. */
  sessionLimit: { max: number; onLimit: "end-oldest" | "refuse" } | null;
}

function positiveMs(name: string, value: unknown, fallback: number): number {
  if (value === undefined) return fallback;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(`latchkey: ${name} must be a positive number of milliseconds (got ${String(value)}); e.g. ${name}: 30 * 60_000`);
  }
  return Math.max(1, Math.round(value)); // whole milliseconds: stores keep integers
}

/** Validates options at construction: every error says what to change. */
export function resolveOptions(options: SessionsOptions): ResolvedOptions {
  if (options === null || typeof options !== "object") {
    throw new TypeError("latchkey: createSessions(options) needs an options object, e.g. createSessions({ store: sqliteStore({ path: './sessions.db' }) })");
  }
  const { store } = options;
  if (!store || typeof store.get !== "function" || typeof store.patch !== "function") {
    throw new TypeError("latchkey: options.store is required and must be a session store, e.g. store: sqliteStore({ path: './sessions.db' })");
  }
  const idleTimeout = positiveMs("idleTimeout", options.idleTimeout, 30 * 60_000);
  const absoluteTimeout = positiveMs("absoluteTimeout", options.absoluteTimeout, 12 * 3_600_000);
  if (absoluteTimeout < idleTimeout) {
    throw new TypeError(
      `latchkey: absoluteTimeout (${absoluteTimeout} ms) is shorter than idleTimeout (${idleTimeout} ms); make absoluteTimeout at least as long`,
    );
  }
  const touchInterval = options.touchInterval === 0 ? 0 : positiveMs("touchInterval", options.touchInterval, Math.min(60_000, Math.floor(idleTimeout / 10)));
  if (touchInterval >= idleTimeout) {
    throw new TypeError(
      `latchkey: touchInterval (${touchInterval} ms) must be shorter than idleTimeout (${idleTimeout} ms), or sessions would idle out between touches`,
    );
  }
  const maxDataBytes = positiveMs("maxDataBytes", options.maxDataBytes, 64 * 1024);
  const sweepInterval = options.sweepInterval === false ? false : positiveMs("sweepInterval", options.sweepInterval, 5 * 60_000);
  const conflicts = options.conflicts ?? "last-write-wins";
  if (conflicts !== "last-write-wins" && conflicts !== "reject") {
    throw new TypeError(`latchkey: conflicts must be "last-write-wins" or "reject" (got ${String(conflicts)})`);
  }
  if (options.now !== undefined && typeof options.now !== "function") {
    throw new TypeError("latchkey: now must be a function returning milliseconds, e.g. now: () => Date.now()");
  }
  const revocation = options.revocation ?? "bounded";
  if (revocation !== "bounded" && revocation !== "strict") {
    throw new TypeError(`latchkey: revocation must be "bounded" or "strict" (got ${String(revocation)})`);
  }
  const recordIp = options.recordIp ?? false;
  if (typeof recordIp !== "boolean") {
    throw new TypeError(`latchkey: recordIp must be true or false (got ${String(recordIp)})`);
  }
  const metrics = options.metrics ?? null;
  if (metrics !== null) assertMetrics(metrics);
  const nearCache = resolveNearCache(options.nearCache);
  if ((nearCache || revocation === "strict") && !store.feed) {
    const what = nearCache ? "nearCache" : 'revocation: "strict"';
    throw new TypeError(
      `latchkey: ${what} needs a store with an invalidation feed — redisStore() or postgresStore(); ${store.name} has none. ` +
        "(sqliteStore and memoryStore are read in this machine's memory or page cache and need no near-cache.)",
    );
  }
  const migrateFrom = options.migrateFrom ?? null;
  if (migrateFrom !== null && (typeof migrateFrom !== "object" || typeof migrateFrom.migrate !== "function" || typeof migrateFrom.clearCookie !== "function")) {
    throw new TypeError("latchkey: migrateFrom must come from latchkey/migrate, e.g. migrateFrom: expressSessionMigration({ secret, source })");
  }
  const cookie = resolveCookie(options.cookie ?? {});
  if (migrateFrom !== null && (migrateFrom.cookieName === cookie.name || migrateFrom.cookieName === cookie.secureName)) {
    throw new TypeError(
      `latchkey: the old library's cookie and latchkey's are both called ${JSON.stringify(migrateFrom.cookieName)}; give latchkey another cookie.name`,
    );
  }
  const bearer = options.bearer ?? false;
  if (typeof bearer !== "boolean") {
    throw new TypeError(`latchkey: bearer must be true or false (got ${String(bearer)})`);
  }
  const sessionLimit = resolveSessionLimit(options, store);
  return {
    store,
    idleTimeout,
    absoluteTimeout,
    touchInterval,
    cookie,
    conflicts,
    maxDataBytes,
    sweepInterval,
    now: options.now ? wholeMs(options.now) : Date.now,
    hooks: options.hooks ?? {},
    logger: options.logger ?? console,
    nearCache,
    strict: revocation === "strict",
    migrateFrom,
    recordIp,
    metrics,
    bearer,
    csrf: resolveCsrf(options.csrf),
    watchInterval: positiveMs("watchInterval", options.watchInterval, 1000),
    sessionLimit,
  };
}

const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9a-z]+$/;

function resolveCsrf(option: SessionsOptions["csrf"]): ResolvedCsrfOptions | null {
  if (option === undefined || option === false) return null;
  if (option !== true && (option === null || typeof option !== "object")) {
    throw new TypeError(`latchkey: csrf must be true, false or { header, forms } (got ${String(option)})`);
  }
  const settings = option === true ? {} : option;
  if (settings.header !== undefined && typeof settings.header !== "string")
    throw new TypeError('latchkey: csrf.header must be a header name such as "x-csrf-token"');
  const header = (settings.header ?? "x-csrf-token").toLowerCase();
  if (!HEADER_NAME.test(header) || ["cookie", "authorization", "content-type"].includes(header)) {
    throw new TypeError(`latchkey: csrf.header ${JSON.stringify(settings.header)} is not a header name latchkey can use; e.g. "x-csrf-token"`);
  }
  const forms = settings.forms ?? true;
  if (typeof forms !== "boolean") throw new TypeError(`latchkey: csrf.forms must be true or false (got ${String(forms)})`);
  return { header, forms };
}

function resolveSessionLimit(options: SessionsOptions, store: SessionStore): ResolvedOptions["sessionLimit"] {
  const { maxSessionsPerUser: max, onSessionLimit } = options;
  if (max === undefined) {
    if (onSessionLimit !== undefined)
      throw new TypeError('latchkey: onSessionLimit needs maxSessionsPerUser, e.g. { maxSessionsPerUser: 5, onSessionLimit: "end-oldest" }');
    return null;
  }
  if (typeof max !== "number" || !Number.isInteger(max) || max < 1) {
    throw new TypeError(`latchkey: maxSessionsPerUser must be a whole number of sessions, at least 1 (got ${String(max)}); e.g. maxSessionsPerUser: 5`);
  }
  const onLimit = onSessionLimit ?? "end-oldest";
  if (onLimit !== "end-oldest" && onLimit !== "refuse") {
    throw new TypeError(`latchkey: onSessionLimit must be "end-oldest" or "refuse" (got ${String(onLimit)})`);
  }
  if (store.sessionLimits !== true) {
    throw new TypeError(
      `latchkey: maxSessionsPerUser needs a store that enforces it atomically with the login (sessionLimits: true); ${store.name} does not. ` +
        "Use sqliteStore, redisStore, postgresStore or memoryStore, or drop maxSessionsPerUser.",
    );
  }
  return { max, onLimit };
}

function resolveNearCache(option: SessionsOptions["nearCache"]): ResolvedNearCache | null {
  if (option === undefined || option === false) return null;
  if (option !== true && (option === null || typeof option !== "object")) {
    throw new TypeError(`latchkey: nearCache must be true, false or { maxEntries, maxBytes, lease } (got ${String(option)})`);
  }
  const settings = option === true ? {} : option;
  const whole = (name: string, value: unknown, fallback: number, min: number, max: number): number => {
    if (value === undefined) return fallback;
    if (typeof value !== "number" || !Number.isInteger(value) || value < min || value > max) {
      throw new TypeError(`latchkey: nearCache.${name} must be a whole number from ${min} to ${max} (got ${String(value)})`);
    }
    return value;
  };
  return {
    maxEntries: whole("maxEntries", settings.maxEntries, 10_000, 1, 10_000_000),
    maxBytes: whole("maxBytes", settings.maxBytes, 32 * 1024 * 1024, 1024, 2 ** 40),
    leaseMs: resolveLease(settings.lease, whole),
  };
}

/** The longest lease: it bounds how long a revoked session can still be accepted (bounded mode) or a strict revoke waits. */
const MAX_LEASE_MS = 60_000;

function resolveLease(lease: unknown, whole: (name: string, value: unknown, fallback: number, min: number, max: number) => number): number {
  if (typeof lease === "number" && Number.isInteger(lease) && lease > MAX_LEASE_MS) {
    throw new TypeError(
      `latchkey: nearCache.lease must be at most ${MAX_LEASE_MS} ms (got ${lease}): a process that loses its invalidation feed keeps serving revoked sessions for up to one lease, ` +
        "and a strict revocation waits that long for a silent process. Leave it at the default 2000, or raise it a little (e.g. 5000) on a slow network",
    );
  }
  return whole("lease", lease, 2000, 200, MAX_LEASE_MS);
}

/** Why this process looks like one of several serving the same app, or null. */
export function multiProcessReason(env: NodeJS.ProcessEnv = process.env): string | null {
  if (cluster.isWorker) return "this is a node cluster worker";
  if (env.pm_id !== undefined || env.NODE_APP_INSTANCE !== undefined) return "this is a PM2 instance";
  const concurrency = Number(env.WEB_CONCURRENCY);
  if (Number.isFinite(concurrency) && concurrency > 1) return `WEB_CONCURRENCY is ${env.WEB_CONCURRENCY}`;
  return null;
}

/** G7: refuse a process-local store where other processes would not see its sessions. */
export function assertStoreFitsDeployment(store: SessionStore, allowProcessLocalStore: boolean | undefined): void {
  if (!store.processLocal || allowProcessLocalStore) return;
  const reason = multiProcessReason();
  if (reason === null) return;
  throw new Error(
    `latchkey: ${store.name} keeps sessions in this process's memory, but ${reason}: ` +
      "a login or logout handled by one process would be invisible to the others. " +
      "Use a shared store — sqliteStore({ path }) on one machine, redisStore({ url }) or postgresStore({ connectionString }) across machines. " +
      "(Tests only: pass allowProcessLocalStore: true.)",
  );
}

function wholeMs(now: () => number): () => number {
  return () => Math.floor(now());
}
