import type { ClaimReply, LegacySource } from "./source.js";

/** connect-pg-simple's table, read through the app's pg Pool. */
export interface PostgresSourceOptions {
  /** A pg Pool (the one connect-pg-simple was given). */
  pool: object;
  /** connect-pg-simple's tableName. Default "session". */
  table?: string;
  /** connect-pg-simple's schemaName. Default: the search path. */
  schema?: string;
  /** Where claims (tombstones) are kept; created on first use. Default `<table>_latchkey_claims`. */
  claimTable?: string;
}

type Pool = { query(text: string, values?: unknown[]): Promise<{ rows: Record<string, unknown>[] }> };

const IDENTIFIER = /^[A-Za-z_][A-Za-z0-9_$]{0,62}$/;

export function isPgPool(pool: unknown): boolean {
  return !!pool && typeof pool === "object" && typeof (pool as Pool).query === "function";
}

/**
 * A PostgreSQL source: claims live in their own table next to the sessions
 * table; claiming is one INSERT … ON CONFLICT statement, finishing one
 * statement that marks the claim done and deletes the old row.
 */
export function postgresSource(options: PostgresSourceOptions): LegacySource {
  const pool = options.pool as Pool;
  if (!isPgPool(pool)) throw new TypeError("latchkey: source.pool must be a pg Pool (the one connect-pg-simple uses)");
  const tableName = options.table ?? "session";
  const claimName = options.claimTable ?? `${tableName}_latchkey_claims`;
  for (const [what, value] of [
    ["table", tableName],
    ["claimTable", claimName],
    ["schema", options.schema ?? "public"],
  ] as const) {
    if (typeof value !== "string" || !IDENTIFIER.test(value)) {
      throw new TypeError(`latchkey: source.${what} ${JSON.stringify(value)} must be a plain SQL identifier (letters, digits, _)`);
    }
  }
  const qualify = (name: string) => (options.schema ? `"${options.schema}"."${name}"` : `"${name}"`);
  const sessions = qualify(tableName);
  const claims = qualify(claimName);

  const CLAIM = `
    WITH old AS (SELECT sess::text AS sess, (extract(epoch FROM expire) * 1000)::float8 AS expire FROM ${sessions} WHERE sid = $1),
    prior AS (
      SELECT state, session_id, CASE WHEN sealed_until > now() THEN sealed END AS sealed
      FROM ${claims} WHERE claim = $2 AND until > now()
    ),
    won AS (
      INSERT INTO ${claims} AS c (claim, state, owner, until)
      SELECT $2, 'pending', $3, now() + $4::float8 * interval '1 millisecond' WHERE EXISTS (SELECT 1 FROM old)
      ON CONFLICT (claim) DO UPDATE SET state = 'pending', owner = EXCLUDED.owner, until = EXCLUDED.until,
        session_id = NULL, sealed = NULL, sealed_until = NULL
      WHERE c.until <= now()
      RETURNING 1
    ),
    written_back AS (
      DELETE FROM ${sessions} WHERE sid = $1 AND EXISTS (SELECT 1 FROM prior WHERE state = 'done')
    ),
    -- A sealed token past its grace period is deleted when its claim is read (never the row won above: until > now()).
    scrubbed AS (
      UPDATE ${claims} SET sealed = NULL, sealed_until = NULL WHERE claim = $2 AND until > now() AND sealed_until <= now()
    )
    SELECT (SELECT count(*) FROM won)::int AS won, (SELECT sess FROM old) AS sess, (SELECT expire FROM old) AS expire,
      p.state, p.session_id, p.sealed
    FROM (SELECT 1) AS one LEFT JOIN prior p ON true`;

  const FINISH = `
    WITH done AS (
      UPDATE ${claims} SET state = 'done', owner = NULL, session_id = $4, sealed = NULLIF($5::text, ''),
        sealed_until = CASE WHEN $5 = '' THEN NULL ELSE now() + $6::float8 * interval '1 millisecond' END,
        until = now() + $7::float8 * interval '1 millisecond'
      WHERE claim = $2 AND state = 'pending' AND owner = $3
      RETURNING 1
    ),
    gone AS (DELETE FROM ${sessions} WHERE sid = $1 AND EXISTS (SELECT 1 FROM done)),
    scrubbed AS (UPDATE ${claims} SET sealed = NULL, sealed_until = NULL WHERE sealed_until < now()),
    forgotten AS (DELETE FROM ${claims} WHERE until < now() - interval '1 minute')
    SELECT (SELECT count(*) FROM done)::int AS done`;

  // Sealed tokens past their grace period, claims past their time; then how long until the next seal runs out (ms), or null.
  const SWEEP = `
    WITH scrubbed AS (UPDATE ${claims} SET sealed = NULL, sealed_until = NULL WHERE sealed_until <= now() RETURNING 1),
    forgotten AS (DELETE FROM ${claims} WHERE until < now() - interval '1 minute' RETURNING 1)
    SELECT (extract(epoch FROM min(sealed_until) - now()) * 1000)::float8 AS next_ms
    FROM ${claims} WHERE sealed IS NOT NULL AND sealed_until > now()`;

  // A user logged out everywhere: a row of its own in the claims table ("user:" never starts a claim key, which is base64url).
  const MARK_USER = `
    INSERT INTO ${claims} AS c (claim, state, until) VALUES ($1, 'revoked', now() + $2::float8 * interval '1 millisecond')
    ON CONFLICT (claim) DO UPDATE SET state = 'revoked', until = GREATEST(c.until, EXCLUDED.until)`;

  let ready: Promise<void> | null = null;
  const ensureClaims = (): Promise<void> =>
    (ready ??= (async () => {
      try {
        // Checked first: CREATE … IF NOT EXISTS still needs CREATE on the schema, which the app's role may lack.
        const { rows } = await pool.query("SELECT to_regclass($1) IS NOT NULL AS present", [claims]);
        if (rows[0]?.present === true) return;
        await pool.query(`CREATE TABLE IF NOT EXISTS ${claims} (
          claim text PRIMARY KEY,
          state text NOT NULL,
          owner text,
          session_id text,
          sealed text,
          sealed_until timestamptz,
          until timestamptz NOT NULL)`);
        await pool.query(`CREATE INDEX IF NOT EXISTS "${claimName}_until" ON ${claims} (until)`);
        await pool.query(`CREATE INDEX IF NOT EXISTS "${claimName}_sealed_until" ON ${claims} (sealed_until) WHERE sealed IS NOT NULL`);
      } catch (error) {
        // Two processes creating it at once: one loses on the catalog's unique index; the table exists.
        if ((error as { code?: string }).code !== "23505" && (error as { code?: string }).code !== "42P07") {
          ready = null;
          throw error;
        }
      }
    })());

  const sweep = async (): Promise<number | null> => {
    await ensureClaims();
    const next = (await pool.query(SWEEP)).rows[0]?.next_ms;
    return next === null || next === undefined ? null : Number(next);
  };
  // The sealed token of a migration finished here is deleted as soon as its grace period is over, not at
  // the next migration: one timer per process, re-armed while any seal (this process's or another's) is left.
  let scrubTimer: NodeJS.Timeout | undefined;
  const scrubIn = (delayMs: number): void => {
    if (scrubTimer) return;
    scrubTimer = setTimeout(
      () => {
        sweep().then(
          (nextMs) => {
            scrubTimer = undefined;
            if (nextMs !== null) scrubIn(nextMs + 50);
          },
          () => {
            scrubTimer = undefined; // the pool ended or the database is away: the sweeper or the next migration scrubs it
          },
        );
      },
      Math.max(0, delayMs),
    );
    scrubTimer.unref();
  };

  return {
    name: `connect-pg-simple(${options.schema ? `${options.schema}.` : ""}${tableName})`,
    async claim(sid, claimKey, owner, pendingMs): Promise<ClaimReply> {
      await ensureClaims();
      const row = (await pool.query(CLAIM, [sid, claimKey, owner, pendingMs])).rows[0]!;
      if (row.won === 1) {
        return { kind: "claimed", record: String(row.sess), storeExpiresAt: row.expire === null ? null : Number(row.expire) };
      }
      if (row.state === "done") return { kind: "done", id: String(row.session_id ?? ""), sealed: row.sealed === null ? null : String(row.sealed) };
      if (row.state === "pending") return { kind: "pending" };
      // No old row: unknown. An old row but no claim won or seen: a claim was
      // committed after this statement's snapshot — ask again.
      return row.sess === null ? { kind: "unknown" } : { kind: "pending" };
    },
    async finish(sid, claimKey, owner, migrated, graceMs, tombstoneMs) {
      await ensureClaims();
      const row = (await pool.query(FINISH, [sid, claimKey, owner, migrated?.id ?? "", migrated?.sealed ?? "", graceMs, tombstoneMs])).rows[0]!;
      if (row.done === 1 && migrated?.sealed) scrubIn(graceMs + 50);
      return row.done === 1;
    },
    async release(claimKey, owner) {
      await ensureClaims();
      await pool.query(`DELETE FROM ${claims} WHERE claim = $1 AND state = 'pending' AND owner = $2`, [claimKey, owner]);
    },
    async markUserRevoked(userKey, ttlMs) {
      await ensureClaims();
      await pool.query(MARK_USER, [`user:${userKey}`, ttlMs]);
    },
    async isUserRevoked(userKey) {
      await ensureClaims();
      const { rows } = await pool.query(`SELECT 1 FROM ${claims} WHERE claim = $1 AND state = 'revoked' AND until > now()`, [`user:${userKey}`]);
      return rows.length > 0;
    },
    async sweep() {
      await sweep();
    },
    async count() {
      const { rows } = await pool.query(`SELECT count(*)::int AS n FROM ${sessions} WHERE expire > now()`);
      return Number(rows[0]!.n);
    },
  };
}
