import type { ClientConfig, Pool, PoolClient, QueryResult, QueryResultRow } from "pg";
import {
  endedSession,
  applySessionMeta,
  decodeDevice,
  encodeDevice,
  encodeSessionMeta,
  overLimit,
  SessionExistsError,
  sessionsOverLimit,
  type CreateInput,
  type CreateResult,
  type DestroyOptions,
  type DestroyUserOptions,
  type EndedSession,
  type ListUserOptions,
  type JsonValue,
  type PatchInput,
  type PatchResult,
  type RotateInput,
  type RotateResult,
  type SessionRecord,
  type SessionStore,
} from "../../store/index.js";
import { recordColumns } from "../../store/sql.js";
import { createPool, describeTarget, explain, loadPg } from "./connection.js";
import { listenerConfig, notifyColumn, PostgresFeed, withNotice } from "./feed.js";
import { resolveNames, runMigration, type Names } from "./schema.js";
import { resolveRevokeUserYield, yieldAfterStep } from "../../store/revoke-yield.js";

export { PostgresFeed } from "./feed.js";
export { createSchemaSQL, upgradeSchema, type UpgradeSchemaOptions } from "./schema.js";

export interface PostgresStoreOptions {
  /** A pg Pool the app already has. The store never ends it: close() leaves it open. */
  pool?: Pool;
  /** Or a connection string: the store creates its own pool, and close() ends it. */
  connectionString?: string;
  /** Table name. Default "latchkey_sessions". */
  table?: string;
  /** PostgreSQL schema of the table. Default: the connection's search_path (usually "public"). */
  schema?: string;
  /**
   * true (default): create the table and its indexes on first use when missing.
   * false: never run DDL; create the table with {@link upgradeSchema} or {@link createSchemaSQL}.
   * The near-cache's `<table>_leases` is created on its first use the same way.
   */
  createSchema?: boolean;
  /**
   * NOTIFY the near-caches of other processes on every write, even when this
   * process has neither `nearCache` nor `revocation: "strict"` (those publish
   * anyway). Set it on every process that writes sessions other processes
   * cache. Off by default: a NOTIFYing commit takes a database-wide lock, so
   * notifying writes commit one at a time.
   */
  notifyWrites?: boolean;
  /**
   * `revokeUser` and `logoutOthers` delete a user's sessions 200 per statement, in one transaction.
   * Before each statement after the first, the store waits this many times as long as the previous one
   * took, so other requests keep that share of the database's CPU while a user with thousands of
   * sessions is logged out everywhere. Default 2: with 10^4 sessions revoked, other users' reads' p99
   * stayed near 2× of idle (docs/capacity.md), and the revoke took ~0.35 s instead of ~0.1 s with 0.
   * 0: no pause. A user with at most 200 sessions takes one statement and never waits.
   * @example
   * postgresStore({ connectionString, revokeUserYield: 0 }) // revokeUser as fast as the database allows
   */
  revokeUserYield?: number;
}

interface Row {
  id: string;
  user_id: string | null;
  data: Record<string, JsonValue>;
  /** bigint columns come back from pg as strings. */
  created_at: string;
  last_seen_at: string;
  expires_at: string;
  absolute_expires_at: string;
  version: number;
  /** Selected by listUser and rotate only: the read path never needs it. */
  device?: string | null;
  /** The meta fields (see encodeSessionMeta), or null. */
  meta: Record<string, unknown> | null;
}

/** What a patch statement answers: the new version (null when nothing was written), the locked row's version (null: gone) and the merged size. */
interface PatchRow {
  version: number | null;
  current: number | null;
  /** bigint: a string from pg. */
  bytes: string | null;
}

const SWEEP_BATCH = 500;
/**
 * revokeUser deletes a user's sessions this many at a time, in one transaction. 1000 per statement held
 * a core for ~10 ms a batch and other users' reads' p99 at 3–4× idle; 200, with revokeUserYield's waits, near 2×.
 */
const DESTROY_USER_BATCH = 200;
const COLUMNS = "id, user_id, data, created_at, last_seen_at, expires_at, absolute_expires_at, version, meta";

/**
 * Sessions in one PostgreSQL table, shared by every process and machine of
 * the app. Every write is a single statement that never upserts: create is
 * an INSERT, patch an UPDATE that merges only the changed keys into the jsonb
 * column (G1, G2), rotate a DELETE…RETURNING feeding an INSERT. A write given
 * a notice NOTIFYs it in that same statement (see {@link PostgresFeed}). The
 * table (and the feed's `<table>_leases`) is created on first use unless
 * `createSchema: false`.
 * @example
 * import { postgresStore } from "latchkey/postgres";
 * const sessions = createSessions({ store: postgresStore({ connectionString: process.env.DATABASE_URL }) });
 * // or share the app's pool (close() leaves it open):
 * // createSessions({ store: postgresStore({ pool: appPool, table: "sessions" }) });
 */
export function postgresStore(options: PostgresStoreOptions): SessionStore & { readonly feed: PostgresFeed } {
  const names = resolveNames("postgresStore", options);
  const createSchema = options.createSchema ?? true;
  if (typeof createSchema !== "boolean") {
    throw new TypeError(`latchkey: postgresStore createSchema must be true or false (got ${String(createSchema)})`);
  }
  if (options.notifyWrites !== undefined && typeof options.notifyWrites !== "boolean") {
    throw new TypeError(`latchkey: postgresStore notifyWrites must be true or false (got ${String(options.notifyWrites)})`);
  }
  const revokeUserYield = resolveRevokeUserYield("postgresStore", options.revokeUserYield);
  return new PostgresStore(options, names, createSchema, revokeUserYield);
}

class PostgresStore implements SessionStore {
  readonly processLocal = false;
  readonly sessionLimits = true;
  readonly name: string;
  readonly feed: PostgresFeed;
  readonly #pool: Pool;
  readonly #ownsPool: boolean;
  readonly #names: Names;
  readonly #createSchema: boolean;
  readonly #revokeUserYield: number;
  readonly #address: string;
  readonly #sql: ReturnType<typeof statements>;
  #ready: Promise<void> | null = null;
  #leasesReady: Promise<void> | null = null;
  #leasesDenied: { error: Error; until: number } | null = null;
  #closed = false;
  // An idle pooled connection that dies (server restart, pg_terminate_backend) is dropped by
  // pg-pool, which then emits "error": without a listener that would crash the process. The
  // next query opens a fresh connection; queries that fail meanwhile answer 503 (G6).
  readonly #onPoolError = (): void => undefined;

  constructor(options: PostgresStoreOptions, names: Names, createSchema: boolean, revokeUserYield: number) {
    this.#revokeUserYield = revokeUserYield;
    this.#ownsPool = !options.pool;
    this.#pool = options.pool ?? createPool(options.connectionString!);
    this.#pool.on("error", this.#onPoolError);
    this.#names = names;
    this.#createSchema = createSchema;
    const target = describeTarget(this.#pool);
    this.#address = target.address;
    this.name = `postgres(${target.address}/${target.database} ${names.display})`;
    this.#sql = statements(names.qualified);
    this.feed = new PostgresFeed({
      qualifiedTable: names.qualified,
      leases: names.leases,
      query: (text, values, table) => this.#query(text, values, table),
      queryLeases: (text, values) => this.#queryLeases(text, values),
      publishByDefault: options.notifyWrites === true,
      newClient: () => new (loadPg().Client)(listenerConfig(this.#pool.options as ClientConfig)),
      explain: (error) => explain(error, this.#address),
    });
  }

  /** The parameters that publish `notice` on the feed, or none: statements without them stay as they were. */
  #notice(notice: string | undefined): string[] {
    return notice === undefined ? [] : [this.feed.channel, notice];
  }

  async create(record: SessionRecord, input?: CreateInput): Promise<void | CreateResult> {
    if (input?.limit && record.userId !== null) {
      return this.#limited(
        record.userId,
        input,
        undefined,
        async (client, ended) => {
          if (ended === "refused") return { status: "limit" };
          await client.query(this.#sql.insert, recordColumns(record));
          return { status: "ok", ended };
        },
        record.id,
      );
    }
    try {
      await this.#query(this.#sql.insert, recordColumns(record));
    } catch (error) {
      if ((error as { code?: string }).code === "23505") throw new SessionExistsError(record.id);
      throw error;
    }
  }

  async get(id: string): Promise<SessionRecord | null> {
    const { rows } = await this.#query<Row>(this.#sql.get, [id]);
    return rows[0] ? toRecord(rows[0]) : null;
  }

  async patch(id: string, input: PatchInput): Promise<PatchResult> {
    const { set, unset } = input.change;
    const values: unknown[] = [id, unset, JSON.stringify(set), input.lastSeenAt, input.expiresAt, input.maxDataBytes ?? null];
    const checked = input.expectVersion !== undefined;
    if (checked) values.push(input.expectVersion);
    const notify = input.notice !== undefined;
    values.push(...this.#notice(input.notice));
    const sql = checked ? (notify ? this.#sql.patchCheckedNotify : this.#sql.patchChecked) : notify ? this.#sql.patchNotify : this.#sql.patch;
    // One statement: the row is locked, the merged data measured and (if it fits) written, so
    // concurrent patches apply one after another, each to the latest data (G2) and within the limit.
    // It always returns one row, which tells every outcome apart (the notice, if any, went out with it).
    const { rows } = await this.#query<PatchRow>(sql, values);
    const row = rows[0]!;
    if (row.version !== null) return { status: "ok", version: row.version };
    if (row.current === null) return { status: "gone" };
    if (checked && row.current !== input.expectVersion) return { status: "conflict", version: row.current };
    return { status: "too-large", bytes: Number(row.bytes) };
  }

  async touch(id: string, lastSeenAt: number, expiresAt: number): Promise<boolean> {
    return ((await this.#query(this.#sql.touch, [id, lastSeenAt, expiresAt])).rowCount ?? 0) === 1;
  }

  async rotate(id: string, input: RotateInput): Promise<RotateResult> {
    const values = [
      id,
      input.newId,
      input.userId,
      input.change.unset,
      JSON.stringify(input.change.set),
      input.createdAt,
      input.lastSeenAt,
      input.expiresAt,
      input.absoluteExpiresAt,
      encodeDevice(input.device),
      input.maxDataBytes ?? null,
      encodeSessionMeta(input),
      ...this.#notice(input.notice),
    ];
    if (input.limit && input.userId !== null) {
      return this.#limited(
        input.userId,
        input,
        id,
        async (client, ended): Promise<RotateResult> => {
          if (ended === "refused") return { status: "limit" };
          const { rows } = await client.query<Row & { bytes: string | null }>(input.notice === undefined ? this.#sql.rotate : this.#sql.rotateNotify, values);
          if (rows[0]?.id) return { status: "ok", record: toRecord(rows[0]), ended };
          return overLimit(Number(rows[0]?.bytes ?? 0), input.maxDataBytes) ?? { status: "gone" };
        },
        input.newId,
      );
    }
    try {
      // One row, all null but `bytes` when nothing moved: gone, or too large (the notify must run either way).
      const { rows } = await this.#query<Row & { bytes: string | null }>(input.notice === undefined ? this.#sql.rotate : this.#sql.rotateNotify, values);
      const row = rows[0]!;
      if (row.id) return { status: "ok", record: toRecord(row) };
      const tooLarge = overLimit(Number(row.bytes ?? 0), input.maxDataBytes);
      return tooLarge ?? { status: "gone" };
    } catch (error) {
      if ((error as { code?: string }).code === "23505") throw new SessionExistsError(input.newId);
      throw error;
    }
  }

  async destroy(id: string, { notice }: DestroyOptions = {}): Promise<EndedSession | null> {
    const ended =
      notice === undefined
        ? (await this.#query<EndedRow>(this.#sql.destroy, [id])).rows
        : (await this.#query<{ ended: EndedRow[] }>(this.#sql.destroyNotify, [id, ...this.#notice(notice)])).rows[0]!.ended;
    return ended[0] ? toEnded(ended[0]) : null;
  }

  async destroyUser(userId: string, { notice, except }: DestroyUserOptions = {}): Promise<EndedSession[]> {
    // READ COMMITTED would let a concurrent rotate (re-login of the same user)
    // slip through: the DELETE waits for the old row, finds it gone and cannot
    // see the new one. Under REPEATABLE READ that case is a serialization
    // failure, and the retry's fresh snapshot sees (and deletes) the new row.
    // The user's own sessions go DESTROY_USER_BATCH at a time in id order (each batch's reply parsed
    // on its own, not 10^4 rows in one go while the process serves requests; revokeUserYield × a batch's
    // time between batches, so the database's CPU is not the revoke's alone), then the sessions
    // the user runs as an impersonator; all in one transaction, so it stays one atomic step.
    // The notice is NOTIFYed in that transaction: an attempt that rolls back discards it, and
    // the retry publishes it again (still exactly once, at COMMIT, with the deletes).
    for (let attempt = 1; ; attempt++) {
      try {
        await (this.#ready ??= this.#prepare());
        const client = await this.#pool.connect();
        let broken: Error | undefined;
        try {
          await client.query("BEGIN ISOLATION LEVEL REPEATABLE READ");
          // `except` null keeps nothing back ("id IS DISTINCT FROM NULL" holds for every row).
          const ended: EndedSession[] = [];
          for (let after = ""; ;) {
            const began = performance.now();
            const { rows } = await client.query<EndedRow>(this.#sql.destroyUserBatch, [userId, except ?? null, after]);
            for (const row of rows) {
              ended.push(toEnded(row));
              if (row.id > after) after = row.id;
            }
            if (rows.length < DESTROY_USER_BATCH) break;
            await yieldAfterStep(began, this.#revokeUserYield);
          }
          for (const row of (await client.query<EndedRow>(this.#sql.destroyImpersonations, [userId, except ?? null])).rows) ended.push(toEnded(row));
          if (notice !== undefined) await client.query(this.#sql.notify, this.#notice(notice));
          await client.query("COMMIT");
          return ended;
        } catch (error) {
          await client.query("ROLLBACK").catch((rollbackError: Error) => (broken = rollbackError));
          throw error;
        } finally {
          client.release(broken);
        }
      } catch (error) {
        if ((error as { code?: string }).code === "40001" && attempt < 20) continue;
        throw explain(error, this.#address, this.#names.display);
      }
    }
  }

  /**
   * A create or rotate under a session limit: one transaction that holds the
   * user's advisory lock (so concurrent logins of one user count one after
   * another), ends the oldest live sessions or refuses, then `write`s. A
   * notice is published on every outcome (pg_notify runs at COMMIT, so with the write).
   */
  async #limited<T>(
    userId: string,
    input: CreateInput,
    exceptId: string | undefined,
    write: (client: PoolClient, ended: string[] | "refused") => Promise<T>,
    newId: string,
  ): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        await (this.#ready ??= this.#prepare());
        const client = await this.#pool.connect();
        let broken: Error | undefined;
        try {
          await client.query("BEGIN");
          await client.query("SELECT pg_advisory_xact_lock(hashtext($1))", [`latchkey:${this.#names.display}:${userId}`]);
          // A rotation of a session that is gone ends nothing (the engine then creates, under the limit again).
          const gone = exceptId !== undefined && (await client.query(this.#sql.lockId, [exceptId])).rowCount === 0;
          const { rows } = gone ? { rows: [] } : await client.query<Row>(this.#sql.limitRows, [userId]);
          const ended = gone ? [] : sessionsOverLimit(rows.map(toRecord), userId, input.limit!, exceptId);
          if (ended !== "refused" && ended.length > 0) await client.query(this.#sql.destroyIds, [ended]);
          const result = gone ? ({ status: "gone" } as T) : await write(client, ended);
          // The rotate statement publishes its own notice; otherwise (a create, a refusal, gone) it is published here.
          const published = !gone && ended !== "refused" && exceptId !== undefined;
          if (input.notice !== undefined && !published) await client.query("SELECT pg_notify($1, $2)", this.#notice(input.notice));
          await client.query("COMMIT");
          return result;
        } catch (error) {
          await client.query("ROLLBACK").catch((rollbackError: Error) => (broken = rollbackError));
          throw error;
        } finally {
          client.release(broken);
        }
      } catch (error) {
        const code = (error as { code?: string }).code;
        if (code === "23505") throw new SessionExistsError(newId);
        if ((code === "40001" || code === "40P01") && attempt < 20) continue;
        throw explain(error, this.#address, this.#names.display);
      }
    }
  }

  async listUser(userId: string, options?: ListUserOptions): Promise<SessionRecord[]> {
    if (options?.limit === undefined && options?.after === undefined) return (await this.#query<Row>(this.#sql.listUser, [userId])).rows.map(toRecord);
    // Keyset, not OFFSET: the (user_id, id) index starts each page where the last one ended.
    return (await this.#query<Row>(this.#sql.listUserPage, [userId, options.after ?? "", options.limit ?? null])).rows.map(toRecord);
  }

  async sweep(now: number): Promise<EndedSession[]> {
    // Small batches, each its own short statement; SKIP LOCKED leaves rows a request is writing alone.
    const removed: EndedSession[] = [];
    for (;;) {
      const { rows } = await this.#query<EndedRow>(this.#sql.sweep, [now]);
      for (const row of rows) removed.push(toEnded(row));
      if (rows.length < SWEEP_BATCH) return removed;
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    // The near-cache closes its subscription first; this only makes sure a forgotten one cannot keep the process alive.
    await this.feed.closeAll();
    if (this.#ownsPool) await this.#pool.end();
    else this.#pool.off("error", this.#onPoolError);
  }

  /** Every query (the feed's too): the schema is prepared first, and errors say what to do. `table`: the one a 42P01 names. */
  async #query<R extends QueryResultRow = QueryResultRow>(text: string, values: unknown[], table = this.#names.display): Promise<QueryResult<R>> {
    try {
      await (this.#ready ??= this.#prepare());
      return await this.#pool.query<R>(text, values);
    } catch (error) {
      throw explain(error, this.#address, table);
    }
  }

  /** First use: create the table (or add the device column) when missing, unless createSchema is false. Retried on the next call if it fails. */
  async #prepare(): Promise<void> {
    if (!this.#createSchema) return;
    try {
      await this.#migrateUnlessFound(this.#names.qualified, "meta");
    } catch (error) {
      this.#ready = null;
      throw error;
    }
  }

  /**
   * A query on the leases table, which only the near-cache and strict
   * revocation use: created on their first use (a table migrated by an older
   * latchkey has none), so a deployment without them never needs it.
   */
  async #queryLeases<R extends QueryResultRow = QueryResultRow>(text: string, values: unknown[]): Promise<QueryResult<R>> {
    // A role that may not create the table is told so once a minute, not re-tried on every renewal.
    if (this.#leasesDenied && Date.now() < this.#leasesDenied.until) throw this.#leasesDenied.error;
    await (this.#leasesReady ??= this.#prepareLeases());
    return this.#query<R>(text, values, this.#names.leases.display);
  }

  /**
   * Runs the (idempotent) migration when `qualified` is missing, or lacks
   * `column` (a table from an older latchkey); checking first lets a role
   * without CREATE use tables someone else migrated.
   */
  async #migrateUnlessFound(qualified: string, column?: string): Promise<void> {
    const { rows } = await this.#pool.query<{ found: string | null; has_column: boolean }>(
      `SELECT to_regclass($1)::text AS found,
        EXISTS (SELECT 1 FROM pg_attribute WHERE attrelid = to_regclass($1) AND attname = $2 AND NOT attisdropped) AS has_column`,
      [qualified, column ?? ""],
    );
    if (!rows[0]?.found || (column !== undefined && !rows[0].has_column)) await runMigration(this.#pool, this.#names);
  }

  async #prepareLeases(): Promise<void> {
    if (!this.#createSchema) return;
    try {
      await (this.#ready ??= this.#prepare());
      await this.#migrateUnlessFound(this.#names.leases.qualified);
    } catch (error) {
      this.#leasesReady = null;
      if ((error as { code?: string }).code === "42501") {
        const denied = new Error(
          `latchkey: the near-cache and strict revocation need the table ${this.#names.leases.display}, and this role may not create it: run upgradeSchema() or the DDL of createSchemaSQL() as a role that can`,
          { cause: error },
        );
        this.#leasesDenied = { error: denied, until: Date.now() + 60_000 };
        throw denied;
      }
      throw explain(error, this.#address, this.#names.leases.display);
    }
  }
}

/**
 * The bytes of the jsonb `expr` as JSON.stringify writes it (see dataBytes), or 0 when it
 * surely fits `max` (or there is no limit). jsonb's text puts a space after every ':' and
 * ','; those are counted off, only when the text alone is over the limit. (Numbers that
 * JavaScript writes with an exponent, 1e21 or 1e-7, jsonb writes out in full: counted so.)
 */
function bytesOver(expr: string, max: string): string {
  const separators = `(SELECT coalesce(sum(CASE jsonb_typeof(v)
      WHEN 'object' THEN greatest(2 * (SELECT count(*) FROM jsonb_object_keys(v)) - 1, 0)
      WHEN 'array' THEN greatest(jsonb_array_length(v) - 1, 0) ELSE 0 END), 0) FROM jsonb_path_query(${expr}, 'strict $.**') AS item(v))`;
  return `CASE WHEN ${max} IS NULL OR octet_length(${expr}::text) <= ${max} THEN 0 ELSE octet_length(${expr}::text) - ${separators} END`;
}

/**
 * Patch: lock the row, measure the merged data, write it if it fits (and the version
 * matches). Parameters: $1 id, $2 unset keys, $3 set (JSON), $4 last seen, $5 expiry,
 * $6 maxDataBytes (null: none), [$7 expected version], then the notice's two.
 */
function patchStatement(table: string, checked: boolean, notify: boolean): string {
  const versionCheck = checked ? " AND sized.version = $7" : "";
  return `WITH cur AS (SELECT version, (data - $2::text[]) || $3::jsonb AS merged FROM ${table} WHERE id = $1 FOR UPDATE),
    sized AS (SELECT version, merged, ${bytesOver("merged", "$6::int")} AS bytes FROM cur),
    w AS (UPDATE ${table} SET data = sized.merged, last_seen_at = $4, expires_at = $5, version = ${table}.version + 1
      FROM sized WHERE ${table}.id = $1 AND ($6::int IS NULL OR sized.bytes <= $6::int)${versionCheck} RETURNING ${table}.version)
    SELECT (SELECT version FROM w) AS version, (SELECT version FROM sized) AS current, (SELECT bytes FROM sized) AS bytes${
      notify ? `, ${notifyColumn(checked ? 8 : 7)}` : ""
    }`;
}

/**
 * Rotate: lock the old row, measure the merged data, and if it fits delete it and insert
 * the new one, in one statement. Parameters: $1 old id, $2 new id, $3 user, $4 unset,
 * $5 set (JSON), $6–$9 times, $10 device, $11 maxDataBytes (null: none), $12 meta (JSON), then the notice's two.
 * One row: the new record, or nulls and `bytes` when nothing moved.
 */
function rotateStatement(table: string, notify: boolean): string {
  return `WITH cur AS (SELECT (data - $4::text[]) || $5::jsonb AS merged FROM ${table} WHERE id = $1 FOR UPDATE),
    sized AS (SELECT merged, ${bytesOver("merged", "$11::int")} AS bytes FROM cur),
    old AS (DELETE FROM ${table} USING sized WHERE ${table}.id = $1 AND ($11::int IS NULL OR sized.bytes <= $11::int)
      RETURNING sized.merged, ${table}.version),
    w AS (INSERT INTO ${table} (${COLUMNS}, device)
      SELECT $2::text, $3::text, old.merged, $6::bigint, $7::bigint, $8::bigint, $9::bigint, old.version + 1, $12::jsonb, $10::text FROM old
      RETURNING ${COLUMNS}, device)
    SELECT w.*, (SELECT bytes FROM sized) AS bytes${notify ? `, ${notifyColumn(13)}` : ""} FROM (SELECT 1) AS one LEFT JOIN w ON true`;
}

function statements(table: string) {
  // A user's sessions: their own, and the impersonations they run (the partial index on meta->>'impersonator').
  const ofUser = `(user_id = $1 OR (meta->>'impersonator') = $1)`;
  return {
    insert: `INSERT INTO ${table} (id, user_id, data, created_at, last_seen_at, expires_at, absolute_expires_at, version, device, meta) VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10::jsonb)`,
    get: `SELECT ${COLUMNS} FROM ${table} WHERE id = $1`,
    patch: patchStatement(table, false, false),
    patchChecked: patchStatement(table, true, false),
    touch: `UPDATE ${table} SET last_seen_at = $2, expires_at = $3 WHERE id = $1`,
    // One statement: the old row's lock means a concurrent rotate, patch or destroy of the old id finds it gone.
    rotate: rotateStatement(table, false),
    destroy: `DELETE FROM ${table} WHERE id = $1 RETURNING ${ENDED}`,
    // The next batch of the user's own sessions after id $3, read in (user_id, id) order.
    destroyUserBatch: `DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE user_id = $1 AND id IS DISTINCT FROM $2::text AND id > $3 ORDER BY id LIMIT ${DESTROY_USER_BATCH}) RETURNING ${ENDED}`,
    destroyImpersonations: `DELETE FROM ${table} WHERE (meta->>'impersonator') = $1 AND user_id IS DISTINCT FROM $1 AND id IS DISTINCT FROM $2::text RETURNING ${ENDED}`,
    notify: "SELECT pg_notify($1, $2)",
    listUser: `SELECT ${COLUMNS}, device FROM ${table} WHERE ${ofUser}`,
    // Not `WHERE ${ofUser} ... ORDER BY id LIMIT`: the planner takes the OR's impersonator half for 0.5% of
    // the table and may walk the primary key in id order filtering every row (2.5 s at 10^6 sessions, when
    // the user's ids, which share a route prefix, sort late). Each half reads its own index instead: the
    // user's sessions in (user_id, id) order, the few impersonations behind a fence (OFFSET 0) from theirs.
    listUserPage:
      `SELECT * FROM ((SELECT ${COLUMNS}, device FROM ${table} WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3) UNION ALL ` +
      `(SELECT * FROM (SELECT ${COLUMNS}, device FROM ${table} WHERE (meta->>'impersonator') = $1 AND user_id IS DISTINCT FROM $1 AND id > $2 OFFSET 0) impersonations ORDER BY id LIMIT $3)) page ORDER BY id LIMIT $3`,
    limitRows: `SELECT ${COLUMNS} FROM ${table} WHERE user_id = $1`,
    destroyIds: `DELETE FROM ${table} WHERE id = ANY($1::text[])`,
    lockId: `SELECT 1 FROM ${table} WHERE id = $1 FOR UPDATE`,
    // The same writes publishing a notice (the last two parameters) in the same statement, on every
    // outcome: each returns exactly one row, also when nothing matched (see withNotice).
    patchNotify: patchStatement(table, false, true),
    patchCheckedNotify: patchStatement(table, true, true),
    rotateNotify: rotateStatement(table, true),
    destroyNotify: withNotice(`DELETE FROM ${table} WHERE id = $1 RETURNING ${ENDED}`, ENDED_AGGREGATE, 2),
    sweep: `DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE expires_at <= $1 LIMIT ${SWEEP_BATCH} FOR UPDATE SKIP LOCKED) RETURNING ${ENDED}`,
  };
}

/** What a delete returns (the `ended` event's fields), as rows or, under a notice, aggregated into one JSON column. */
const ENDED = "id, user_id, device";
const ENDED_AGGREGATE = "(SELECT coalesce(json_agg(json_build_object('id', id, 'user_id', user_id, 'device', device)), '[]'::json) FROM w) AS ended";
type EndedRow = Pick<Row, "id" | "user_id" | "device">;

function toEnded(row: EndedRow): EndedSession {
  return endedSession(row.id, row.user_id, row.device);
}

function toRecord(row: Row): SessionRecord {
  const record: SessionRecord = {
    id: row.id,
    userId: row.user_id,
    data: row.data,
    createdAt: Number(row.created_at),
    lastSeenAt: Number(row.last_seen_at),
    expiresAt: Number(row.expires_at),
    absoluteExpiresAt: Number(row.absolute_expires_at),
    version: row.version,
  };
  const device = decodeDevice(row.device);
  if (device) record.device = device;
  return applySessionMeta(record, row.meta);
}
