import { Coherence } from "../nearcache/index.js";
import { SessionValueError, StoreUnavailableError } from "./errors.js";
import type { DestroyReason, ResolvedOptions, SessionEndedEvent } from "./options.js";
import type { Issued, LoginSettings, Refused, ReplaceTarget } from "./types.js";
export type { Issued, LoginSettings, Refused, ReplaceTarget };
import { timedStore, type SessionsMetrics } from "./metrics.js";
import type { CommitOutcome } from "./session-host.js";
import type { MigrationHost, SessionMigration } from "./migration.js";
import {
  SessionExistsError,
  type ChangeSet,
  type DeviceInfo,
  type EndedSession,
  type JsonValue,
  type SessionMeta,
  type SessionRecord,
  type SessionStore,
} from "../store/contract.js";
import { WatchRegistry, type WatchReason } from "./watch.js";
import { SessionLoader } from "./load.js";
import { SessionWrites } from "./writes.js";

/**
 * The manager's internals: expiry (G4), every store write, ending sessions and
 * watching them. Loading a request's session is the SessionLoader's (load.ts),
 * what a request's session writes the SessionWrites' (writes.ts); both reach the
 * store through this class. Store errors come out as StoreUnavailableError so
 * adapters can fail closed (G6).
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
  /** Reads a request's session (load.ts). */
  readonly loader: SessionLoader;
  /** What a request's session writes (writes.ts): create, login, rotations, patch, touch. */
  readonly #writes: SessionWrites;
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
    this.#writes = new SessionWrites(this);
    this.loader = new SessionLoader(this, this.#migration, this.#migrationHost);
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
    await Promise.all(ids.map((id) => this.write([id], [], true, (notice) => this.store.destroy(id, { notice }))));
  }

  /**
   * Runs a write that ends or changes sessions: its notice is published with
   * it, this process forgets them before and after, and under strict
   * revocation a write that ends a token (`ack`) resolves only once no
   * process can still accept it.
   */
  async write<T>(
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

  // A request's session is created, signed in, rotated, patched and touched by SessionWrites (writes.ts).
  create(userId: string | null, data: Record<string, JsonValue>, device?: DeviceInfo): Promise<Issued> {
    return this.#writes.create(userId, data, device);
  }

  login(
    previous: SessionRecord | null,
    userId: string,
    change: ChangeSet,
    data: Record<string, JsonValue>,
    device?: DeviceInfo,
    settings?: LoginSettings,
  ): Promise<Issued | Refused> {
    return this.#writes.login(previous, userId, change, data, device, settings);
  }

  replace(previous: SessionRecord, next: ReplaceTarget, change: ChangeSet, data: Record<string, JsonValue>, device?: DeviceInfo): Promise<Issued> {
    return this.#writes.replace(previous, next, change, data, device);
  }

  patch(record: SessionRecord, change: ChangeSet, data: Record<string, JsonValue>): Promise<CommitOutcome> {
    return this.#writes.patch(record, change, data);
  }

  commitDue(record: SessionRecord): boolean {
    return this.#writes.commitDue(record);
  }

  touchIfDue(record: SessionRecord): Promise<CommitOutcome> {
    return this.#writes.touchIfDue(record);
  }

  async destroy(record: Pick<SessionRecord, "id" | "userId" | "impersonator">, reason: DestroyReason): Promise<boolean> {
    // An expired session is refused everywhere already (G4): no need to wait for acknowledgements.
    const ended = await this.write(
      [record.id],
      [],
      reason !== "expired",
      (notice) => this.store.destroy(record.id, { notice }),
      reason,
      (ended) => {
        // Watchers are told even when another write got there first: the session is gone either way.
        this.#watchers?.ended([record.id], reason);
        if (ended) this.ended([ended], reason);
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
  ended(sessions: readonly EndedSession[], reason: DestroyReason): void {
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
    this.ended(ended, "expired");
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

  /** The registry behind sessions.watch(), or null while nothing is watched. */
  get activeWatchers(): WatchRegistry | null {
    return this.#watchers;
  }

  /**
   * Activity on a long-lived connection: keeps the session alive like a
   * request does (at most one store write per touchInterval). False when the
   * session is gone or expired.
   */
  async touchHandle(handle: string): Promise<boolean> {
    const record = await this.loader.read(handle);
    if (!record) return false;
    if (this.isExpired(record) && (await this.#writes.expired(record, this.options.now()))) {
      await this.expire(record);
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
    const ended = await this.write(
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
        this.ended(ended, reason);
      },
    );
    const count = ended.filter((session) => !session.expired).length;
    if (count > 0) this.hook(() => this.options.hooks.destroyed?.({ handle: null, userId, reason, count }));
    if (legacyFailure) throw legacyFailure.error;
    return count;
  }

  async expire(record: SessionRecord): Promise<void> {
    try {
      await this.destroy(record, "expired");
    } catch (error) {
      // The record is expired either way (G4); the sweeper or the store's TTL removes it later.
      this.options.logger.warn(`latchkey: could not delete an expired session: ${(error as Error).message}`);
    }
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
