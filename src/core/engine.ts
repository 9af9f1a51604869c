import { Coherence } from "../nearcache/index.js";
import { SessionDataTooLargeError, SessionGoneError, SessionValueError, StoreUnavailableError } from "./errors.js";
import type { DestroyReason, ResolvedOptions, SessionEndedEvent } from "./options.js";
import type { Issued, LoginSettings, Refused, ReplaceTarget } from "./types.js";
export type { Issued, LoginSettings, Refused, ReplaceTarget };
import { timedStore, type SessionsMetrics } from "./metrics.js";
import { Session, type CommitOutcome, type Transport } from "./session.js";
import type { RequestContext } from "./request.js";
import type { MigrationHost, SessionMigration } from "./migration.js";
import {
  dataBytes,
  SessionExistsError,
  type ChangeSet,
  type DeviceInfo,
  type EndedSession,
  type JsonValue,
  type RotateInput,
  type RotateResult,
  type SessionLimit,
  type SessionMeta,
  type SessionRecord,
  type SessionStore,
} from "../store/contract.js";
import { sessionMetaOf } from "../store/records.js";
import { WatchRegistry, type WatchReason } from "./watch.js";
import { idOfToken, isWellFormedToken, mintToken } from "../store/token.js";

/** A new token and the record it names. */
/** How a new session starts beyond its user and data. */
interface Start {
  meta?: SessionMeta;
  absoluteTimeout?: number;
  /** The user limit applies (a login). */
  limited?: boolean;
}

/** At most this many same-named cookies are looked up; the rest are ignored. */
const MAX_COOKIE_CANDIDATES = 3;
/** Tokens whose id loadCached() remembers (see #ids). */
const MAX_REMEMBERED_IDS = 1024;

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
  /**
   * token → id (SHA-256) for tokens whose session the near-cache answered: a
   * hit then hashes nothing. Only tokens of cached sessions get in (a stream
   * of made-up tokens cannot churn it); an entry goes when its lookup misses
   * (revoked, expired, evicted), and the oldest when it is full. It decides
   * nothing: the id is still looked up, and refused once revoked (G3).
   */
  readonly #ids = new Map<string, string>();
  readonly #migration: SessionMigration | null;
  readonly #migrationHost: MigrationHost;
  /** Watched sessions (sessions.watch), created on the first watch. */
  #watchers: WatchRegistry | null = null;

  constructor(options: ResolvedOptions) {
    this.options = options;
    const metrics = options.metrics;
    this.metrics = metrics;
    this.store = metrics ? timedStore(options.store, metrics) : options.store;
    const feed = options.store.feed;
    const timings = metrics && { propagation: (ms: number) => metrics.propagation(ms / 1000), strictWait: (ms: number) => metrics.strictWait(ms / 1000) };
    this.coherence = feed
      ? new Coherence({ feed, storeName: this.store.name, logger: options.logger, cache: options.nearCache, strict: options.strict, timings })
      : null;
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
    if (transport === "cookie" && this.#migration && header?.includes(this.#migration.cookieName))
      return this.#migrate<Data>(this.#migration, header, clear, request, vanished);
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
    // No reason: these sessions ended earlier, and that write told their watchers.
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
    let id = this.#ids.get(token);
    const remembered = id !== undefined;
    if (!remembered) {
      if (!isWellFormedToken(token)) return undefined;
      id = idOfToken(token);
    }
    const record = coherence.lookup(id!, this.#servable);
    if (!record) {
      if (remembered) this.#ids.delete(token);
      return undefined;
    }
    if (!remembered) {
      if (this.#ids.size >= MAX_REMEMBERED_IDS) this.#ids.delete(this.#ids.keys().next().value!);
      this.#ids.set(token, id!);
    }
    return new Session<Data>(this, record, token, false, request, undefined, transport);
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
  async #write<T>(
    ids: string[],
    users: string[],
    ack: boolean,
    write: (notice: string | undefined, stepNotice: string | undefined) => Promise<T>,
    effect?: "change" | WatchReason,
    ended?: (result: T) => void,
  ): Promise<T> {
    const coherence = this.coherence;
    const change = effect === "change";
    const reason = change ? undefined : effect;
    const notice = coherence && (!change || this.#publishChanges) ? coherence.notice(ids, users, ack, reason) : null;
    coherence?.forget(ids, users);
    let result: T;
    try {
      result = await this.call(() => write(notice?.payload, notice?.step));
    } catch (error) {
      if (notice) coherence!.cancel(notice.seq);
      throw error;
    } finally {
      coherence?.forget(ids, users);
    }
    // This process's watchers and hooks first: under strict revocation the write resolves after every process's listeners ran.
    if (ended) ended(result);
    if (notice) await this.call(() => coherence!.awaitAcks(notice.seq));
    return result;
  }

  /** The session's own idle timeout (login's option), else the manager's. */
  idleTimeoutOf(record: SessionMeta): number {
    return record.idleTimeout ?? this.options.idleTimeout;
  }

  isExpired(record: Pick<SessionRecord, "expiresAt" | "absoluteExpiresAt" | "lastSeenAt" | "idleTimeout">, now = this.options.now()): boolean {
    return now >= record.expiresAt || now >= record.absoluteExpiresAt || now >= record.lastSeenAt + this.idleTimeoutOf(record);
  }

  expiresAt(lastSeenAt: number, absoluteExpiresAt: number, idleTimeout = this.options.idleTimeout): number {
    return Math.min(lastSeenAt + idleTimeout, absoluteExpiresAt);
  }

  /** The manager's touchInterval, shortened for a session whose own idle timeout is shorter (it must never idle out between touches). */
  touchIntervalOf(record: SessionMeta): number {
    const idle = record.idleTimeout;
    return idle === undefined ? this.options.touchInterval : Math.min(this.options.touchInterval, Math.floor(idle / 10));
  }

  cookieExpiry(record: SessionRecord): number | undefined {
    return (record.persistent ?? this.options.cookie.persistent) ? record.absoluteExpiresAt : undefined;
  }

  async create(userId: string | null, data: Record<string, JsonValue>, device?: DeviceInfo): Promise<Issued> {
    return (await this.#insert(userId, data, device, {})) as Issued; // no limit: never refused
  }

  /** The user limit for a login at `now`, or undefined. */
  #limit(now: number): SessionLimit | undefined {
    const limit = this.options.sessionLimit;
    return limit ? { max: limit.max, onLimit: limit.onLimit, now } : undefined;
  }

  async #insert(userId: string | null, data: Record<string, JsonValue>, device: DeviceInfo | undefined, start: Start): Promise<Issued | Refused> {
    this.#assertSize(data);
    const now = this.options.now();
    const meta = sessionMetaOf(start.meta ?? {});
    // An impersonation's id takes the impersonator's route (its slot on Redis Cluster): revokeUser(impersonator) ends it atomically.
    const token = mintToken(meta.impersonator ?? userId);
    const absoluteExpiresAt = now + (start.absoluteTimeout ?? this.options.absoluteTimeout);
    const record: SessionRecord = {
      id: idOfToken(token),
      userId,
      data: { ...data },
      createdAt: now,
      lastSeenAt: now,
      expiresAt: this.expiresAt(now, absoluteExpiresAt, this.idleTimeoutOf(meta)),
      absoluteExpiresAt,
      version: 1,
      ...meta,
    };
    if (device) record.device = device;
    const limit = start.limited && userId !== null ? this.#limit(now) : undefined;
    if (limit) {
      // "end-oldest" ends sessions: published like a revoke of the user, so strict revocation covers them.
      const endOldest = limit.onLimit === "end-oldest";
      const result = endOldest
        ? await this.#write([], [userId!], true, (notice) => this.store.create(record, notice === undefined ? { limit } : { limit, notice }))
        : await this.call(() => this.store.create(record, { limit }));
      if (!result)
        throw new Error(`latchkey: ${this.store.name} was given a session limit but create() reported no result; the store must implement sessionLimits`);
      if (result.status === "limit") return { refused: true, previousEnded: false };
      this.#endedByLimit(result.ended, userId!);
    } else {
      await this.call(() => this.store.create(record));
    }
    this.metrics?.created(userId !== null);
    this.hook(() =>
      this.options.hooks.created?.({ handle: record.id, userId, ...(record.impersonator === undefined ? {} : { impersonator: record.impersonator }) }),
    );
    return { record, token };
  }

  /** Sessions a login's limit ended: counted and told (hooks, watchers) like any other end. */
  #endedByLimit(ended: readonly string[] | undefined, userId: string): void {
    if (!ended || ended.length === 0) return;
    this.#watchers?.ended([...ended], "limit");
    this.#ended(
      ended.map((id): EndedSession => ({ id, userId })),
      "limit",
    );
    for (const handle of ended) this.hook(() => this.options.hooks.destroyed?.({ handle, userId, reason: "limit", count: 1 }));
  }

  /**
   * Replaces `previous` by a record under `token`, atomically (G1): the old
   * token is dead everywhere once this resolves. `limited`: the user limit
   * applies (a login).
   */
  async #rotate(previous: SessionRecord, token: string, input: Omit<RotateInput, "newId" | "notice" | "limit">, limited: boolean): Promise<RotateResult> {
    const limit = limited && input.userId !== null ? this.#limit(input.lastSeenAt) : undefined;
    const endOldest = limit?.onLimit === "end-oldest";
    const result = await this.#write(
      [previous.id],
      endOldest ? [input.userId!] : [],
      true,
      (notice) =>
        this.store.rotate(previous.id, { ...input, newId: idOfToken(token), notice, maxDataBytes: this.options.maxDataBytes, ...(limit ? { limit } : {}) }),
      // Sessions the limit ends are the ones live connections watch: they hear "limit"; the rotated handle, "rotated", here.
      endOldest ? "limit" : "rotated",
      () => this.#watchers?.ended([previous.id], "rotated"),
    );
    if (result.status !== "ok") return result;
    this.#endedByLimit(result.ended, input.userId!);
    this.metrics?.rotated();
    const { record } = result;
    this.hook(() =>
      this.options.hooks.rotated?.({
        previousHandle: previous.id,
        handle: record.id,
        userId: record.userId,
        ...(record.impersonator === undefined ? {} : { impersonator: record.impersonator }),
      }),
    );
    return result;
  }

  /** Sign in: a fresh token; the old record (if any) is replaced atomically. */
  async login(
    previous: SessionRecord | null,
    userId: string,
    change: ChangeSet,
    data: Record<string, JsonValue>,
    device?: DeviceInfo,
    settings: LoginSettings = {},
  ): Promise<Issued | Refused> {
    this.#assertSize(data);
    const now = this.options.now();
    const meta: SessionMeta = { authenticatedAt: now };
    if (settings.idleTimeout !== undefined) meta.idleTimeout = settings.idleTimeout;
    if (settings.persistent !== undefined) meta.persistent = settings.persistent;
    const start: Start = { meta, limited: true, ...(settings.absoluteTimeout === undefined ? {} : { absoluteTimeout: settings.absoluteTimeout }) };
    if (!previous) return this.#insert(userId, data, device, start);
    if (await this.#expired(previous, now)) {
      await this.#expire(previous);
      return this.#insert(userId, change.set, device, start);
    }
    const token = mintToken(userId);
    const absoluteExpiresAt = now + (settings.absoluteTimeout ?? this.options.absoluteTimeout);
    const result = await this.#rotate(
      previous,
      token,
      {
        userId,
        change,
        createdAt: now,
        lastSeenAt: now,
        expiresAt: this.expiresAt(now, absoluteExpiresAt, this.idleTimeoutOf(meta)),
        absoluteExpiresAt,
        ...(device ? { device } : {}),
        ...meta,
      },
      true,
    );
    if (result.status === "too-large") throw new SessionDataTooLargeError(result.bytes, this.options.maxDataBytes);
    if (result.status === "gone") {
      // Revoked while this request held it: the old token stays dead, and the
      // new session carries only what this request itself wrote.
      return this.#insert(userId, change.set, device, start);
    }
    if (result.status === "limit") return { refused: true, previousEnded: result.previousEnded === true };
    return { record: result.record, token };
  }

  /**
   * A rotation that keeps the session's user, lifetime and creation time:
   * reauthenticate (authenticatedAt = now), impersonate and stop
   * impersonating (another user, the data left behind: `wipe`). Rejects
   * with SessionGoneError when the session ended meanwhile: none of these
   * may bring an ended session back.
   */
  async replace(previous: SessionRecord, next: ReplaceTarget, change: ChangeSet, data: Record<string, JsonValue>, device?: DeviceInfo): Promise<Issued> {
    this.#assertSize(data);
    const now = this.options.now();
    if (await this.#expired(previous, now)) {
      await this.#expire(previous);
      throw new SessionGoneError();
    }
    const meta = sessionMetaOf(next.meta);
    const token = mintToken(meta.impersonator ?? next.userId);
    // Wiping: every key the store may hold goes (a key another request added meanwhile may remain).
    const wipe: ChangeSet = { set: {}, unset: [...new Set([...Object.keys(previous.data), ...Object.keys(data), ...change.unset])] };
    const result = await this.#rotate(
      previous,
      token,
      {
        userId: next.userId,
        change: next.wipe ? wipe : change,
        createdAt: previous.createdAt,
        lastSeenAt: now,
        expiresAt: this.expiresAt(now, previous.absoluteExpiresAt, this.idleTimeoutOf(meta)),
        absoluteExpiresAt: previous.absoluteExpiresAt,
        ...(device ? { device } : {}),
        ...meta,
      },
      false,
    );
    if (result.status !== "ok") throw new SessionGoneError();
    return { record: result.record, token };
  }

  async patch(record: SessionRecord, change: ChangeSet, data: Record<string, JsonValue>): Promise<CommitOutcome> {
    this.#assertSize(data);
    const now = this.options.now();
    if (await this.#expired(record, now)) return this.#expiredDuringRequest(record);
    const expiresAt = this.expiresAt(now, record.absoluteExpiresAt, this.idleTimeoutOf(record));
    const result = await this.#write(
      [record.id],
      [],
      false,
      (notice) =>
        this.store.patch(record.id, {
          change,
          lastSeenAt: now,
          expiresAt,
          ...(this.options.conflicts === "reject" ? { expectVersion: record.version } : {}),
          maxDataBytes: this.options.maxDataBytes,
          notice,
        }),
      "change",
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
    return this.isExpired(record, now) || now - record.lastSeenAt >= this.touchIntervalOf(record);
  }

  /** Throttled sliding expiry: at most one write per touchInterval per session. */
  async touchIfDue(record: SessionRecord): Promise<CommitOutcome> {
    const now = this.options.now();
    if (await this.#expired(record, now)) return this.#expiredDuringRequest(record);
    if (now - record.lastSeenAt < this.touchIntervalOf(record)) return "unchanged";
    const expiresAt = this.expiresAt(now, record.absoluteExpiresAt, this.idleTimeoutOf(record));
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

  async destroy(record: Pick<SessionRecord, "id" | "userId" | "impersonator">, reason: DestroyReason): Promise<boolean> {
    // An expired session is refused everywhere already (G4): no need to wait for acknowledgements.
    const ended = await this.#write(
      [record.id],
      [],
      reason !== "expired",
      (notice) => this.store.destroy(record.id, { notice }),
      reason,
      (ended) => {
        // Watchers are told even when another write got there first: the session is gone either way.
        this.#watchers?.ended([record.id], reason);
        if (ended) this.#ended([ended], reason);
      },
    );
    if (ended) {
      const impersonator = record.impersonator;
      this.hook(() =>
        this.options.hooks.destroyed?.({ handle: record.id, userId: ended.userId, reason, count: 1, ...(impersonator === undefined ? {} : { impersonator }) }),
      );
    }
    return ended !== null;
  }

  /**
   * Sessions this process deleted: counted, and each told once to the
   * `ended` hook (the store gave each deleted record to exactly one caller).
   */
  #ended(sessions: readonly EndedSession[], reason: DestroyReason): void {
    if (sessions.length === 0) return;
    const at = this.options.now();
    const expired = sessions.filter((session) => session.expired);
    const current = expired.length === 0 ? sessions : sessions.filter((session) => !session.expired);
    if (current.length > 0) this.metrics?.ended(reason, current.length);
    if (expired.length > 0) this.metrics?.ended("expired", expired.length);
    const hook = this.options.hooks.ended;
    if (!hook) return;
    for (const session of sessions) {
      const event: SessionEndedEvent = {
        handle: session.id,
        userId: session.userId,
        reason: session.expired ? "expired" : reason,
        device: session.device ?? null,
        at,
      };
      this.hook(() => hook(event));
    }
  }

  /** Deletes expired records (the sweeper, or `sessions.sweep()`); each one's `ended` event fires here. */
  async sweep(): Promise<number> {
    const ended = await this.call(() => this.store.sweep(this.options.now()));
    this.#watchers?.ended(
      ended.map((session) => session.id),
      "expired",
    );
    this.#ended(ended, "expired");
    return ended.length;
  }

  /** The registry behind sessions.watch(), created on first use. */
  watchers(): WatchRegistry {
    if (this.#watchers) return this.#watchers;
    const store = this.store;
    const registry = new WatchRegistry(
      {
        now: this.options.now,
        isExpired: (record, now) => this.isExpired(record, now),
        readMany: (ids) => this.call(() => (store.expiries ? store.expiries(ids) : Promise.all(ids.map((id) => store.get(id))))),
        expire: (record) => this.destroy(record, "expired").then(() => undefined),
        warn: (message) => this.options.logger.warn(message),
        error: (message) => this.options.logger.error(message),
      },
      // With a feed, other processes' ends arrive as notices; without one, a poll finds them.
      this.coherence ? null : this.options.watchInterval,
    );
    this.#watchers = registry;
    this.coherence?.observe({
      ended: (ids, users, reason) => {
        registry.ended(ids, reason as WatchReason);
        if (users.length > 0) return registry.endedUsers(users, reason as WatchReason);
      },
      resync: () => void registry.resync(),
    });
    return registry;
  }

  /**
   * Activity on a long-lived connection: keeps the session alive like a
   * request does (at most one store write per touchInterval). False when the
   * session is gone or expired.
   */
  async touchHandle(handle: string): Promise<boolean> {
    const record = await this.#read(handle);
    if (!record) return false;
    if (this.isExpired(record) && (await this.#expired(record, this.options.now()))) {
      await this.#expire(record);
      return false;
    }
    return (await this.touchIfDue(record)) !== "gone";
  }

  closeWatchers(): void {
    this.#watchers?.close();
  }

  /**
   * Log out everywhere (but `except`): one store call, published as a notice
   * naming the user (with each step, on a store that deletes in bounded steps;
   * strict revocation waits for acknowledgements of the last). Every near-cache
   * drops all of the user's sessions, the kept one too (it is re-read on its next request).
   */
  async destroyUser(userId: string, except?: string): Promise<number> {
    const reason = except === undefined ? "revoke-user" : "logout-others";
    // The user's sessions of the library being migrated from end first (see SessionMigration.revokeUser);
    // if the old store fails, the latchkey sessions still end, then the failure is reported.
    const legacyFailure = this.#migration?.revokeUser
      ? await this.#migration.revokeUser(userId, this.#migrationHost).then(
          () => null,
          (error: unknown) => ({ error }),
        )
      : null;
    const ended = await this.#write(
      [],
      [userId],
      true,
      // Published with each step of a store that ends the sessions in several (Redis): every step's deletions are noticed.
      (notice, stepNotice) =>
        this.store.destroyUser(userId, { notice, ...(stepNotice !== notice ? { stepNotice } : {}), ...(except === undefined ? {} : { except }) }),
      reason,
      (ended) => {
        // The store said which sessions it ended: this process's watchers need no re-read.
        const current = ended.filter((session) => !session.expired).map((session) => session.id);
        this.#watchers?.ended(current, reason);
        this.#watchers?.ended(
          ended.filter((session) => session.expired).map((session) => session.id),
          "expired",
        );
        this.#ended(ended, reason);
      },
    );
    const count = ended.filter((session) => !session.expired).length;
    if (count > 0) this.hook(() => this.options.hooks.destroyed?.({ handle: null, userId, reason, count }));
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
