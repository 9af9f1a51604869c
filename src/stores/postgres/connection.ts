// Connecting to PostgreSQL: the pg module, pools the store creates, and the errors people meet first.
import { createRequire } from "node:module";
import type { ClientConfig, Pool } from "pg";
import { SessionValueError } from "../../core/index.js";
import { redactCredentials } from "../../store/redact.js";

type Pg = typeof import("pg");

/** Network errors (the server cannot be reached or dropped the socket), as opposed to errors of a query. */
const CONNECT_ERRORS = new Set(["ECONNREFUSED", "ENOTFOUND", "EAI_AGAIN", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "ECONNRESET", "EPIPE"]);

export function loadPg(): Pg {
  try {
    return createRequire(import.meta.url)("pg") as Pg;
  } catch (error) {
    throw new Error("latchkey: postgresStore needs the pg package: npm install pg", { cause: error });
  }
}

export function createPool(connectionString: string): Pool {
  const pg = loadPg();
  // fallback_application_name: shows as "latchkey" in pg_stat_activity unless the URL or PGAPPNAME names the app.
  // connectionTimeoutMillis: a request waits at most 10 s for a connection, then answers 503 (G6) instead of hanging.
  // query_timeout + keepAlive: a server that stops answering (frozen, network cut) fails the
  // query after 5 s, so the request answers 503 instead of hanging (G6).
  return new pg.Pool({ connectionString, fallback_application_name: "latchkey", connectionTimeoutMillis: 10_000, query_timeout: 5_000, keepAlive: true });
}

/** host:port and database the pool connects to, resolved the way pg does (URL, then PG* env, then defaults). */
export function describeTarget(pool: Pool): { address: string; database: string } {
  const config = pool.options as ClientConfig;
  try {
    const client = new (loadPg().Client)(config);
    return { address: `${client.host}:${client.port}`, database: client.database ?? "" };
  } catch {
    return { address: `${config.host ?? "localhost"}:${config.port ?? 5432}`, database: config.database ?? "" };
  }
}

/** Adds what to do to the errors people meet first: no server, no table, a \u0000 in a value. Others pass through unchanged. */
export function explain(error: unknown, address: string, table?: string): unknown {
  const e = error as { code?: string; message?: string; errors?: Error[] } | null;
  if (!e || typeof e !== "object") return error;
  if (e.code === "42P01" && table) {
    return new Error(
      `latchkey: PostgreSQL table ${table} does not exist at ${address}: run upgradeSchema() or the DDL of createSchemaSQL(), or leave createSchema on`,
      { cause: error },
    );
  }
  if (e.code === "42703" && table && /"device"/.test(e.message ?? "")) {
    return new Error(
      `latchkey: PostgreSQL table ${table} at ${address} predates device recording (no column "device"): run upgradeSchema() (or \`latchkey schema upgrade\`), or leave createSchema on`,
      { cause: error },
    );
  }
  if (e.code === "42703" && table && /"meta"/.test(e.message ?? "")) {
    return new Error(
      `latchkey: PostgreSQL table ${table} at ${address} predates per-session lifetimes and impersonation (no column "meta"): run upgradeSchema() (or \`latchkey schema upgrade\`), or leave createSchema on`,
      { cause: error },
    );
  }
  if (e.code === "53300") {
    // max_connections, or a role's or database's CONNECTION LIMIT, is used up: say what each process holds.
    return Object.assign(
      new Error(
        redactCredentials(
          `latchkey: PostgreSQL at ${address} refused a connection: ${e.message}. Each process holds up to its pool's max connections, ` +
            `plus one LISTEN connection with nearCache or revocation: "strict"; keep processes × (pool max + 1) under max_connections ` +
            `(SHOW max_connections) less what other clients use: lower the pool's max, raise max_connections, or pool through PgBouncer ` +
            `(the LISTEN connection must connect directly or through a session-mode pool)`,
        ),
        { cause: error },
      ),
      { code: e.code },
    );
  }
  if (e.code === "22P05") {
    return new SessionValueError(`latchkey: PostgreSQL jsonb cannot store the character \\u0000 in a session key or value (${e.message})`);
  }
  const connecting = (e.code && CONNECT_ERRORS.has(e.code)) || /timeout exceeded when trying to connect|connection timeout/i.test(e.message ?? "");
  if (connecting && !/cannot reach PostgreSQL/.test(e.message ?? "")) {
    const reason = e.message || e.errors?.map((inner) => inner.message).join("; ") || e.code;
    return Object.assign(new Error(redactCredentials(`latchkey: cannot reach PostgreSQL at ${address}: ${reason}`), { cause: error }), { code: e.code });
  }
  return error;
}
