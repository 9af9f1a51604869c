import type { ClientConfig, Pool, PoolClient, QueryResult, QueryResultRow } from "pg";
import {
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
  type PatchInput,
  type PatchResult,
  type RotateInput,
  type RotateResult,
  type SessionRecord,
  type SessionStore,
} from "../../store/index.js";
import { recordColumns } from "../../store/sql.js";
import { createPool, describeTarget, explain, loadPg } from "./connection.js";
import { listenerConfig, PostgresFeed } from "./feed.js";
import { runMigration, type Names } from "./schema.js";
import { yieldAfterStep } from "../../store/revoke-yield.js";
import { resolvePostgresStoreOptions, type PostgresStoreOptions } from "./options.js";
import { DESTROY_USER_BATCH, statements, type DestroyBatchRow, SWEEP_BATCH, toEnded, toRecord, type EndedRow, type PatchRow, type Row } from "./statements.js";

export { PostgresFeed } from "./feed.js";
export { createSchemaSQL, upgradeSchema, type UpgradeSchemaOptions } from "./schema.js";
export type { PostgresStoreOptions } from "./options.js";

/**
 * destroyUser's passes over the user's sessions end with one in which no session vanished between its
 * read and its delete; a user rotating sessions again and again meanwhile could keep them going, so after
 * this many the revoke commits what it ended.
 */
const MAX_DESTROY_USER_PASSES = 10;

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
  const { names, createSchema, revokeUserYield } = resolvePostgresStoreOptions(options);
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
    // One transaction at READ COMMITTED, so it stays one atomic step (other transactions see every delete,
    // and the NOTIFY, at COMMIT), while each statement reads what is committed when it runs. A concurrent
    // touch or patch of a session not yet deleted makes the DELETE wait for it, then delete it. (Under
    // REPEATABLE READ each was a serialization failure that restarted the whole revoke: a user with 8000
    // sessions touched ~150 times a second failed it 20 times over, and their sessions stayed.)
    // A session that vanishes between a batch's read and its delete was rotated (a re-login: its successor
    // is a row this statement cannot see) or ended by another process: another pass over the user's
    // sessions follows, until one deletes everything it read. A session created after that pass read is
    // a login concurrent with the revoke, not one derived from a session it ended (those are locked by it).
    // The user's own sessions go DESTROY_USER_BATCH at a time in id order (each batch's reply parsed on its
    // own, not 10^4 rows in one go while the process serves requests; revokeUserYield × a full batch's time
    // before the next, so the database's CPU is not the revoke's alone), then the sessions the user runs
    // as an impersonator. The notice is NOTIFYed in that transaction: it is published at COMMIT, with the deletes.
    for (let attempt = 1; ; attempt++) {
      try {
        await (this.#ready ??= this.#prepare());
        const client = await this.#pool.connect();
        let broken: Error | undefined;
        try {
          await client.query("BEGIN ISOLATION LEVEL READ COMMITTED");
          const ended = await this.#destroyOwnSessions(client, userId, except ?? null);
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
        // A deadlock with a transaction that locked the user's rows in another order: the revoke runs again.
        if ((error as { code?: string }).code === "40P01" && attempt < 20) continue;
        throw explain(error, this.#address, this.#names.display);
      }
    }
  }

  /**
   * destroyUser's passes over the user's own sessions, DESTROY_USER_BATCH at a time in id order, in
   * `client`'s open transaction; `except` null keeps nothing back ("id IS DISTINCT FROM NULL" holds for every row).
   */
  async #destroyOwnSessions(client: PoolClient, userId: string, except: string | null): Promise<EndedSession[]> {
    const ended: EndedSession[] = [];
    for (let pass = 1, vanished = true; vanished && pass <= MAX_DESTROY_USER_PASSES; pass++) {
      vanished = false;
      for (let after = ""; ;) {
        const began = performance.now();
        const batch = (await client.query<DestroyBatchRow>(this.#sql.destroyUserBatch, [userId, except, after])).rows[0]!;
        for (const row of batch.ended) ended.push(toEnded(row));
        if (batch.ended.length < batch.read) vanished = true;
        if (batch.read < DESTROY_USER_BATCH) break;
        after = batch.last!;
        await yieldAfterStep(began, this.#revokeUserYield);
      }
    }
    return ended;
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
