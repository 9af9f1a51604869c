// The sessions table and the feed's leases table: names, DDL, and migration.
import type { Pool } from "pg";
import { createPool, describeTarget, explain } from "./connection.js";
import { leasesSchemaSQL, leasesTable } from "./feed.js";

export interface UpgradeSchemaOptions {
  pool?: Pool;
  connectionString?: string;
  /** Table name. Default "latchkey_sessions". */
  table?: string;
  schema?: string;
}

export interface Names {
  table: string;
  schema: string | undefined;
  /** `"schema"."table"` or `"table"`, for SQL. */
  qualified: string;
  /** `schema.table` or `table`, for messages. */
  display: string;
  /** The feed's leases table, `<table>_leases` in the same schema. */
  leases: { qualified: string; display: string };
}

export const DEFAULT_TABLE = "latchkey_sessions";
/** Lowercase so the name means the same quoted or not; ≤ 48 chars so index names stay under PostgreSQL's 63. */
const IDENTIFIER = /^[a-z_][a-z0-9_]{0,47}$/;

/**
 * Creates the sessions table, its indexes and the feed's leases table if they are missing. Idempotent,
 * and safe to run from many processes at once (an advisory lock serialises it).
 * For teams that run migrations themselves, with `createSchema: false` on the store.
 * @example
 * import { upgradeSchema } from "latchkey/postgres";
 * await upgradeSchema({ connectionString: process.env.DATABASE_URL, table: "sessions" });
 */
export async function upgradeSchema(options: UpgradeSchemaOptions): Promise<void> {
  const names = resolveNames("upgradeSchema", options);
  const owned = options.pool ? null : createPool(options.connectionString!);
  const pool = options.pool ?? owned!;
  owned?.on("error", () => undefined); // the query in flight reports it
  try {
    await runMigration(pool, names).catch((error: unknown) => {
      throw explain(error, describeTarget(pool).address);
    });
  } finally {
    await owned?.end();
  }
}

/**
 * The DDL that {@link upgradeSchema} runs, as text for your own migration tool: the
 * sessions table with its indexes, and the feed's `<table>_leases`.
 * Every statement is idempotent (IF NOT EXISTS).
 * @example
 * import { createSchemaSQL } from "latchkey/postgres";
 * writeFileSync("migrations/001_sessions.sql", createSchemaSQL("sessions"));
 */
export function createSchemaSQL(table: string = DEFAULT_TABLE, schema?: string): string {
  const { qualified, leases } = resolveNames("createSchemaSQL", { table, schema }, false);
  return `${schema ? `CREATE SCHEMA IF NOT EXISTS "${schema}";\n` : ""}CREATE TABLE IF NOT EXISTS ${qualified} (
  id text PRIMARY KEY,
  user_id text,
  data jsonb NOT NULL,
  created_at bigint NOT NULL,
  last_seen_at bigint NOT NULL,
  expires_at bigint NOT NULL,
  absolute_expires_at bigint NOT NULL,
  version integer NOT NULL,
  device text,
  meta jsonb
);
ALTER TABLE ${qualified} ADD COLUMN IF NOT EXISTS device text;
ALTER TABLE ${qualified} ADD COLUMN IF NOT EXISTS meta jsonb;
CREATE INDEX IF NOT EXISTS "${table}_impersonator_idx" ON ${qualified} ((meta->>'impersonator')) WHERE (meta->>'impersonator') IS NOT NULL;
CREATE INDEX IF NOT EXISTS "${table}_user_id_idx" ON ${qualified} (user_id, id) WHERE user_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS "${table}_expires_at_idx" ON ${qualified} (expires_at);
${leasesSchemaSQL(leases.qualified)}`;
}

export function resolveNames(fn: string, options: UpgradeSchemaOptions, needsConnection = true): Names {
  if (needsConnection) {
    const example = `e.g. ${fn}({ connectionString: process.env.DATABASE_URL }) or ${fn}({ pool: new pg.Pool() })`;
    if (!options || (options.pool === undefined && options.connectionString === undefined)) {
      throw new TypeError(`latchkey: ${fn} needs { pool } or { connectionString }, ${example}`);
    }
    if (options.pool !== undefined && options.connectionString !== undefined) {
      throw new TypeError(`latchkey: ${fn} takes { pool } or { connectionString }, not both`);
    }
    const pool = options.pool as Partial<Pool> | undefined;
    if (pool !== undefined && (typeof pool?.query !== "function" || typeof pool.connect !== "function" || !("totalCount" in pool))) {
      throw new TypeError(`latchkey: ${fn} pool must be a pg Pool (new pg.Pool(...)), not a Client or another object`);
    }
    if (options.connectionString !== undefined && (typeof options.connectionString !== "string" || options.connectionString === "")) {
      throw new TypeError(`latchkey: ${fn} connectionString must be a non-empty string like "postgres://user@host:5432/db"`);
    }
  }
  const table = options.table ?? DEFAULT_TABLE;
  if (typeof table !== "string" || !IDENTIFIER.test(table)) {
    throw new TypeError(`latchkey: ${fn} table ${JSON.stringify(table)} must be a lowercase SQL identifier (a-z, 0-9, _; at most 48 characters)`);
  }
  const schema = options.schema;
  if (schema !== undefined && (typeof schema !== "string" || !IDENTIFIER.test(schema))) {
    throw new TypeError(
      `latchkey: ${fn} schema ${JSON.stringify(schema)} must be a lowercase SQL identifier (a-z, 0-9, _), or left out to use the search_path`,
    );
  }
  // Quoted, so reserved words ("user", "order") work; the pattern above keeps the quotes safe.
  return {
    table,
    schema,
    qualified: schema ? `"${schema}"."${table}"` : `"${table}"`,
    display: schema ? `${schema}.${table}` : table,
    leases: leasesTable(table, schema),
  };
}

export async function runMigration(pool: Pool, names: Names): Promise<void> {
  const client = await pool.connect();
  const ignore = (): void => undefined; // the failing query reports the error
  client.on("error", ignore);
  let failure: Error | undefined;
  try {
    await client.query("BEGIN");
    // CREATE … IF NOT EXISTS is not safe against a concurrent CREATE (of this table, or of
    // the schema): serialise every latchkey migration on one constant key.
    await client.query("SELECT pg_advisory_xact_lock(hashtext('latchkey:migrate'))");
    await client.query(createSchemaSQL(names.table, names.schema));
    await client.query("COMMIT");
  } catch (error) {
    failure = error as Error;
    await client.query("ROLLBACK").catch(() => undefined);
    throw error;
  } finally {
    client.off("error", ignore);
    client.release(failure);
  }
}
