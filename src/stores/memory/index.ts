import {
  applyChange,
  type DestroyUserOptions,
  dataBytes,
  overLimit,
  SessionExistsError,
  type PatchInput,
  type PatchResult,
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
  readonly name: string;
  #records = new Map<string, SessionRecord>();
  #byUser = new Map<string, Set<string>>();
  #closed = false;

  constructor(name: string) {
    this.name = name;
  }

  async create(record: SessionRecord): Promise<void> {
    this.#open();
    if (this.#records.has(record.id)) throw new SessionExistsError(record.id);
    this.#put(structuredClone(record));
  }

  async get(id: string): Promise<SessionRecord | null> {
    this.#open();
    const record = this.#records.get(id);
    return record ? structuredClone(record) : null;
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
    this.#delete(old);
    const record: SessionRecord = {
      id: input.newId,
      userId: input.userId,
      data,
      createdAt: input.createdAt,
      lastSeenAt: input.lastSeenAt,
      expiresAt: input.expiresAt,
      absoluteExpiresAt: input.absoluteExpiresAt,
      version: old.version + 1,
    };
    if (input.device) record.device = structuredClone(input.device);
    this.#put(record);
    return { status: "ok", record: structuredClone(record) };
  }

  async destroy(id: string): Promise<boolean> {
    this.#open();
    const record = this.#records.get(id);
    if (!record) return false;
    this.#delete(record);
    return true;
  }

  async destroyUser(userId: string, { except }: DestroyUserOptions = {}): Promise<number> {
    this.#open();
    const ids = [...(this.#byUser.get(userId) ?? [])].filter((id) => id !== except);
    for (const id of ids) this.#delete(this.#records.get(id)!);
    return ids.length;
  }

  async listUser(userId: string): Promise<SessionRecord[]> {
    this.#open();
    return [...(this.#byUser.get(userId) ?? [])].map((id) => structuredClone(this.#records.get(id)!));
  }

  async sweep(now: number): Promise<number> {
    this.#open();
    let removed = 0;
    for (const record of [...this.#records.values()]) {
      if (record.expiresAt <= now || record.absoluteExpiresAt <= now) {
        this.#delete(record);
        removed += 1;
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

  #put(record: SessionRecord): void {
    this.#records.set(record.id, record);
    if (record.userId !== null) {
      let ids = this.#byUser.get(record.userId);
      if (!ids) this.#byUser.set(record.userId, (ids = new Set()));
      ids.add(record.id);
    }
  }

  #delete(record: SessionRecord): void {
    this.#records.delete(record.id);
    if (record.userId !== null) {
      const ids = this.#byUser.get(record.userId);
      ids?.delete(record.id);
      if (ids?.size === 0) this.#byUser.delete(record.userId);
    }
  }
}
