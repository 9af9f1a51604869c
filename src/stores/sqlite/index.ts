import { closeSync, openSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import {
  rotatedRecord,
  endedSession,
  applyChange,
  dataBytes,
  overLimit,
  applySessionMeta,
  decodeDevice,
  encodeDevice,
  SessionExistsError,
  type DestroyUserOptions,
  type EndedSession,
  sessionsOverLimit,
  type CreateInput,
  type CreateResult,
  type ListUserOptions,
  type JsonValue,
  type SessionExpiry,
  type PatchInput,
  type PatchResult,
  type RotateInput,
  type RotateResult,
  type SessionRecord,
  type SessionStore,
} from "../../store/index.js";
import { recordColumns } from "../../store/sql.js";

export interface SqliteStoreOptions {
  /** Database file, shared by every process of the app on this machine. ":memory:" is refused in clusters (G7). */
  path: string;
  /** Table name. Default "latchkey_sessions". */
  table?: string;
  /** How long a writer waits for another process's lock, in ms. Default 5000. */
  busyTimeout?: number;
  /** "full" (default): a commit survives power loss before the response (G8). "normal": survives a process crash only. */
  synchronous?: "full" | "normal";
  /** An already-open better-sqlite3 Database instead of `path` (WAL and busy timeout are still set). */
  database?: BetterSqlite3.Database;
}

interface Row {
  id: string;
  user_id: string | null;
  data: string;
  created_at: number;
  last_seen_at: number;
  expires_at: number;
  absolute_expires_at: number;
  version: number;
  /** Selected by listUser only: the read path never needs it. */
  device?: string | null;
  /** The meta fields as JSON (see encodeSessionMeta), or null. */
  meta: string | null;
}

const TABLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;
const SWEEP_BATCH = 500;

/**
 * Sessions in one SQLite file, safe for every process on the machine (node
 * cluster, PM2): WAL journal, a busy timeout, and each operation one
 * statement or one IMMEDIATE transaction, so writers from different
 * processes serialise on SQLite's lock.
 * @example
 * import { sqliteStore } from "latchkey/sqlite";
 * const sessions = createSessions({ store: sqliteStore({ path: "./sessions.db" }) });
 */
export function sqliteStore(options: SqliteStoreOptions): SessionStore {
  if (!options || (typeof options.path !== "string" && !options.database)) {
    throw new TypeError('latchkey: sqliteStore needs { path }, e.g. sqliteStore({ path: "./sessions.db" })');
  }
  const table = options.table ?? "latchkey_sessions";
  if (!TABLE_NAME.test(table)) {
    throw new TypeError(`latchkey: sqliteStore table ${JSON.stringify(table)} must be a plain SQL identifier (letters, digits, _)`);
  }
  const busyTimeout = options.busyTimeout ?? 5000;
  if (!Number.isInteger(busyTimeout) || busyTimeout < 0) {
    throw new TypeError(`latchkey: sqliteStore busyTimeout must be a whole number of ms (got ${String(busyTimeout)})`);
  }
  const synchronous = options.synchronous ?? "full";
  if (synchronous !== "full" && synchronous !== "normal") {
    throw new TypeError(`latchkey: sqliteStore synchronous must be "full" or "normal" (got ${String(synchronous)})`);
  }
  return new SqliteStore(options, table, busyTimeout, synchronous);
}

function openDatabase(path: string): BetterSqlite3.Database {
  const require = createRequire(import.meta.url);
  let Database: typeof BetterSqlite3;
  try {
    Database = require("better-sqlite3") as typeof BetterSqlite3;
  } catch (error) {
    throw new Error("latchkey: sqliteStore needs the better-sqlite3 package: npm install better-sqlite3", { cause: error });
  }
  createPrivately(path);
  return new Database(path);
}

/**
 * Creates a new database file readable by its owner only (0600): it holds every session's data and
 * user id. SQLite gives the -wal and -shm files the main file's mode. An existing file keeps its mode.
 */
function createPrivately(path: string): void {
  if (path === "" || path === ":memory:") return;
  try {
    closeSync(openSync(path, "wx", 0o600));
  } catch {
    // It exists (another process was first), or its folder does not: better-sqlite3 says so next.
  }
}

class SqliteStore implements SessionStore {
  readonly processLocal: boolean;
  readonly sessionLimits = true;
  readonly name: string;
  readonly #db: BetterSqlite3.Database;
  readonly #ownsDb: boolean;
  readonly #sql: ReturnType<typeof prepare>;
  readonly #patchTx: (id: string, input: PatchInput) => PatchResult;
  readonly #rotateTx: (id: string, input: RotateInput) => RotateResult;
  readonly #createTx: (record: SessionRecord, input: CreateInput) => CreateResult;

  constructor(options: SqliteStoreOptions, table: string, busyTimeout: number, synchronous: string) {
    this.#ownsDb = !options.database;
    this.#db = options.database ?? openDatabase(options.path);
    const file = this.#db.name;
    this.processLocal = this.#db.memory || file === "" || file === ":memory:";
    this.name = `sqlite(${this.processLocal ? ":memory:" : resolve(file)})`;
    this.#db.pragma(`busy_timeout = ${busyTimeout}`);
    if (!this.processLocal) this.#db.pragma("journal_mode = WAL");
    this.#db.pragma(`synchronous = ${synchronous}`);
    this.#db.exec(`
      CREATE TABLE IF NOT EXISTS ${table} (
        id TEXT PRIMARY KEY,
        user_id TEXT,
        data TEXT NOT NULL,
        created_at INTEGER NOT NULL,
        last_seen_at INTEGER NOT NULL,
        expires_at INTEGER NOT NULL,
        absolute_expires_at INTEGER NOT NULL,
        version INTEGER NOT NULL,
        device TEXT,
        meta TEXT
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS ${table}_user ON ${table} (user_id) WHERE user_id IS NOT NULL;
      CREATE INDEX IF NOT EXISTS ${table}_expiry ON ${table} (expires_at);
    `);
    addColumn(this.#db, table, "device");
    addColumn(this.#db, table, "meta");
    // revokeUser(impersonator) finds impersonations through this (a partial index: only they have one).
    this.#db.exec(
      `CREATE INDEX IF NOT EXISTS ${table}_impersonator ON ${table} (json_extract(meta, '$.impersonator')) WHERE json_extract(meta, '$.impersonator') IS NOT NULL`,
    );
    this.#sql = prepare(this.#db, table);
    const sql = this.#sql;

    // Read-merge-write inside BEGIN IMMEDIATE: the write lock is taken before
    // the read, so no other process can change the row in between (G2).
    const patch = this.#db.transaction((id: string, input: PatchInput): PatchResult => {
      const row = sql.getDataVersion.get(id) as Pick<Row, "data" | "version"> | undefined;
      if (!row) return { status: "gone" };
      if (input.expectVersion !== undefined && input.expectVersion !== row.version) {
        return { status: "conflict", version: row.version };
      }
      const text = JSON.stringify(applyChange(JSON.parse(row.data) as Record<string, JsonValue>, input.change));
      // Measured inside the write lock: overlapping patches from any process cannot together pass the limit.
      const tooLarge = overLimit(Buffer.byteLength(text), input.maxDataBytes);
      if (tooLarge) return tooLarge;
      const version = row.version + 1;
      sql.update.run(text, input.lastSeenAt, input.expiresAt, version, id);
      return { status: "ok", version };
    });
    this.#patchTx = (id, input) => patch.immediate(id, input);

    // The user's live sessions, counted and the oldest ended inside the same IMMEDIATE transaction as the write.
    const enforceLimit = (userId: string | null, input: CreateInput, exceptId?: string): string[] | "refused" => {
      if (!input.limit || userId === null) return [];
      const mine = (sql.limitRows.all(userId) as Row[]).map(toRecord);
      const ended = sessionsOverLimit(mine, userId, input.limit, exceptId);
      if (ended !== "refused") for (const endedId of ended) sql.destroy.run(endedId);
      return ended;
    };

    const create = this.#db.transaction((record: SessionRecord, input: CreateInput): CreateResult => {
      const ended = enforceLimit(record.userId, input);
      if (ended === "refused") return { status: "limit" };
      this.#insert(record);
      return { status: "ok", ended };
    });
    this.#createTx = (record, input) => create.immediate(record, input);

    const rotate = this.#db.transaction((id: string, input: RotateInput): RotateResult => {
      const row = sql.get.get(id) as Row | undefined;
      if (!row) return { status: "gone" };
      const data = applyChange(JSON.parse(row.data) as Record<string, JsonValue>, input.change);
      const tooLarge = overLimit(dataBytes(data), input.maxDataBytes);
      if (tooLarge) return tooLarge;
      const ended = enforceLimit(input.userId, input, id);
      if (ended === "refused") return { status: "limit" };
      sql.destroy.run(id);
      const record = rotatedRecord(input, data, row.version);
      if (input.device && encodeDevice(input.device) !== null) record.device = input.device;
      this.#insert(record);
      return input.limit ? { status: "ok", record, ended: ended as string[] } : { status: "ok", record };
    });
    this.#rotateTx = (id, input) => rotate.immediate(id, input);
  }

  async create(record: SessionRecord, input?: CreateInput): Promise<void | CreateResult> {
    if (input?.limit) return this.#createTx(record, input);
    this.#insert(record);
  }

  async get(id: string): Promise<SessionRecord | null> {
    const row = this.#sql.get.get(id) as Row | undefined;
    return row ? toRecord(row) : null;
  }

  /** One statement for any number of ids (a JSON array bound once), no data column: the watchers' poll. */
  async expiries(ids: readonly string[]): Promise<(SessionExpiry | null)[]> {
    if (ids.length === 0) return [];
    const rows = this.#sql.expiries.all(JSON.stringify(ids)) as (Pick<Row, "id" | "user_id" | "last_seen_at" | "expires_at" | "absolute_expires_at"> & {
      idle_timeout: number | null;
    })[];
    const byId = new Map(rows.map((row) => [row.id, row]));
    return ids.map((id) => {
      const row = byId.get(id);
      if (!row) return null;
      const expiry: SessionExpiry = {
        id,
        userId: row.user_id,
        lastSeenAt: row.last_seen_at,
        expiresAt: row.expires_at,
        absoluteExpiresAt: row.absolute_expires_at,
      };
      // The session's own idle timeout ("keep me signed in"): without it a watcher would judge it by the manager's.
      if (typeof row.idle_timeout === "number") expiry.idleTimeout = row.idle_timeout;
      return expiry;
    });
  }

  async patch(id: string, input: PatchInput): Promise<PatchResult> {
    return this.#patchTx(id, input);
  }

  async touch(id: string, lastSeenAt: number, expiresAt: number): Promise<boolean> {
    return this.#sql.touch.run(lastSeenAt, expiresAt, id).changes === 1;
  }

  async rotate(id: string, input: RotateInput): Promise<RotateResult> {
    return this.#rotateTx(id, input);
  }

  async destroy(id: string): Promise<EndedSession | null> {
    const row = this.#sql.destroyReturning.get(id) as EndedRow | undefined;
    return row ? toEnded(row) : null;
  }

  async destroyUser(userId: string, { except }: DestroyUserOptions = {}): Promise<EndedSession[]> {
    const rows = (except === undefined ? this.#sql.destroyUser.all(userId, userId) : this.#sql.destroyUserExcept.all(userId, userId, except)) as EndedRow[];
    return rows.map(toEnded);
  }

  async listUser(userId: string, options?: ListUserOptions): Promise<SessionRecord[]> {
    if (options?.limit === undefined && options?.after === undefined) return (this.#sql.listUser.all(userId, userId) as Row[]).map(toRecord);
    // Keyset on the user index: in a WITHOUT ROWID table it holds (user_id, id), already in id order.
    return (this.#sql.listUserPage.all(userId, userId, options.after ?? "", options.limit ?? -1) as Row[]).map(toRecord);
  }

  async sweep(now: number): Promise<EndedSession[]> {
    // Small batches: each is a short write transaction, so other processes' requests wait at most one batch;
    // and this process's own requests run between batches (better-sqlite3 is synchronous: without the
    // yield, sweeping 10^5 sessions would hold the event loop for seconds).
    const removed: EndedSession[] = [];
    for (;;) {
      const rows = this.#sql.sweep.all(now, SWEEP_BATCH) as EndedRow[];
      for (const row of rows) removed.push(toEnded(row));
      if (rows.length < SWEEP_BATCH) return removed;
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async close(): Promise<void> {
    if (this.#ownsDb && this.#db.open) this.#db.close();
  }

  #insert(record: SessionRecord): void {
    try {
      this.#sql.insert.run(...recordColumns(record));
    } catch (error) {
      if ((error as { code?: string }).code === "SQLITE_CONSTRAINT_PRIMARYKEY") throw new SessionExistsError(record.id);
      throw error;
    }
  }
}

/**
 * Files written by an older latchkey lack the later columns (`device`, then
 * `meta`): add them. Another process may do the same at the same moment, so a
 * "duplicate column" from that race is fine.
 */
function addColumn(db: BetterSqlite3.Database, table: string, name: "device" | "meta"): void {
  const columns = db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[];
  if (columns.some((column) => column.name === name)) return;
  try {
    db.exec(`ALTER TABLE ${table} ADD COLUMN ${name} TEXT`);
  } catch (error) {
    if (!/duplicate column/i.test((error as Error).message)) throw error;
  }
}

function prepare(db: BetterSqlite3.Database, table: string) {
  const columns = "id, user_id, data, created_at, last_seen_at, expires_at, absolute_expires_at, version, meta";
  // A user's sessions: their own and those where they are the impersonator (the partial index above).
  const ofUser = `(user_id = ? OR json_extract(meta, '$.impersonator') = ?)`;
  return {
    insert: db.prepare(
      `INSERT INTO ${table} (id, user_id, data, created_at, last_seen_at, expires_at, absolute_expires_at, version, device, meta) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    ),
    get: db.prepare(`SELECT ${columns} FROM ${table} WHERE id = ?`),
    getDataVersion: db.prepare(`SELECT data, version FROM ${table} WHERE id = ?`),
    update: db.prepare(`UPDATE ${table} SET data = ?, last_seen_at = ?, expires_at = ?, version = ? WHERE id = ?`),
    touch: db.prepare(`UPDATE ${table} SET last_seen_at = ?, expires_at = ? WHERE id = ?`),
    expiries: db.prepare(
      `SELECT id, user_id, last_seen_at, expires_at, absolute_expires_at, json_extract(meta, '$.idleTimeout') AS idle_timeout FROM ${table} WHERE id IN (SELECT value FROM json_each(?))`,
    ),
    destroy: db.prepare(`DELETE FROM ${table} WHERE id = ?`),
    destroyReturning: db.prepare(`DELETE FROM ${table} WHERE id = ? RETURNING ${ENDED}`),
    destroyUser: db.prepare(`DELETE FROM ${table} WHERE ${ofUser} RETURNING ${ENDED}`),
    destroyUserExcept: db.prepare(`DELETE FROM ${table} WHERE ${ofUser} AND id <> ? RETURNING ${ENDED}`),
    listUser: db.prepare(`SELECT ${columns}, device FROM ${table} WHERE ${ofUser}`),
    listUserPage: db.prepare(`SELECT ${columns}, device FROM ${table} WHERE ${ofUser} AND id > ? ORDER BY id LIMIT ?`),
    limitRows: db.prepare(
      `SELECT id, user_id, '{}' AS data, created_at, last_seen_at, expires_at, absolute_expires_at, version, meta FROM ${table} WHERE user_id = ?`,
    ),
    sweep: db.prepare(`DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE expires_at <= ? LIMIT ?) RETURNING ${ENDED}`),
  };
}

/** What a delete returns: enough for the `ended` event. */
const ENDED = "id, user_id, device";
type EndedRow = Pick<Row, "id" | "user_id" | "device">;

function toEnded(row: EndedRow): EndedSession {
  return endedSession(row.id, row.user_id, row.device);
}

function toRecord(row: Row): SessionRecord {
  const record: SessionRecord = {
    id: row.id,
    userId: row.user_id,
    data: JSON.parse(row.data) as Record<string, JsonValue>,
    createdAt: row.created_at,
    lastSeenAt: row.last_seen_at,
    expiresAt: row.expires_at,
    absoluteExpiresAt: row.absolute_expires_at,
    version: row.version,
  };
  const device = decodeDevice(row.device);
  if (device) record.device = device;
  return applySessionMeta(record, row.meta);
}
