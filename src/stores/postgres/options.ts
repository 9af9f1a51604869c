// postgresStore's options: their types, and their validation at construction (every error says what to give).
import type { Pool } from "pg";
import { resolveRevokeUserYield } from "../../store/revoke-yield.js";
import { resolveNames, type Names } from "./schema.js";

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
   * stayed near 2× of idle (docs/capacity.md), and the revoke took 0.3–0.6 s instead of 0.15–0.2 s
   * with 0. 0: no pause. A wait is never longer than 1 s (after a step that stalled, say). A user
   * with fewer than 200 sessions takes one statement and never waits.
   * @example
   * postgresStore({ connectionString, revokeUserYield: 0 }) // revokeUser as fast as the database allows
   */
  revokeUserYield?: number;
}

/** What postgresStore builds from valid options, beside the pool (see connection.ts). */
export interface ResolvedPostgresStoreOptions {
  names: Names;
  createSchema: boolean;
  revokeUserYield: number;
}

/** Validates postgresStore's options; a TypeError names what to give instead. */
export function resolvePostgresStoreOptions(options: PostgresStoreOptions): ResolvedPostgresStoreOptions {
  const names = resolveNames("postgresStore", options);
  const createSchema = options.createSchema ?? true;
  if (typeof createSchema !== "boolean") {
    throw new TypeError(`latchkey: postgresStore createSchema must be true or false (got ${String(createSchema)})`);
  }
  if (options.notifyWrites !== undefined && typeof options.notifyWrites !== "boolean") {
    throw new TypeError(`latchkey: postgresStore notifyWrites must be true or false (got ${String(options.notifyWrites)})`);
  }
  return { names, createSchema, revokeUserYield: resolveRevokeUserYield("postgresStore", options.revokeUserYield) };
}
