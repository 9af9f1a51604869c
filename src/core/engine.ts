import { Coherence } from "../nearcache/index.js";
import { SessionDataTooLargeError, SessionValueError, StoreUnavailableError } from "./errors.js";
import type { DestroyReason, ResolvedOptions } from "./options.js";
import { timedStore, type SessionsMetrics } from "./metrics.js";
import { Session, type CommitOutcome, type Transport } from "./session.js";
import type { RequestContext } from "./request.js";
import type { MigrationHost, SessionMigration } from "./migration.js";
import { dataBytes, SessionExistsError, type ChangeSet, type DeviceInfo, type JsonValue, type SessionRecord, type SessionStore } from "../store/contract.js";
import { idOfToken, isWellFormedToken, mintToken } from "../store/token.js";

/** At most this many same-named cookies are looked up; the rest are ignored. */
const MAX_COOKIE_CANDIDATES = 3;

/**
 * The manager's internals: token → id, load, expiry (G4), and every store
 * write. Store errors come out as StoreUnavailableError so adapters can fail
 * closed (G6).
 */
export class Engine {
  readonly options: ResolvedOptions;
  readonly store: SessionStore;
  /**
   * Present when the store has a feed. Every write that ends a token (logout,
   * revoke, rotation) publishes a notice with itself, from every process, so
   * no near-cache anywhere keeps a revoked session. Data changes publish where
   * notices are cheap (Redis), or where this process caches or revokes
   * strictly, or when the store is told to (PostgreSQL's notifyWrites).
   */
  readonly coherence: Coherence | null;
  readonly #publishChanges: boolean;
  /** Null without the `metrics` option: then nothing below measures anything. */
  readonly metrics: SessionsMetrics | null;
  /** Whether a cached copy may answer (one function for every read, not a closure per read). */
  readonly #servable = (record: SessionRecord): boolean => !this.isExpired(record);
  readonly #migration: SessionMigration | null;
  readonly #migrationHost: MigrationHost;

  constructor(options: ResolvedOptions) {
    this.options = options;
    const metrics = options.metrics;
    this.metrics = metrics;
    this.store = metrics ? timedStore(options.store, metrics) : options.store;
    const feed = options.store.feed;
    const timings = metrics && { propagation: (ms: number) => metrics.propagation(ms / 1000), strictWait: (ms: number) => metrics.strictWait(ms / 1000) };
    this.coherence = feed ? new Coherence({ feed, storeName: this.store.name, logger: options.logger, cache: options.nearCache, strict: options.strict, timings }) : null;
    // PostgreSQL's NOTIFY serialises commits: patches publish only where needed.
    this.#publishChanges = feed !== undefined && (feed.publishByDefault === true || options.nearCache !== null || options.strict);
    this.#migration = options.migrateFrom;
    this.#migrationHost = {
      logger: options.logger,
      now: options.now,
      create: (userId, data) => this.create(userId, data),
      discard: async (id) => {
        await this.destroy({ id, userId: null }, "revoke");
      },
    };
  }

  /** `transport` "bearer": the values came from an Authorization header; no cookie is read, set or cleared, and no migration is consulted. */
  async load<Data extends object>(cookieValues: readonly string[], request?: RequestContext, transport: Transport = "cookie"): Promise<Session<Data>> {
    const wellFormed = cookieValues.filter(isWellFormedToken);
    const tokens = wellFormed.length > MAX_COOKIE_CANDIDATES ? wellFormed.slice(0, MAX_COOKIE_CANDIDATES) : wellFormed;
    // Clearing deletes the host's own cookie, which may be among the unchecked (cookies tossed in ahead of it).
    const clear = cookieValues.length > 0 && wellFormed.length <= MAX_COOKIE_CANDIDATES;
    let vanished: string[] | undefined;
    for (const token of tokens) {
      const id = idOfToken(token);
      const record = await this.#read(id);
      if (!record) {
        (vanished ??= []).push(id);
        continue;
      }
      if (this.isExpired(record)) {
        await this.#expire(record);
        continue;
      }
      // A live session that was not the first cookie still carries the ids of the vanished ones before it.
      return new Session<Data>(this, record, token, false, request, vanished, transport);
    }
    // No live latchkey session: the only place a migration from another library is consulted.
    const header = request?.cookieHeader;
    if (transport === "cookie" && this.#migration && header?.includes(this.#migration.cookieName)) return this.#migrate<Data>(this.#migration, header, clear, request, vanished);
    return new Session<Data>(this, null, null, clear, request, vanished, transport);
  }

  /**
   * Strict revocation, for tokens a request presented that the store no
   * longer knows: the revocation that removed them (a log out everywhere, a
   * logout in another tab) may not have reached every process yet, and a
   * logout or login must not resolve before it has. Publishes a notice for
   * them and waits until every process acknowledged — the same wait as a
   * revocation of its own. A no-op outside strict mode.
   */
  async settleVanished(ids: readonly string[]): Promise<void> {
    if (!this.coherence?.strict || ids.length === 0) return;
    await Promise.all(ids.map((id) => this.#write([id], [], true, (notice) => this.store.destroy(id, { notice }))));
  }

  /**
   * A request with another library's cookie and no live latchkey session: the
   * migration claims the old session (or finds it claimed by a parallel
   * request) and this request gets that one latchkey session, with its cookie
   * set and the old cookie cleared; otherwise it is anonymous and the old cookie
   * is cleared all the same.
   */
  async #migrate<Data extends object>(
    migration: SessionMigration,
    header: string,
    clearOwn: boolean,
    request: RequestContext | undefined,
    vanished: string[] | undefined,
  ): Promise<Session<Data>> {
    const result = await migration.migrate(header, this.#migrationHost);
    if (result === null) return new Session<Data>(this, null, null, clearOwn, request, vanished);
    const clearOld = (secure: boolean) => migration.clearCookie(secure);
    let session: Session<Data> | null = null;
    if (result.created) {
      session = new Session<Data>(this, result.created.record, result.created.token, false, request, vanished);
    } else if (result.token !== null && isWellFormedToken(result.token)) {
      const id = idOfToken(result.token);
      const record = await this.#read(id);
      if (record && !this.isExpired(record)) session = new Session<Data>(this, record, result.token, false, request, vanished);
      else if (!record) (vanished ??= []).push(id); // the migrated session was revoked meanwhile: settle it like any vanished token
    }
    if (!session) {
      const anonymous = new Session<Data>(this, null, null, clearOwn, request, vanished);
      anonymous.migrated(clearOld, false);
      return anonymous;
    }
    session.migrated(clearOld, true);
    return session;
  }

  /**
   * The common authenticated read, answered by the near-cache synchronously
   * (no promise, no store): one well-formed token whose session is cached and
   * not expired. Undefined otherwise: then call load().
   */
  loadCached<Data extends object>(cookieValues: readonly string[], request?: RequestContext, transport: Transport = "cookie"): Session<Data> | undefined {
    const coherence = this.coherence;
    if (!coherence?.cache || cookieValues.length !== 1) return undefined;
    const token = cookieValues[0]!;
    if (!isWellFormedToken(token)) return undefined;
    const record = coherence.lookup(idOfToken(token), this.#servable);
    return record ? new Session<Data>(this, record, token, false, request, undefined, transport) : undefined;
  }

  /** A cache hit costs no store round trip; a cached copy that looks expired is re-read (another process may have touched it). */
  #read(id: string): Promise<SessionRecord | null> | SessionRecord {
    const coherence = this.coherence;
    if (coherence?.cache) {
      const hit = coherence.lookup(id, this.#servable);
      if (hit) return hit;
      return coherence.fill(id, () => this.call(() => this.store.get(id)));
    }
    return this.call(() => this.store.get(id));
  }

  /**
   * Runs a write that ends or changes sessions: its notice is published with
   * it, this process forgets them before and after, and under strict
   * revocation a write that ends a token (`ack`) resolves only once no
   * process can still accept it.
   */
  async #write<T>(ids: string[], users: string[], ack: boolean, write: (notice: string | undefined) => Promise<T>, change = false): Promise<T> {
    const coherence = this.coherence;
    const notice = coherence && (!change || this.#publishChanges) ? coherence.notice(ids, users, ack) : null;
    coherence?.forget(ids, users);
    let result: T;
    try {
      result = await this.call(() => write(notice?.payload));
    } catch (error) {
      if (notice) coherence!.cancel(notice.seq);
      throw error;
    } finally {
      coherence?.forget(ids, users);
    }
    if (notice) await this.call(() => coherence!.awaitAcks(notice.seq));
    return result;
  }

  isExpired(record: SessionRecord, now = this.options.now()): boolean {
    return now >= record.expiresAt || now >= record.absoluteExpiresAt || now >= record.lastSeenAt + this.options.idleTimeout;
  }

  expiresAt(lastSeenAt: number, absoluteExpiresAt: number): number {
    return Math.min(lastSeenAt + this.options.idleTimeout, absoluteExpiresAt);
  }

  cookieExpiry(record: SessionRecord): number | undefined {
    return this.options.cookie.persistent ? record.absoluteExpiresAt : undefined;
  }

  async create(userId: string | null, data: Record<string, JsonValue>, device?: DeviceInfo): Promise<{ record: SessionRecord; token: string }> {
    this.#assertSize(data);
    const now = this.options.now();
    const token = mintToken(userId);
    const absoluteExpiresAt = now + this.options.absoluteTimeout;
    const record: SessionRecord = {
      id: idOfToken(token),
      userId,
      data: { ...data },
      createdAt: now,
      lastSeenAt: now,
      expiresAt: this.expiresAt(now, absoluteExpiresAt),
      absoluteExpiresAt,
      version: 1,
    };
    if (device) record.device = device;
    await this.call(() => this.store.create(record));
    this.metrics?.created(userId !== null);
    this.hook(() => this.options.hooks.created?.({ handle: record.id, userId }));
    return { record, token };
  }

  /** Sign in: a fresh token; the old record (if any) is replaced atomically. */
  async login(
    previous: SessionRecord | null,
    userId: string,
    change: ChangeSet,
    data: Record<string, JsonValue>,
    device?: DeviceInfo,
  ): Promise<{ record: SessionRecord; token: string }> {
    this.#assertSize(data);
    if (!previous) return this.create(userId, data, device);
    const now = this.options.now();
    if (await this.#expired(previous, now)) {
      await this.#expire(previous);
      return this.create(userId, change.set, device);
    }
    const token = mintToken(userId);
    const absoluteExpiresAt = now + this.options.absoluteTimeout;
    const result = await this.#write([previous.id], [], true, (notice) =>
      this.store.rotate(previous.id, {
        newId: idOfToken(token),
        userId,
        change,
        createdAt: now,
        lastSeenAt: now,
        expiresAt: this.expiresAt(now, absoluteExpiresAt),
        absoluteExpiresAt,
        ...(device ? { device } : {}),
        maxDataBytes: this.options.maxDataBytes,
        notice,
      }),
    );
    if (result.status === "too-large") throw new SessionDataTooLargeError(result.bytes, this.options.maxDataBytes);
    if (result.status === "gone") {
      // Revoked while this request held it: the old token stays dead, and the
      // new session carries only what this request itself wrote.
      return this.create(userId, change.set, device);
    }
    this.metrics?.rotated();
    this.hook(() => this.options.hooks.rotated?.({ previousHandle: previous.id, handle: result.record.id, userId }));
    return { record: result.record, token };
  }

  async patch(record: SessionRecord, change: ChangeSet, data: Record<string, JsonValue>): Promise<CommitOutcome> {
    this.#assertSize(data);
    const now = this.options.now();
    if (await this.#expired(record, now)) return this.#expiredDuringRequest(record);
    const expiresAt = this.expiresAt(now, record.absoluteExpiresAt);
    const result = await this.#write([record.id], [], false, (notice) =>
      this.store.patch(record.id, {
        change,
        lastSeenAt: now,
        expiresAt,
        ...(this.options.conflicts === "reject" ? { expectVersion: record.version } : {}),
        maxDataBytes: this.options.maxDataBytes,
        notice,
      }),
      true,
    );
    if (result.status === "gone") return "gone";
    if (result.status === "conflict") return "conflict";
    // Overlapping requests added to the session meanwhile: the store measured the merged data (authoritative).
    if (result.status === "too-large") throw new SessionDataTooLargeError(result.bytes, this.options.maxDataBytes);
    record.version = result.version;
    record.lastSeenAt = now;
    record.expiresAt = expiresAt;
    record.data = { ...data };
    return "saved";
  }

  /** True when a read-only request must still write (touch due) or notice expiry. */
  commitDue(record: SessionRecord): boolean {
    const now = this.options.now();
    return this.isExpired(record, now) || now - record.lastSeenAt >= this.options.touchInterval;
  }

  /** Throttled sliding expiry: at most one write per touchInterval per session. */
  async touchIfDue(record: SessionRecord): Promise<CommitOutcome> {
    const now = this.options.now();
    if (await this.#expired(record, now)) return this.#expiredDuringRequest(record);
    if (now - record.lastSeenAt < this.options.touchInterval) return "unchanged";
    const expiresAt = this.expiresAt(now, record.absoluteExpiresAt);
    const alive = await this.call(() => this.store.touch(record.id, now, expiresAt));
    if (!alive) {
      this.coherence?.forget([record.id], []); // the store says gone: so does this process's cache
      return "gone";
    }
    this.coherence?.touched(record.id, now, expiresAt);
    record.lastSeenAt = now;
    record.expiresAt = expiresAt;
    return "saved";
  }

  async destroy(record: Pick<SessionRecord, "id" | "userId">, reason: DestroyReason): Promise<boolean> {
    // An expired session is refused everywhere already (G4): no need to wait for acknowledgements.
    const existed = await this.#write([record.id], [], reason !== "expired", (notice) => this.store.destroy(record.id, { notice }));
    if (existed) {
      this.metrics?.ended(reason, 1);
      this.hook(() => this.options.hooks.destroyed?.({ handle: record.id, userId: record.userId, reason, count: 1 }));
    }
    return existed;
  }

  /**
   * Log out everywhere (but `except`): one atomic store step, published as one
   * notice naming the user. Every near-cache drops all of the user's sessions,
   * the kept one too (it is re-read on its next request).
   */
  async destroyUser(userId: string, except?: string): Promise<number> {
    // The user's sessions of the library being migrated from end first (see SessionMigration.revokeUser);
    // if the old store fails, the latchkey sessions still end, then the failure is reported.
    const legacyFailure = this.#migration?.revokeUser ? await this.#migration.revokeUser(userId, this.#migrationHost).then(() => null, (error: unknown) => ({ error })) : null;
    const count = await this.#write([], [userId], true, (notice) =>
      this.store.destroyUser(userId, except === undefined ? { notice } : { notice, except }),
    );
    if (count > 0) {
      const reason = except === undefined ? "revoke-user" : "logout-others";
      this.metrics?.ended(reason, count);
      this.hook(() => this.options.hooks.destroyed?.({ handle: null, userId, reason, count }));
    }
    if (legacyFailure) throw legacyFailure.error;
    return count;
  }

  /**
   * Whether `record` has expired (G4). A near-cache copy can lag the store —
   * touches publish no notice — so before ending a session on a copy's word
   * the store's own record decides; when it is alive, `record` takes its
   * times.
   */
  async #expired(record: SessionRecord, now: number): Promise<boolean> {
    if (!this.isExpired(record, now)) return false;
    if (!this.coherence?.cache) return true;
    const current = await this.call(() => this.store.get(record.id));
    if (current === null || this.isExpired(current, now)) return true;
    record.lastSeenAt = current.lastSeenAt;
    record.expiresAt = current.expiresAt;
    record.absoluteExpiresAt = current.absoluteExpiresAt;
    return false;
  }

  /** It expired while this request ran: writing now would extend it past its timeout (G4). */
  async #expiredDuringRequest(record: SessionRecord): Promise<CommitOutcome> {
    await this.#expire(record);
    return "gone";
  }

  async #expire(record: SessionRecord): Promise<void> {
    try {
      await this.destroy(record, "expired");
    } catch (error) {
      // The record is expired either way (G4); the sweeper or the store's TTL removes it later.
      this.options.logger.warn(`latchkey: could not delete an expired session: ${(error as Error).message}`);
    }
  }

  /** The early check, on this request's own view (fails before any store call); the store checks the merged data. */
  #assertSize(data: Record<string, JsonValue>): void {
    const bytes = dataBytes(data);
    if (bytes > this.options.maxDataBytes) throw new SessionDataTooLargeError(bytes, this.options.maxDataBytes);
  }

  /** Runs an audit hook; a hook that throws is logged and never breaks the request. */
  hook(fn: () => void): void {
    try {
      fn();
    } catch (error) {
      this.options.logger.error(`latchkey: a session hook threw: ${(error as Error).stack ?? String(error)}`);
    }
  }

  /** Runs a store operation; unexpected store errors become StoreUnavailableError (G6). */
  async call<T>(operation: () => Promise<T>): Promise<T> {
    try {
      return await operation();
    } catch (error) {
      if (error instanceof SessionExistsError || error instanceof StoreUnavailableError || error instanceof SessionValueError) throw error;
      throw new StoreUnavailableError(this.store.name, error);
    }
  }
}
