import { closeSync, openSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import type BetterSqlite3 from "better-sqlite3";
import {
  applyChange,
  dataBytes,
  overLimit,
  decodeDevice,
  encodeDevice,
  SessionExistsError,
  type DestroyUserOptions,
  type JsonValue,
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
  readonly name: string;
  readonly #db: BetterSqlite3.Database;
  readonly #ownsDb: boolean;
  readonly #sql: ReturnType<typeof prepare>;
  readonly #patchTx: (id: string, input: PatchInput) => PatchResult;
  readonly #rotateTx: (id: string, input: RotateInput) => RotateResult;

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
        device TEXT
      ) WITHOUT ROWID;
      CREATE INDEX IF NOT EXISTS ${table}_user ON ${table} (user_id) WHERE user_id IS NOT NULL;
      CREATE INDEX IF NOT EXISTS ${table}_expiry ON ${table} (expires_at);
    `);
    addDeviceColumn(this.#db, table);
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

    const rotate = this.#db.transaction((id: string, input: RotateInput): RotateResult => {
      const row = sql.get.get(id) as Row | undefined;
      if (!row) return { status: "gone" };
      const data = applyChange(JSON.parse(row.data) as Record<string, JsonValue>, input.change);
      const tooLarge = overLimit(dataBytes(data), input.maxDataBytes);
      if (tooLarge) return tooLarge;
      sql.destroy.run(id);
      const record: SessionRecord = {
        id: input.newId,
        userId: input.userId,
        data,
        createdAt: input.createdAt,
        lastSeenAt: input.lastSeenAt,
        expiresAt: input.expiresAt,
        absoluteExpiresAt: input.absoluteExpiresAt,
        version: row.version + 1,
      };
      if (input.device && encodeDevice(input.device) !== null) record.device = input.device;
      this.#insert(record);
      return { status: "ok", record };
    });
    this.#rotateTx = (id, input) => rotate.immediate(id, input);
  }

  async create(record: SessionRecord): Promise<void> {
    this.#insert(record);
  }

  async get(id: string): Promise<SessionRecord | null> {
    const row = this.#sql.get.get(id) as Row | undefined;
    return row ? toRecord(row) : null;
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

  async destroy(id: string): Promise<boolean> {
    return this.#sql.destroy.run(id).changes === 1;
  }

  async destroyUser(userId: string, { except }: DestroyUserOptions = {}): Promise<number> {
    return except === undefined ? this.#sql.destroyUser.run(userId).changes : this.#sql.destroyUserExcept.run(userId, except).changes;
  }

  async listUser(userId: string): Promise<SessionRecord[]> {
    return (this.#sql.listUser.all(userId) as Row[]).map(toRecord);
  }

  async sweep(now: number): Promise<number> {
    // Small batches: each is a short write transaction, so other processes' requests wait at most one batch.
    let removed = 0;
    for (;;) {
      const changes = this.#sql.sweep.run(now, SWEEP_BATCH).changes;
      removed += changes;
      if (changes < SWEEP_BATCH) return removed;
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
 * Files written by latchkey before devices were recorded have no `device`
 * column: add it. Another process may do the same at the same moment, so a
 * "duplicate column" from that race is fine.
 */
function addDeviceColumn(db: BetterSqlite3.Database, table: string): void {
  const columns = db.prepare(`PRAGMA table_info(${table})`).all() as { name: string }[];
  if (columns.some((column) => column.name === "device")) return;
  try {
    db.exec(`ALTER TABLE ${table} ADD COLUMN device TEXT`);
  } catch (error) {
    if (!/duplicate column/i.test((error as Error).message)) throw error;
  }
}

function prepare(db: BetterSqlite3.Database, table: string) {
  const columns = "id, user_id, data, created_at, last_seen_at, expires_at, absolute_expires_at, version";
  return {
    insert: db.prepare(`INSERT INTO ${table} (${columns}, device) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`),
    get: db.prepare(`SELECT ${columns} FROM ${table} WHERE id = ?`),
    getDataVersion: db.prepare(`SELECT data, version FROM ${table} WHERE id = ?`),
    update: db.prepare(`UPDATE ${table} SET data = ?, last_seen_at = ?, expires_at = ?, version = ? WHERE id = ?`),
    touch: db.prepare(`UPDATE ${table} SET last_seen_at = ?, expires_at = ? WHERE id = ?`),
    destroy: db.prepare(`DELETE FROM ${table} WHERE id = ?`),
    destroyUser: db.prepare(`DELETE FROM ${table} WHERE user_id = ?`),
    destroyUserExcept: db.prepare(`DELETE FROM ${table} WHERE user_id = ? AND id <> ?`),
    listUser: db.prepare(`SELECT ${columns}, device FROM ${table} WHERE user_id = ?`),
    sweep: db.prepare(`DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE expires_at <= ? LIMIT ?)`),
  };
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
  return record;
}
