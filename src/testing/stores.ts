// Store specs shared by test processes: "memory", "sqlite:<path>", "postgres:<url>|<table>", "redis:<url>|<prefix>",
// "redis-cluster:<node url>[,<node url>…]|<prefix>" (node-redis createCluster), "ioredis-cluster:<node url>[,…]|<prefix>",
// "redis-sentinel:<JSON of SentinelSpec>" (a client of either library that finds the primary through Sentinel).
// LATCHKEY_STORE_OPTIONS (JSON) adds options to the Redis store, e.g. {"commandTimeout": 300}.
import type { SessionStore } from "../store/index.js";
import { memoryStore } from "../stores/memory/index.js";
import { postgresStore } from "../stores/postgres/index.js";
import { redisStore } from "../stores/redis/index.js";
import { sentinelClient, type SentinelSpec } from "./sentinel-client.js";
import { sqliteStore } from "../stores/sqlite/index.js";

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
    case "redis-cluster":
    case "ioredis-cluster": {
      const bar = arg.lastIndexOf("|");
      const url = bar < 0 ? arg : arg.slice(0, bar);
      const prefix = bar < 0 ? undefined : arg.slice(bar + 1);
      const extra = JSON.parse(process.env.LATCHKEY_STORE_OPTIONS ?? "{}") as Record<string, unknown>;
      const client = kind === "redis-cluster" ? await nodeRedisCluster(url) : await ioredisCluster(url);
      const store = redisStore({ client, ...(prefix === undefined ? {} : { prefix }), ...extra });
      await store.ready();
      const close = store.close.bind(store);
      // The client is the caller's (here: this process's): close it with the store.
      store.close = async () => {
        await close();
        if (kind === "redis-cluster") (client as { destroy(): void }).destroy();
        else (client as { disconnect(): void }).disconnect();
      };
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

async function nodeRedisCluster(urls: string): Promise<object> {
  const { createCluster } = await import("redis");
  const cluster = createCluster({ rootNodes: urls.split(",").map((url) => ({ url })), defaults: { disableOfflineQueue: true } });
  cluster.on("error", () => undefined);
  await cluster.connect();
  return cluster;
}

async function ioredisCluster(urls: string): Promise<object> {
  const { Cluster } = await import("ioredis");
  const nodes = urls.split(",").map((url) => {
    const { hostname, port } = new URL(url);
    return { host: hostname, port: Number(port) };
  });
  const cluster = new Cluster(nodes, { enableOfflineQueue: true, redisOptions: { maxRetriesPerRequest: 1 } });
  cluster.on("error", () => undefined);
  await new Promise<void>((resolve, reject) => {
    cluster.once("ready", resolve);
    cluster.once("error", reject);
  });
  return cluster;
}
