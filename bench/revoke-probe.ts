// bench:revoke's instruments for many processes: the CPU time the store's server and the app
// processes spend on one logout, and PostgreSQL's connection budget.
// CPU comes from /proc/<pid>/schedstat (nanoseconds on the CPU, exact — not the 10 ms ticks of
// /proc/<pid>/stat or getrusage), read from outside, so measuring asks nothing of the store.
import { readFileSync } from "node:fs";
import pg from "pg";
import { broadcastChannel } from "../src/stores/postgres/feed.js";

/** Nanoseconds the process `pid` has run on a CPU, or 0 when it is gone (or this is not Linux). */
export function cpuNs(pid: number): number {
  try {
    return Number(readFileSync(`/proc/${pid}/schedstat`, "utf8").split(" ")[0]);
  } catch {
    return 0;
  }
}

/** The sum of {@link cpuNs} over `pids`, per pid, so a later reading is compared only where both exist. */
export function cpuSnapshot(pids: readonly number[]): Map<number, number> {
  return new Map(pids.map((pid) => [pid, cpuNs(pid)]));
}

/** CPU ms used between two snapshots, over the pids present in both. */
export function cpuMsBetween(before: Map<number, number>, after: Map<number, number>): number {
  let ns = 0;
  for (const [pid, then] of before) {
    const now = after.get(pid);
    if (now !== undefined && now >= then && then > 0) ns += now - then;
  }
  return ns / 1e6;
}

/**
 * What one bench row may open on PostgreSQL, against what the server has left: each process holds up to
 * `poolMax` pool connections and one LISTEN connection (the near-cache's feed), and the bench one more.
 * Throws before anything starts when it does not fit, rather than letting processes fail one by one
 * ("sorry, too many clients already") in the middle of a row.
 */
export async function checkConnectionBudget(databaseUrl: string, processes: number, poolMax: number): Promise<{ max: number; inUse: number; needed: number }> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ max: string; reserved: string; in_use: string }>(
      `SELECT current_setting('max_connections') AS max, current_setting('superuser_reserved_connections') AS reserved,
        (SELECT count(*) FROM pg_stat_activity WHERE backend_type = 'client backend') AS in_use`,
    );
    const max = Number(rows[0]!.max);
    const inUse = Number(rows[0]!.in_use);
    const needed = processes * (poolMax + 1) + 1;
    const free = max - Number(rows[0]!.reserved) - inUse;
    if (needed > free) {
      throw new Error(
        `bench:revoke: ${processes} processes × (pool ${poolMax} + 1 LISTEN) + 1 = ${needed} PostgreSQL connections, ` +
          `but max_connections is ${max} with ${inUse} in use (${rows[0]!.reserved} reserved): lower --pg-pool, or run fewer processes`,
      );
    }
    return { max, inUse, needed };
  } finally {
    await client.end();
  }
}

/**
 * The server processes (backends) serving one bench row on PostgreSQL: its pool connections, named by
 * `applicationName`, and its LISTEN connections, found by the channel of `table` in their last query.
 * @example
 * const backends = new PostgresBackends(url, "lkbench_1", "lk_bench_rv_1_s16");
 * const pids = await backends.pids();
 */
export class PostgresBackends {
  readonly #client: pg.Client;
  readonly #applicationName: string;
  readonly #channel: string;
  #connected: Promise<unknown> | null = null;

  constructor(databaseUrl: string, applicationName: string, table: string) {
    this.#client = new pg.Client({ connectionString: databaseUrl });
    this.#applicationName = applicationName;
    this.#channel = broadcastChannel(`"${table}"`);
  }

  /** pids of the row's pool backends and of its LISTEN backends. */
  async pids(): Promise<{ pool: number[]; listen: number[] }> {
    this.#connected ??= this.#client.connect();
    await this.#connected;
    const { rows } = await this.#client.query<{ pid: number; listen: boolean }>(
      `SELECT pid, application_name <> $1 AS listen FROM pg_stat_activity
        WHERE application_name = $1 OR (application_name = 'latchkey-feed' AND query LIKE $2)`,
      [this.#applicationName, `LISTEN "${this.#channel}"%`],
    );
    return { pool: rows.filter((r) => !r.listen).map((r) => r.pid), listen: rows.filter((r) => r.listen).map((r) => r.pid) };
  }

  async close(): Promise<void> {
    if (this.#connected) await this.#client.end().catch(() => undefined);
  }
}
