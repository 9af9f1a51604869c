// Store specs shared by test processes: "memory", "sqlite:<path>", "postgres:<url>|<table>", "redis:<url>|<prefix>",
// "redis-sentinel:<JSON of SentinelSpec>" (a client of either library that finds the primary through Sentinel).
// LATCHKEY_STORE_OPTIONS (JSON) adds options to the Redis store, e.g. {"commandTimeout": 300}.
import type { SessionStore } from "../core/index.js";
import { memoryStore } from "../memory/index.js";
import { postgresStore } from "../postgres/index.js";
import { redisStore } from "../redis/index.js";
import { sentinelClient, type SentinelSpec } from "./sentinel-client.js";
import { sqliteStore } from "../sqlite/index.js";

export async function storeFromSpec(spec: string): Promise<SessionStore> {
  const [kind, ...rest] = spec.split(":");
  const arg = rest.join(":");
  switch (kind) {
    case "memory":
      return memoryStore();
    case "sqlite":
      return sqliteStore({ path: arg });
    case "postgres": {
      // "postgres:<connection string>|<table>" (without "|<table>": the default table)
      const bar = arg.lastIndexOf("|");
      return bar < 0 ? postgresStore({ connectionString: arg }) : postgresStore({ connectionString: arg.slice(0, bar), table: arg.slice(bar + 1) });
    }
    case "redis": {
      // "redis:<url>|<prefix>" (without "|<prefix>": the default prefix)
      const bar = arg.lastIndexOf("|");
      const extra = JSON.parse(process.env.LATCHKEY_STORE_OPTIONS ?? "{}") as Record<string, unknown>;
      const store = bar < 0 ? redisStore({ url: arg, ...extra }) : redisStore({ url: arg.slice(0, bar), prefix: arg.slice(bar + 1), ...extra });
      await store.ready();
      return store;
    }
    case "redis-sentinel": {
      const parsed = JSON.parse(arg) as SentinelSpec;
      const extra = JSON.parse(process.env.LATCHKEY_STORE_OPTIONS ?? "{}") as Record<string, unknown>;
      const store = redisStore({ client: await sentinelClient(parsed), prefix: parsed.prefix, ...extra });
      await store.ready();
      return store;
    }
    default:
      throw new Error(`unknown store spec ${spec}`);
  }
}
