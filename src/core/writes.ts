// What a request's Session writes: a new session, a login or one of the rotations that keep the
// session (reauthenticate, impersonate), under the user's session limit where it applies, a patch of
// its change set, a touch. The Engine delegates these to one SessionWrites and implements
// WritesHost; ending sessions (logout, revoke, sweep) and the store plumbing stay in engine.ts.
import type { Coherence } from "../nearcache/index.js";
import type {
  ChangeSet,
  DeviceInfo,
  EndedSession,
  JsonValue,
  RotateInput,
  RotateResult,
  SessionLimit,
  SessionMeta,
  SessionRecord,
  SessionStore,
} from "../store/contract.js";
import { dataBytes } from "../store/contract.js";
import { sessionMetaOf } from "../store/records.js";
import { idOfToken, mintToken } from "../store/token.js";
import { SessionDataTooLargeError, SessionGoneError } from "./errors.js";
import type { SessionsMetrics } from "./metrics.js";
import type { DestroyReason, ResolvedOptions } from "./options.js";
import type { CommitOutcome } from "./session-host.js";
import type { Issued, LoginSettings, Refused, ReplaceTarget } from "./types.js";
import type { WatchReason, WatchRegistry } from "./watch.js";

/** How a new session starts beyond its user and data. */
interface Start {
  meta?: SessionMeta;
  absoluteTimeout?: number;
  /** The user limit applies (a login). */
  limited?: boolean;
}

/** What the writes ask of the engine (the Engine implements it). */
export interface WritesHost {
  readonly options: ResolvedOptions;
  readonly store: SessionStore;
  readonly coherence: Coherence | null;
  readonly metrics: SessionsMetrics | null;
  /** The registry behind sessions.watch(), or null while nothing is watched. */
  readonly activeWatchers: WatchRegistry | null;
  call<T>(operation: () => Promise<T>): Promise<T>;
  hook(fn: () => void): void;
  write<T>(
    ids: string[],
    users: string[],
    ack: boolean,
    write: (notice: string | undefined, stepNotice: string | undefined) => Promise<T>,
    effect?: "change" | WatchReason,
    ended?: (result: T) => void,
  ): Promise<T>;
  ended(sessions: readonly EndedSession[], reason: DestroyReason): void;
  expire(record: SessionRecord): Promise<void>;
  isExpired(record: SessionRecord, now?: number): boolean;
  expiresAt(lastSeenAt: number, absoluteExpiresAt: number, idleTimeout?: number): number;
  idleTimeoutOf(record: SessionMeta): number;
  touchIntervalOf(record: SessionMeta): number;
}

export class SessionWrites {
  readonly #engine: WritesHost;

  constructor(engine: WritesHost) {
    this.#engine = engine;
  }

  async create(userId: string | null, data: Record<string, JsonValue>, device?: DeviceInfo): Promise<Issued> {
    return (await this.#insert(userId, data, device, {})) as Issued; // no limit: never refused
  }

  /** The user limit for a login at `now`, or undefined. */
  #limit(now: number): SessionLimit | undefined {
    const limit = this.#engine.options.sessionLimit;
    return limit ? { max: limit.max, onLimit: limit.onLimit, now } : undefined;
  }

  async #insert(userId: string | null, data: Record<string, JsonValue>, device: DeviceInfo | undefined, start: Start): Promise<Issued | Refused> {
    this.#assertSize(data);
    const now = this.#engine.options.now();
    const meta = sessionMetaOf(start.meta ?? {});
    // An impersonation's id takes the impersonator's route (its slot on Redis Cluster): revokeUser(impersonator) ends it atomically.
    const token = mintToken(meta.impersonator ?? userId);
    const absoluteExpiresAt = now + (start.absoluteTimeout ?? this.#engine.options.absoluteTimeout);
    const record: SessionRecord = {
      id: idOfToken(token),
      userId,
      data: { ...data },
      createdAt: now,
      lastSeenAt: now,
      expiresAt: this.#engine.expiresAt(now, absoluteExpiresAt, this.#engine.idleTimeoutOf(meta)),
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
        ? await this.#engine.write([], [userId!], true, (notice) => this.#engine.store.create(record, notice === undefined ? { limit } : { limit, notice }))
        : await this.#engine.call(() => this.#engine.store.create(record, { limit }));
      if (!result)
        throw new Error(
          `latchkey: ${this.#engine.store.name} was given a session limit but create() reported no result; the store must implement sessionLimits`,
        );
      if (result.status === "limit") return { refused: true, previousEnded: false };
      this.#endedByLimit(result.ended, userId!);
    } else {
      await this.#engine.call(() => this.#engine.store.create(record));
    }
    this.#engine.metrics?.created(userId !== null);
    this.#engine.hook(() =>
      this.#engine.options.hooks.created?.({ handle: record.id, userId, ...(record.impersonator === undefined ? {} : { impersonator: record.impersonator }) }),
    );
    return { record, token };
  }

  /** Sessions a login's limit ended: counted and told (hooks, watchers) like any other end. */
  #endedByLimit(ended: readonly string[] | undefined, userId: string): void {
    if (!ended || ended.length === 0) return;
    this.#engine.activeWatchers?.ended([...ended], "limit");
    this.#engine.ended(
      ended.map((id): EndedSession => ({ id, userId })),
      "limit",
    );
    for (const handle of ended) this.#engine.hook(() => this.#engine.options.hooks.destroyed?.({ handle, userId, reason: "limit", count: 1 }));
  }

  /**
   * Replaces `previous` by a record under `token`, atomically (G1): the old
   * token is dead everywhere once this resolves. `limited`: the user limit
   * applies (a login).
   */
  async #rotate(previous: SessionRecord, token: string, input: Omit<RotateInput, "newId" | "notice" | "limit">, limited: boolean): Promise<RotateResult> {
    const limit = limited && input.userId !== null ? this.#limit(input.lastSeenAt) : undefined;
    const endOldest = limit?.onLimit === "end-oldest";
    const result = await this.#engine.write(
      [previous.id],
      endOldest ? [input.userId!] : [],
      true,
      (notice) =>
        this.#engine.store.rotate(previous.id, {
          ...input,
          newId: idOfToken(token),
          notice,
          maxDataBytes: this.#engine.options.maxDataBytes,
          ...(limit ? { limit } : {}),
        }),
      // Sessions the limit ends are the ones live connections watch: they hear "limit"; the rotated handle, "rotated", here.
      endOldest ? "limit" : "rotated",
      () => this.#engine.activeWatchers?.ended([previous.id], "rotated"),
    );
    if (result.status !== "ok") return result;
    this.#endedByLimit(result.ended, input.userId!);
    this.#engine.metrics?.rotated();
    const { record } = result;
    this.#engine.hook(() =>
      this.#engine.options.hooks.rotated?.({
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
    const now = this.#engine.options.now();
    const meta: SessionMeta = { authenticatedAt: now };
    if (settings.idleTimeout !== undefined) meta.idleTimeout = settings.idleTimeout;
    if (settings.persistent !== undefined) meta.persistent = settings.persistent;
    const start: Start = { meta, limited: true, ...(settings.absoluteTimeout === undefined ? {} : { absoluteTimeout: settings.absoluteTimeout }) };
    if (!previous) return this.#insert(userId, data, device, start);
    if (await this.expired(previous, now)) {
      await this.#engine.expire(previous);
      return this.#insert(userId, change.set, device, start);
    }
    const token = mintToken(userId);
    const absoluteExpiresAt = now + (settings.absoluteTimeout ?? this.#engine.options.absoluteTimeout);
    const result = await this.#rotate(
      previous,
      token,
      {
        userId,
        change,
        createdAt: now,
        lastSeenAt: now,
        expiresAt: this.#engine.expiresAt(now, absoluteExpiresAt, this.#engine.idleTimeoutOf(meta)),
        absoluteExpiresAt,
        ...(device ? { device } : {}),
        ...meta,
      },
      true,
    );
    if (result.status === "too-large") throw new SessionDataTooLargeError(result.bytes, this.#engine.options.maxDataBytes);
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
    const now = this.#engine.options.now();
    if (await this.expired(previous, now)) {
      await this.#engine.expire(previous);
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
        expiresAt: this.#engine.expiresAt(now, previous.absoluteExpiresAt, this.#engine.idleTimeoutOf(meta)),
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
    const now = this.#engine.options.now();
    if (await this.expired(record, now)) return this.#expiredDuringRequest(record);
    const expiresAt = this.#engine.expiresAt(now, record.absoluteExpiresAt, this.#engine.idleTimeoutOf(record));
    const result = await this.#engine.write(
      [record.id],
      [],
      false,
      (notice) =>
        this.#engine.store.patch(record.id, {
          change,
          lastSeenAt: now,
          expiresAt,
          ...(this.#engine.options.conflicts === "reject" ? { expectVersion: record.version } : {}),
          maxDataBytes: this.#engine.options.maxDataBytes,
          notice,
        }),
      "change",
    );
    if (result.status === "gone") return "gone";
    if (result.status === "conflict") return "conflict";
    // Overlapping requests added to the session meanwhile: the store measured the merged data (authoritative).
    if (result.status === "too-large") throw new SessionDataTooLargeError(result.bytes, this.#engine.options.maxDataBytes);
    record.version = result.version;
    record.lastSeenAt = now;
    record.expiresAt = expiresAt;
    record.data = { ...data };
    return "saved";
  }

  /** True when a read-only request must still write (touch due) or notice expiry. */
  commitDue(record: SessionRecord): boolean {
    const now = this.#engine.options.now();
    return this.#engine.isExpired(record, now) || now - record.lastSeenAt >= this.#engine.touchIntervalOf(record);
  }

  /** Throttled sliding expiry: at most one write per touchInterval per session. */
  async touchIfDue(record: SessionRecord): Promise<CommitOutcome> {
    const now = this.#engine.options.now();
    if (await this.expired(record, now)) return this.#expiredDuringRequest(record);
    if (now - record.lastSeenAt < this.#engine.touchIntervalOf(record)) return "unchanged";
    const expiresAt = this.#engine.expiresAt(now, record.absoluteExpiresAt, this.#engine.idleTimeoutOf(record));
    const alive = await this.#engine.call(() => this.#engine.store.touch(record.id, now, expiresAt));
    if (!alive) {
      this.#engine.coherence?.forget([record.id], []); // the store says gone: so does this process's cache
      return "gone";
    }
    this.#engine.coherence?.touched(record.id, now, expiresAt);
    record.lastSeenAt = now;
    record.expiresAt = expiresAt;
    return "saved";
  }

  /**
   * Whether `record` has expired (G4). A near-cache copy can lag the store —
   * touches publish no notice — so before ending a session on a copy's word
   * the store's own record decides; when it is alive, `record` takes its
   * times.
   */
  async expired(record: SessionRecord, now: number): Promise<boolean> {
    if (!this.#engine.isExpired(record, now)) return false;
    if (!this.#engine.coherence?.cache) return true;
    const current = await this.#engine.call(() => this.#engine.store.get(record.id));
    if (current === null || this.#engine.isExpired(current, now)) return true;
    record.lastSeenAt = current.lastSeenAt;
    record.expiresAt = current.expiresAt;
    record.absoluteExpiresAt = current.absoluteExpiresAt;
    return false;
  }

  /** It expired while this request ran: writing now would extend it past its timeout (G4). */
  async #expiredDuringRequest(record: SessionRecord): Promise<CommitOutcome> {
    await this.#engine.expire(record);
    return "gone";
  }

  /** The early check, on this request's own view (fails before any store call); the store checks the merged data. */
  #assertSize(data: Record<string, JsonValue>): void {
    const bytes = dataBytes(data);
    if (bytes > this.#engine.options.maxDataBytes) throw new SessionDataTooLargeError(bytes, this.#engine.options.maxDataBytes);
  }
}
