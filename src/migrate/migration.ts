import { randomBytes } from "node:crypto";
import { readCookie } from "../core/cookie.js";
import { SessionInputError, SessionValueError, StoreUnavailableError } from "../core/errors.js";
import type { MigrationHost, MigrationResult, SessionMigration } from "../core/migration.js";
import type { JsonValue } from "../store/contract.js";
import { idOfToken } from "../store/token.js";
import { assertKey, assertUserId, toJsonValue } from "../core/validate.js";
import { claimKeyOf, decodeCookieValue, openToken, sealToken, userKeyOf } from "./signature.js";
import type { LegacySource } from "./source.js";

const DAY = 86_400_000;
/** Browsers keep a cookie at most 400 days: no old session can outlive that (plus a day). */
const LONGEST_TOMBSTONE = 401 * DAY;
/**
 * One step in the old store that has not answered by then fails the request
 * with 503: the app's client may queue commands while it reconnects. A step
 * that still lands later is safe — a claim runs out, a finish is found done.
 */
const STEP_DEADLINE_MS = 5000;
/** At most this many same-named old cookies are checked. */
const MAX_OLD_COOKIES = 3;

/** What differs between express-session and @fastify/session. */
export interface LegacyFormat {
  /** "express-session" or "@fastify/session", for messages. */
  readonly library: string;
  /** The session id inside a (percent-decoded) cookie value, or null when it is not validly signed. */
  unsign(value: string): { sid: string; secret: string | Buffer } | null;
  /** When the old session ends by its own cookie settings (ms), or null for a browser-session cookie. */
  expiresAt(old: Record<string, unknown>): number | null;
  /** The longest the old library would keep this session alive after a write (ms), if known. */
  maxAge(old: Record<string, unknown>): number | null;
  /** Keys that are the library's own bookkeeping, not app data. */
  readonly ownKeys: readonly string[];
}

export interface ResolvedMigration {
  cookieName: string;
  source: LegacySource;
  userId: (old: Record<string, any>) => unknown;
  data: (old: Record<string, any>) => unknown;
  path: string;
  domain: string | undefined;
  until: number | null;
  graceMs: number;
  pendingMs: number;
  /** express-session's `rolling` with touch-only stores: the store's expiry, when later, beats the saved cookie.expires. */
  rolling: boolean;
}

/**
 * One old library's sessions, migrated on first sight. See the README's
 * "Switching from express-session" for the protocol and why it is safe with
 * parallel requests and old processes still running.
 */
export class LegacyMigration implements SessionMigration {
  readonly cookieName: string;
  /** @internal For countLegacySessions(). */
  readonly source: LegacySource;
  readonly #format: LegacyFormat;
  readonly #options: ResolvedMigration;
  #warnedUntil = false;

  constructor(format: LegacyFormat, options: ResolvedMigration) {
    this.#format = format;
    this.#options = options;
    this.cookieName = options.cookieName;
    this.source = options.source;
  }

  /** When the migration stops signing anyone in (ms since the epoch), or null. */
  get until(): number | null {
    return this.#options.until;
  }

  clearCookie(secure: boolean): string {
    const { cookieName, path, domain } = this.#options;
    return `${cookieName}=; Path=${path}${domain ? `; Domain=${domain}` : ""}; Expires=Thu, 01 Jan 1970 00:00:00 GMT; Max-Age=0; HttpOnly${secure ? "; Secure" : ""}`;
  }

  /**
   * A log out everywhere of `userId` (revokeUser, logoutOthers) ends their
   * old sessions too: a mark in the old store, kept as long as an old session
   * can live, refuses every one of them not migrated yet. It is written before
   * the latchkey sessions are destroyed, and a migration checks it again after
   * creating its session: a migration racing the revoke either sees the mark
   * or created its session before the revoke destroyed the user's sessions.
   */
  async revokeUser(userId: string, host: MigrationHost): Promise<void> {
    const { until, source } = this.#options;
    const now = host.now();
    if (until !== null && now >= until) return; // the migration signs nobody in any more
    const ttlMs = Math.round(Math.min(LONGEST_TOMBSTONE, until === null ? LONGEST_TOMBSTONE : until - now + DAY));
    await this.#call(() => source.markUserRevoked(userKeyOf(userId), ttlMs));
  }

  /** Delete what has run out in the old store (sealed tokens past `grace`); `sessions.sweep()` calls it. */
  async sweep(): Promise<void> {
    const { source } = this.#options;
    if (source.sweep) await this.#call(() => source.sweep!());
  }

  async migrate(cookieHeader: string, host: MigrationHost): Promise<MigrationResult | null> {
    if (!cookieHeader.includes(this.cookieName)) return null;
    const values = readCookie(cookieHeader, this.cookieName);
    if (values.length === 0) return null;
    const { until } = this.#options;
    if (until !== null && host.now() >= until) {
      if (!this.#warnedUntil) {
        this.#warnedUntil = true;
        host.logger.warn(
          `latchkey: the ${this.#format.library} migration ended on ${new Date(until).toISOString()} (until); old cookies are only cleared now — remove migrateFrom`,
        );
      }
      return { token: null };
    }
    for (const raw of values.slice(0, MAX_OLD_COOKIES)) {
      const value = decodeCookieValue(raw);
      const signed = value === undefined ? null : this.#format.unsign(value);
      if (signed) return this.#migrateSession(signed.sid, signed.secret, host);
    }
    return { token: null }; // malformed or wrongly signed: nobody, and the cookie goes
  }

  async #migrateSession(sid: string, secret: string | Buffer, host: MigrationHost): Promise<MigrationResult> {
    const { source, pendingMs } = this.#options;
    const claimKey = claimKeyOf(sid);
    const owner = randomBytes(12).toString("base64url");
    // A parallel request's claim lasts pendingMs; past twice that, something is wrong with the store.
    const giveUpAt = Date.now() + 2 * pendingMs;
    let pause = 5;
    for (;;) {
      const reply = await this.#call(() => source.claim(sid, claimKey, owner, pendingMs));
      if (reply.kind === "unknown") return { token: null };
      if (reply.kind === "done") {
        if (reply.id === "" || reply.sealed === null) return { token: null }; // nobody was signed in, or the grace period is over
        const token = openToken(reply.sealed, sid, secret, claimKey);
        return { token: token !== null && idOfToken(token) === reply.id ? token : null };
      }
      if (reply.kind === "claimed") {
        const result = await this.#convert(reply.record, reply.storeExpiresAt, sid, secret, claimKey, owner, host);
        if (result) return result;
        // Our claim ran out and another request took it over: wait for its outcome.
      } else if (Date.now() > giveUpAt) {
        throw new StoreUnavailableError(
          source.name,
          new Error(`a migration of this ${this.#format.library} session started elsewhere has not finished in ${2 * pendingMs} ms`),
        );
      }
      await new Promise((resolve) => setTimeout(resolve, pause));
      pause = Math.min(pause * 2, 50);
    }
  }

  /**
   * This request holds the claim: create the latchkey session, then mark the
   * claim done and delete the old record in one step. Any failure before that
   * step releases the claim and leaves the old record as it was. Null when the
   * claim was lost meanwhile.
   */
  async #convert(
    text: string,
    storeExpiresAt: number | null,
    sid: string,
    secret: string | Buffer,
    claimKey: string,
    owner: string,
    host: MigrationHost,
  ): Promise<MigrationResult | null> {
    const { source, graceMs } = this.#options;
    const now = host.now();
    const old = parseRecord(text);
    const ownExpiry = old ? this.#format.expiresAt(old) : null;
    const tombstoneMs = Math.min(
      LONGEST_TOMBSTONE,
      Math.max(DAY, (storeExpiresAt ?? 0) - now, (ownExpiry ?? 0) - now, (old ? this.#format.maxAge(old) : null) ?? 0) + DAY,
    );
    // A touch (connect-redis EXPIRE, connect-pg-simple's expire column) extends the store's expiry without
    // rewriting the record: with rolling sessions the store's is the real one, else the record's cookie.
    const storeSaysLater = this.#options.rolling && storeExpiresAt !== null && storeExpiresAt > now;
    const expired = (storeExpiresAt !== null && storeExpiresAt <= now) || (ownExpiry !== null && ownExpiry <= now && !storeSaysLater);
    const tombstone = async (): Promise<MigrationResult> => {
      // Nobody to sign in. The tombstone keeps a written-back copy from ever counting.
      await this.#finishOrRelease(() => source.finish(sid, claimKey, owner, null, 0, tombstoneMs), claimKey, owner, host);
      return { token: null };
    };
    const refuse = (error: unknown): Promise<MigrationResult> => {
      host.logger.warn(`latchkey: an old ${this.#format.library} session was not carried over (its cookie is cleared): ${(error as Error).message}`);
      return tombstone();
    };
    let mapped: { userId: string | null; data: Record<string, JsonValue> } | null = null;
    if (old && !expired) {
      try {
        mapped = this.#map(old);
      } catch (error) {
        // What login() and set() refuse (a NUL in the user id, a "constructor" key): this record never migrates.
        if (error instanceof SessionInputError || error instanceof SessionValueError) return refuse(error);
        await this.#releaseQuietly(claimKey, owner, host);
        throw error;
      }
    }
    if (!mapped || (mapped.userId === null && Object.keys(mapped.data).length === 0)) return tombstone(); // expired, unreadable or empty
    const userId = mapped.userId;
    const revoked = async (): Promise<boolean> => userId !== null && (await this.#call(() => source.isUserRevoked(userKeyOf(userId))));
    let revokedBefore: boolean;
    try {
      revokedBefore = await revoked();
    } catch (error) {
      await this.#releaseQuietly(claimKey, owner, host);
      throw error;
    }
    if (revokedBefore) return tombstone(); // logged out everywhere since: the old sessions ended with the rest
    let created: { record: import("../store/contract.js").SessionRecord; token: string };
    try {
      created = await host.create(userId, mapped.data);
    } catch (error) {
      if (error instanceof SessionValueError) return refuse(error); // over maxDataBytes
      await this.#releaseQuietly(claimKey, owner, host);
      throw error;
    }
    // Checked again now that the session exists: a revoke that marked the user after the check above
    // destroys the user's sessions after marking, so it either is seen here or destroys this one.
    let revokedMeanwhile: boolean;
    try {
      revokedMeanwhile = await revoked();
    } catch (error) {
      await host.discard(created.record.id).catch(() => undefined);
      await this.#releaseQuietly(claimKey, owner, host);
      throw error;
    }
    if (revokedMeanwhile) {
      await host.discard(created.record.id).catch(() => undefined); // the revoke may have destroyed it already; nobody ever held its token
      return tombstone();
    }
    const sealed = sealToken(created.token, sid, secret, claimKey);
    // If this fails after the store applied it, the retry finds it done; if it did not apply,
    // the claim is released and the session just created is never handed out (it idles out).
    const finished = await this.#finishOrRelease(
      () => source.finish(sid, claimKey, owner, { id: created.record.id, sealed }, graceMs, tombstoneMs),
      claimKey,
      owner,
      host,
    );
    if (!finished) {
      await host.discard(created.record.id).catch(() => undefined); // nobody ever held its token
      return null;
    }
    return { created };
  }

  #map(old: Record<string, unknown>): { userId: string | null; data: Record<string, JsonValue> } {
    const library = this.#format.library;
    const user = this.#options.userId(old);
    let userId: string | null;
    if (user === null || user === undefined || user === "") userId = null;
    else if (typeof user === "string" || (typeof user === "number" && Number.isFinite(user)) || typeof user === "bigint") userId = String(user);
    else
      throw new TypeError(
        `latchkey: migrateFrom userId(old) returned ${typeof user}; return the user's id as a string or number (or null) — e.g. userId: (old) => old.passport?.user?.id ?? null`,
      );
    // The same checks as login() and set(): a record that fails them is refused (SessionInputError / SessionValueError).
    if (userId !== null) assertUserId(userId, "migrateFrom userId(old)");
    const data = this.#options.data(old);
    if (data === null || typeof data !== "object" || Array.isArray(data)) {
      throw new TypeError(`latchkey: migrateFrom data(old) must return a plain object of the values to keep from the ${library} session`);
    }
    const kept: Record<string, JsonValue> = {};
    for (const [key, value] of Object.entries(data as Record<string, unknown>)) {
      if (value === undefined) continue;
      assertKey(key);
      kept[key] = toJsonValue<JsonValue>(key, value);
    }
    return { userId, data: kept };
  }

  async #call<T>(operation: () => Promise<T>): Promise<T> {
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        operation(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer in ${STEP_DEADLINE_MS} ms`)), STEP_DEADLINE_MS);
        }),
      ]);
    } catch (error) {
      throw error instanceof StoreUnavailableError ? error : new StoreUnavailableError(this.#options.source.name, error);
    } finally {
      clearTimeout(timer);
    }
  }

  async #finishOrRelease(finish: () => Promise<boolean>, claimKey: string, owner: string, host: MigrationHost): Promise<boolean> {
    try {
      return await this.#call(finish);
    } catch (error) {
      await this.#releaseQuietly(claimKey, owner, host);
      throw error;
    }
  }

  async #releaseQuietly(claimKey: string, owner: string, host: MigrationHost): Promise<void> {
    try {
      await this.#call(() => this.#options.source.release(claimKey, owner));
    } catch (error) {
      // The claim runs out by itself after pendingMs; the old record is untouched either way.
      host.logger.warn(`latchkey: could not release a migration claim in ${this.#options.source.name}: ${(error as Error).message}`);
    }
  }
}

function parseRecord(text: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(text);
    return value !== null && typeof value === "object" && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The old library's cookie settings in a stored record, as a plain object (or empty). */
export function cookieOf(old: Record<string, unknown>): Record<string, unknown> {
  const cookie = old.cookie;
  return cookie !== null && typeof cookie === "object" ? (cookie as Record<string, unknown>) : {};
}

/** A date as the old libraries store it (ISO string, or a number), in ms; null when absent or invalid. */
export function timeOf(value: unknown): number | null {
  if (typeof value !== "string" && typeof value !== "number") return null;
  const ms = typeof value === "number" ? value : Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}
