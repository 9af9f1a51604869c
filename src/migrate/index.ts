import type { JsonValue } from "../store/contract.js";
import { LegacyMigration, cookieOf, timeOf, type LegacyFormat, type ResolvedMigration } from "./migration.js";
import { postgresSource, type PostgresSourceOptions } from "./postgres.js";
import { redisSource, type RedisSourceOptions } from "./redis.js";
import { unsign } from "./signature.js";
import type { LegacySource } from "./source.js";

export { LegacyMigration } from "./migration.js";
export type { PostgresSourceOptions } from "./postgres.js";
export type { RedisSourceOptions } from "./redis.js";
export { sign as signCookieValue } from "./signature.js";

/** An old session record as the old library stored it (JSON). */
export type OldSession = Record<string, any>;

export interface MigrationOptions {
  /** The old library's secret: a string or an array (newest first), exactly as it was configured. Every one is tried. */
  secret: string | Buffer | readonly (string | Buffer)[];
  /** Where the old sessions are: `{ redis: client, prefix }` (connect-redis) or `{ pool, table }` (connect-pg-simple). */
  source: RedisSourceOptions | PostgresSourceOptions;
  /** The old cookie's name. Default "connect.sid" (express-session) or "sessionId" (@fastify/session). */
  cookieName?: string;
  /** Who is signed in. Default: Passport's `old.passport?.user` (a string or number), else nobody. */
  userId?: (old: OldSession) => string | number | null | undefined;
  /** The values to carry over, as top-level latchkey keys. Default: every top-level key but the library's own (cookie, passport). */
  data?: (old: OldSession) => Record<string, JsonValue | undefined>;
  /** The old cookie's path and domain, so clearing it reaches the browser's copy. Default path "/", no domain. */
  cookie?: { path?: string; domain?: string };
  /** After this date old cookies sign nobody in (they are only cleared): the migration can be removed. */
  until?: Date | string | number;
  /**
   * How long after an old session was migrated its cookie still leads to the
   * new session (parallel requests of the same page), in ms. Default 60 000.
   * After that the old cookie signs nobody in.
   */
  grace?: number;
}

export interface ExpressMigrationOptions extends MigrationOptions {
  /**
   * Set to true if express-session ran with `rolling: true` (and `resave: false`):
   * its stores then extend a session on each request (connect-redis's EXPIRE,
   * connect-pg-simple's expire column) without rewriting the saved
   * `cookie.expires`, so the store's own expiry decides when it is later.
   * Default false: a saved `cookie.expires` in the past means expired.
   */
  rolling?: boolean;
}

export interface FastifyMigrationOptions extends MigrationOptions {
  /** @fastify/session's signing algorithm (its `algorithm` option). Default "sha256". */
  algorithm?: string;
}

/**
 * Sign in users who carry an express-session cookie (connect-redis or
 * connect-pg-simple store), once each: their old session becomes a latchkey
 * session with the same user and data, and the old cookie is cleared.
 * @example
 * import { createSessions } from "latchkey";
 * import { redisStore } from "latchkey/redis";
 * import { expressSessionMigration } from "latchkey/migrate";
 *
 * const sessions = createSessions({
 *   store: redisStore({ client }),
 *   migrateFrom: expressSessionMigration({
 *     secret: process.env.SESSION_SECRET!,
 *     source: { redis: client, prefix: "sess:" },
 *     userId: (old) => old.passport?.user ?? null,
 *     data: (old) => ({ cart: old.cart }),
 *   }),
 * });
 */
export function expressSessionMigration(options: ExpressMigrationOptions): LegacyMigration {
  const secrets = resolveSecrets(options?.secret, "expressSessionMigration");
  const format: LegacyFormat = {
    library: "express-session",
    unsign(value) {
      if (!value.startsWith("s:")) return null;
      const found = unsign(value.slice(2), secrets, "sha256");
      return found && validSid(found.value) ? { sid: found.value, secret: found.secret } : null;
    },
    expiresAt: (old) => timeOf(cookieOf(old).expires),
    maxAge: (old) => positive(cookieOf(old).originalMaxAge),
    ownKeys: ["cookie", "passport"],
  };
  if (options.rolling !== undefined && typeof options.rolling !== "boolean") {
    throw new TypeError("latchkey: expressSessionMigration rolling must be true or false, as express-session's rolling option was");
  }
  return new LegacyMigration(format, { ...resolve(options, format, "connect.sid", "expressSessionMigration"), rolling: options.rolling === true });
}

/**
 * The same for @fastify/session (its cookie is signed by @fastify/cookie; any
 * store read through connect-redis or connect-pg-simple).
 * @example
 * import { fastifySessionMigration } from "latchkey/migrate";
 *
 * const sessions = createSessions({
 *   store: redisStore({ client }),
 *   migrateFrom: fastifySessionMigration({
 *     secret: process.env.SESSION_SECRET!,
 *     source: { redis: client, prefix: "sess:" },
 *     userId: (old) => old.userId ?? null,
 *   }),
 * });
 */
export function fastifySessionMigration(options: FastifyMigrationOptions): LegacyMigration {
  const secrets = resolveSecrets(options?.secret, "fastifySessionMigration");
  const algorithm = options.algorithm ?? "sha256";
  if (typeof algorithm !== "string" || !["sha1", "sha256", "sha384", "sha512"].includes(algorithm)) {
    throw new TypeError(`latchkey: fastifySessionMigration algorithm must be @fastify/session's algorithm, e.g. "sha256" (got ${String(algorithm)})`);
  }
  const format: LegacyFormat = {
    library: "@fastify/session",
    unsign(value) {
      const found = unsign(value, secrets, algorithm);
      return found && validSid(found.value) ? { sid: found.value, secret: found.secret } : null;
    },
    // As @fastify/session itself decides on load: its Cookie takes the saved `expires` as originalExpires and checks that.
    expiresAt: (old) => timeOf(cookieOf(old).expires),
    maxAge: (old) => positive(cookieOf(old).originalMaxAge),
    ownKeys: ["cookie", "passport", "sessionId", "encryptedSessionId"],
  };
  return new LegacyMigration(format, resolve(options, format, "sessionId", "fastifySessionMigration"));
}

/**
 * How many old sessions are left to migrate (live records in the old store).
 * When it reaches zero — or the old sessions' longest lifetime has passed —
 * the migration can be removed. Takes the migration, or just its source (for
 * a script or a CLI that has no secret): `{ source: { redis, prefix } }` or
 * `{ source: { pool, table } }`.
 * @example
 * const left = await countLegacySessions(migration);
 * console.log(`${left} old sessions left`);
 */
export function countLegacySessions(migration: LegacyMigration | { source: MigrationOptions["source"] }): Promise<number> {
  if (migration instanceof LegacyMigration) return migration.source.count();
  const source = (migration as { source?: unknown } | null)?.source;
  if (!source || typeof source !== "object") {
    throw new TypeError(
      "latchkey: countLegacySessions() needs the migration from expressSessionMigration()/fastifySessionMigration(), or { source: { redis, prefix } | { pool, table } }",
    );
  }
  return resolveSource(source as MigrationOptions["source"], "countLegacySessions").count();
}

function resolve(options: MigrationOptions, format: LegacyFormat, defaultName: string, fn: string): ResolvedMigration {
  const cookieName = options.cookieName ?? defaultName;
  if (typeof cookieName !== "string" || !/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/.test(cookieName)) {
    throw new TypeError(`latchkey: ${fn} cookieName must be the old cookie's name, e.g. "${defaultName}" (got ${JSON.stringify(cookieName)})`);
  }
  const path = options.cookie?.path ?? "/";
  if (typeof path !== "string" || !path.startsWith("/") || /[;\s]/.test(path)) {
    throw new TypeError(`latchkey: ${fn} cookie.path must be the old cookie's path, starting with "/" (got ${JSON.stringify(path)})`);
  }
  const domain = options.cookie?.domain;
  if (domain !== undefined && (typeof domain !== "string" || !/^\.?[A-Za-z0-9.-]+$/.test(domain))) {
    throw new TypeError(`latchkey: ${fn} cookie.domain must be the old cookie's domain, a host name (got ${JSON.stringify(domain)})`);
  }
  for (const name of ["userId", "data"] as const) {
    if (options[name] !== undefined && typeof options[name] !== "function") {
      throw new TypeError(
        `latchkey: ${fn} ${name} must be a function of the old session, e.g. ${name === "userId" ? "(old) => old.passport?.user" : "(old) => ({ cart: old.cart })"}`,
      );
    }
  }
  let until: number | null = null;
  if (options.until !== undefined) {
    until = options.until instanceof Date ? options.until.getTime() : typeof options.until === "number" ? options.until : Date.parse(options.until);
    if (!Number.isFinite(until)) throw new TypeError(`latchkey: ${fn} until must be a date, e.g. until: "2026-03-01" (got ${String(options.until)})`);
  }
  const graceMs = options.grace ?? 60_000;
  if (typeof graceMs !== "number" || !Number.isFinite(graceMs) || graceMs < 1000 || graceMs > 3_600_000) {
    throw new TypeError(`latchkey: ${fn} grace must be from 1000 to 3600000 ms (got ${String(options.grace)})`);
  }
  const own = new Set(format.ownKeys);
  return {
    cookieName,
    source: resolveSource(options.source, fn),
    userId: options.userId ?? defaultUserId,
    data: options.data ?? ((old) => Object.fromEntries(Object.entries(old).filter(([key]) => !own.has(key)))),
    path,
    domain,
    until,
    graceMs: Math.round(graceMs),
    pendingMs: 10_000,
    // @fastify/session checks the saved expiry itself on every load: it is the real one.
    rolling: false,
  };
}

function resolveSource(source: MigrationOptions["source"], fn: string): LegacySource {
  if (source && typeof source === "object" && "redis" in source) return redisSource(source);
  if (source && typeof source === "object" && "pool" in source) return postgresSource(source);
  throw new TypeError(`latchkey: ${fn} source must be { redis: client, prefix: "sess:" } (connect-redis) or { pool, table: "session" } (connect-pg-simple)`);
}

function resolveSecrets(secret: unknown, fn: string): (string | Buffer)[] {
  const list = Array.isArray(secret) ? secret : [secret];
  if (list.length === 0 || !list.every((s) => (typeof s === "string" && s.length > 0) || (Buffer.isBuffer(s) && s.length > 0))) {
    throw new TypeError(`latchkey: ${fn} secret must be the old library's secret — a string or an array of strings, exactly as it was configured`);
  }
  return list as (string | Buffer)[];
}

/** Passport keeps the serialized user under passport.user. */
function defaultUserId(old: OldSession): string | number | null {
  const user = (old.passport as { user?: unknown } | undefined)?.user;
  return typeof user === "string" || typeof user === "number" ? user : null;
}

/** Session ids are the old library's random strings; anything odd is never looked up. */
function validSid(sid: string): boolean {
  return sid.length > 0 && sid.length <= 256 && /^[\x21-\x7e]+$/.test(sid);
}

function positive(value: unknown): number | null {
  return typeof value === "number" && Number.isFinite(value) && value > 0 ? value : null;
}
