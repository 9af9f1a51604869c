import {
  rotatedRecord,
  applyChange,
  type DestroyUserOptions,
  dataBytes,
  overLimit,
  type ListUserOptions,
  SessionExistsError,
  type EndedSession,
  sessionsOverLimit,
  type CreateInput,
  type CreateResult,
  type PatchInput,
  type PatchResult,
  type SessionExpiry,
  type RotateInput,
  type RotateResult,
  type SessionRecord,
  type SessionStore,
} from "../../store/index.js";

export interface MemoryStoreOptions {
  /** Name shown in logs. Default "memory". */
  name?: string;
}

/**
 * Sessions in this process's memory: for tests and single-process tools.
 * createSessions refuses it in a cluster worker / PM2 instance (G7).
 * @example
 * import { memoryStore } from "latchkey/memory";
 * const sessions = createSessions({ store: memoryStore() });
 */
export function memoryStore(options: MemoryStoreOptions = {}): SessionStore {
  return new MemoryStore(options.name ?? "memory");
}

class MemoryStore implements SessionStore {
  readonly processLocal = true;
  readonly sessionLimits = true;
  readonly name: string;
  #records = new Map<string, SessionRecord>();
  #byUser = new Map<string, Set<string>>();
  #closed = false;

  constructor(name: string) {
    this.name = name;
  }

  async create(record: SessionRecord, input: CreateInput = {}): Promise<void | CreateResult> {
    this.#open();
    if (this.#records.has(record.id)) throw new SessionExistsError(record.id);
    const ended = input.limit && record.userId !== null ? this.#overLimit(record.userId, input) : [];
    if (ended === "refused") return { status: "limit" };
    for (const id of ended) this.#delete(this.#records.get(id)!);
    this.#put(structuredClone(record));
    if (input.limit) return { status: "ok", ended };
  }

  async get(id: string): Promise<SessionRecord | null> {
    this.#open();
    const record = this.#records.get(id);
    return record ? structuredClone(record) : null;
  }

  async expiries(ids: readonly string[]): Promise<(SessionExpiry | null)[]> {
    this.#open();
    return ids.map((id) => {
      const record = this.#records.get(id);
      if (!record) return null;
      const expiry: SessionExpiry = {
        id,
        userId: record.userId,
        lastSeenAt: record.lastSeenAt,
        expiresAt: record.expiresAt,
        absoluteExpiresAt: record.absoluteExpiresAt,
      };
      // The session's own idle timeout ("keep me signed in"): without it a watcher would judge it by the manager's.
      if (record.idleTimeout !== undefined) expiry.idleTimeout = record.idleTimeout;
      return expiry;
    });
  }

  async patch(id: string, input: PatchInput): Promise<PatchResult> {
    this.#open();
    const record = this.#records.get(id);
    if (!record) return { status: "gone" };
    if (input.expectVersion !== undefined && input.expectVersion !== record.version) {
      return { status: "conflict", version: record.version };
    }
    const data = applyChange(record.data, structuredClone(input.change));
    const tooLarge = overLimit(dataBytes(data), input.maxDataBytes);
    if (tooLarge) return tooLarge;
    record.data = data;
    record.lastSeenAt = input.lastSeenAt;
    record.expiresAt = input.expiresAt;
    record.version += 1;
    return { status: "ok", version: record.version };
  }

  async touch(id: string, lastSeenAt: number, expiresAt: number): Promise<boolean> {
    this.#open();
    const record = this.#records.get(id);
    if (!record) return false;
    record.lastSeenAt = lastSeenAt;
    record.expiresAt = expiresAt;
    return true;
  }

  async rotate(id: string, input: RotateInput): Promise<RotateResult> {
    this.#open();
    const old = this.#records.get(id);
    if (!old) return { status: "gone" };
    if (this.#records.has(input.newId)) throw new SessionExistsError(input.newId);
    const data = applyChange(old.data, structuredClone(input.change));
    const tooLarge = overLimit(dataBytes(data), input.maxDataBytes);
    if (tooLarge) return tooLarge;
    const ended = input.limit && input.userId !== null ? this.#overLimit(input.userId, input, id) : [];
    if (ended === "refused") return { status: "limit" };
    for (const endedId of ended) this.#delete(this.#records.get(endedId)!);
    this.#delete(old);
    const record = rotatedRecord(input, data, old.version);
    if (input.device) record.device = structuredClone(input.device);
    this.#put(record);
    return input.limit ? { status: "ok", record: structuredClone(record), ended } : { status: "ok", record: structuredClone(record) };
  }

  async destroy(id: string): Promise<EndedSession | null> {
    this.#open();
    const record = this.#records.get(id);
    if (!record) return null;
    this.#delete(record);
    return ended(record);
  }

  async destroyUser(userId: string, { except }: DestroyUserOptions = {}): Promise<EndedSession[]> {
    this.#open();
    const ids = [...(this.#byUser.get(userId) ?? [])].filter((id) => id !== except);
    return ids.map((id) => {
      const record = this.#records.get(id)!;
      this.#delete(record);
      return ended(record);
    });
  }

  async listUser(userId: string, options?: ListUserOptions): Promise<SessionRecord[]> {
    this.#open();
    let ids = [...(this.#byUser.get(userId) ?? [])];
    if (options?.limit !== undefined || options?.after !== undefined) {
      const after = options.after;
      ids = ids.filter((id) => after === undefined || id > after).sort();
      if (options.limit !== undefined) ids = ids.slice(0, options.limit);
    }
    return ids.map((id) => structuredClone(this.#records.get(id)!));
  }

  async sweep(now: number): Promise<EndedSession[]> {
    this.#open();
    const removed: EndedSession[] = [];
    for (const record of [...this.#records.values()]) {
      if (record.expiresAt <= now || record.absoluteExpiresAt <= now) {
        this.#delete(record);
        removed.push(ended(record));
      }
    }
    return removed;
  }

  async close(): Promise<void> {
    this.#closed = true;
  }

  #open(): void {
    if (this.#closed) throw new Error(`latchkey: ${this.name} store is closed`);
  }

  #overLimit(userId: string, input: CreateInput, exceptId?: string): string[] | "refused" {
    const mine = [...(this.#byUser.get(userId) ?? [])].map((id) => this.#records.get(id)!);
    return sessionsOverLimit(mine, userId, input.limit!, exceptId);
  }

  /** A session is indexed under its user and, when impersonated, its impersonator (destroyUser of either ends it). */
  #owners(record: SessionRecord): string[] {
    const owners = record.userId === null ? [] : [record.userId];
    if (record.impersonator !== undefined) owners.push(record.impersonator);
    return owners;
  }

  #put(record: SessionRecord): void {
    this.#records.set(record.id, record);
    for (const owner of this.#owners(record)) {
      let ids = this.#byUser.get(owner);
      if (!ids) this.#byUser.set(owner, (ids = new Set()));
      ids.add(record.id);
    }
  }

  #delete(record: SessionRecord): void {
    this.#records.delete(record.id);
    for (const owner of this.#owners(record)) {
      const ids = this.#byUser.get(owner);
      ids?.delete(record.id);
      if (ids?.size === 0) this.#byUser.delete(owner);
    }
  }
}

function ended(record: SessionRecord): EndedSession {
  const session: EndedSession = { id: record.id, userId: record.userId };
  if (record.device) session.device = structuredClone(record.device);
  return session;
}
