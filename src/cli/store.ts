// The CLI's store, from a URL: sqlite:<path>, redis://…, rediss://…, postgres://… (postgresql://…).
import type { SessionStore } from "../store/index.js";
import { redactUrl } from "../store/redact.js";

export interface StoreSettings {
  url: string;
  prefix: string | undefined;
  table: string | undefined;
  schema: string | undefined;
}

/** The store URL or an option does not fit: exit status 2. */
export class StoreUrlError extends Error {}

/**
 * Opens the store `settings.url` names. With `upgradeSchema`, brings its schema up
 * to date instead (PostgreSQL: upgradeSchema(); SQLite: opening the file does it)
 * and resolves to what was upgraded, without a store.
 */
export async function openStore(settings: StoreSettings, options: { upgradeSchema: true }): Promise<{ description: string }>;
export async function openStore(settings: StoreSettings, options: { upgradeSchema: false }): Promise<{ store: SessionStore }>;
export async function openStore(settings: StoreSettings, options: { upgradeSchema: boolean }): Promise<{ store?: SessionStore; description?: string }> {
  const { url } = settings;
  const scheme = /^([a-z]+):/i.exec(url)?.[1]?.toLowerCase();
  const only = (allowed: string[], kind: string) => {
    for (const name of ["prefix", "table", "schema"] as const) {
      if (settings[name] !== undefined && !allowed.includes(name)) throw new StoreUrlError(`--${name} does not apply to a ${kind} store`);
    }
  };
  switch (scheme) {
    case "sqlite": {
      only(["table"], "SQLite");
      const path = url.slice("sqlite:".length).replace(/^\/\/(?=\/)/, "");
      if (path === "" || path === ":memory:")
        throw new StoreUrlError(`a SQLite store URL names a file, e.g. sqlite:./sessions.db (got ${JSON.stringify(url)})`);
      const { sqliteStore } = await import("../stores/sqlite/index.js");
      const store = sqliteStore({ path, ...(settings.table ? { table: settings.table } : {}) });
      if (!options.upgradeSchema) return { store };
      await store.close(); // opening created the table and added any missing column
      return { description: `SQLite table ${settings.table ?? "latchkey_sessions"} in ${path}` };
    }
    case "redis":
    case "rediss": {
      only(["prefix"], "Redis");
      if (options.upgradeSchema) throw new StoreUrlError("Redis has no schema to upgrade: schema upgrade is for PostgreSQL (and SQLite)");
      const { redisStore } = await import("../stores/redis/index.js");
      const store = redisStore({ url, ...(settings.prefix !== undefined ? { prefix: settings.prefix } : {}) });
      try {
        await store.ready();
      } catch (error) {
        await store.close().catch(() => undefined);
        throw error;
      }
      return { store };
    }
    case "postgres":
    case "postgresql": {
      only(["table", "schema"], "PostgreSQL");
      const names = { ...(settings.table ? { table: settings.table } : {}), ...(settings.schema ? { schema: settings.schema } : {}) };
      const { upgradeSchema, postgresStore } = await import("../stores/postgres/index.js");
      if (options.upgradeSchema) {
        await upgradeSchema({ connectionString: url, ...names });
        return { description: `PostgreSQL table ${settings.schema ? `${settings.schema}.` : ""}${settings.table ?? "latchkey_sessions"}` };
      }
      return { store: postgresStore({ connectionString: url, ...names }) };
    }
    default:
      throw new StoreUrlError(
        `--store must be a sqlite:, redis://, rediss:// or postgres:// URL, e.g. sqlite:./sessions.db (got ${JSON.stringify(redactUrl(url))})`,
      );
  }
}
