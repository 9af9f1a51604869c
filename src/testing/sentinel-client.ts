// A Sentinel-aware client of either library, configured as the README tells
// apps to (commands fail fast while there is no primary: the request gets a 503).
import { Redis } from "ioredis";
import { createSentinel } from "redis";

export interface SentinelSpec {
  library: "node-redis" | "ioredis";
  name: string;
  sentinels: Array<{ host: string; port: number }>;
  prefix: string;
}

export async function sentinelClient(spec: SentinelSpec): Promise<object> {
  if (spec.library === "ioredis") {
    const client = new Redis({
      sentinels: spec.sentinels,
      name: spec.name,
      failoverDetector: true,
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      lazyConnect: true,
    });
    client.on("error", () => undefined);
    await client.connect();
    return client;
  }
  const sentinel = createSentinel({ name: spec.name, sentinelRootNodes: spec.sentinels, nodeClientOptions: { disableOfflineQueue: true } });
  sentinel.on("error", () => undefined);
  await sentinel.connect();
  return sentinel;
}

export function sentinelSpec(spec: SentinelSpec): string {
  return `redis-sentinel:${JSON.stringify(spec)}`;
}
