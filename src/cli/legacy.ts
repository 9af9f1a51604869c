// `latchkey legacy count`: how many sessions of the library an app switched
// from are still live in its store — when it reaches zero (or the migration's
// `until` date passes), `migrateFrom` can be removed. Reads the old store only.
import { countLegacySessions } from "../migrate/index.js";
import { redactUrl } from "../store/redact.js";
import { StoreUrlError, type StoreSettings } from "./store.js";

/**
 * Counts the old library's live sessions in the store `settings.url` names:
 * connect-redis keys under `--prefix` (default "sess:"), or connect-pg-simple
 * rows of `--table` (default "session") that have not expired.
 * @example
 * const left = await countLegacy({ url: "redis://127.0.0.1:6379", prefix: "sess:", table: undefined, schema: undefined });
 */
export async function countLegacy(settings: StoreSettings): Promise<{ count: number; source: string }> {
  const scheme = /^([a-z]+):/i.exec(settings.url)?.[1]?.toLowerCase();
  if (scheme === "redis" || scheme === "rediss") {
    if (settings.table !== undefined || settings.schema !== undefined)
      throw new StoreUrlError("--table and --schema do not apply to a Redis store (connect-redis keys: --prefix)");
    const prefix = settings.prefix ?? "sess:";
    const { createClient } = await import("redis");
    const client = createClient({ url: settings.url, socket: { reconnectStrategy: false, connectTimeout: 5000 } });
    client.on("error", () => undefined);
    await client.connect();
    try {
      return {
        count: await countLegacySessions({ source: { redis: client, prefix } }),
        source: `connect-redis keys ${prefix}* at ${new URL(settings.url).host}`,
      };
    } finally {
      client.destroy();
    }
  }
  if (scheme === "postgres" || scheme === "postgresql") {
    if (settings.prefix !== undefined) throw new StoreUrlError("--prefix does not apply to a PostgreSQL store (connect-pg-simple: --table, --schema)");
    const table = settings.table ?? "session";
    const pg = (await import("pg")).default;
    const pool = new pg.Pool({ connectionString: settings.url, max: 1, connectionTimeoutMillis: 5000 });
    try {
      const source = { pool, table, ...(settings.schema ? { schema: settings.schema } : {}) };
      return { count: await countLegacySessions({ source }), source: `connect-pg-simple table ${settings.schema ? `${settings.schema}.` : ""}${table}` };
    } finally {
      await pool.end();
    }
  }
  throw new StoreUrlError(`legacy count reads the old library's store: a redis:// or postgres:// URL (got ${JSON.stringify(redactUrl(settings.url))})`);
}
