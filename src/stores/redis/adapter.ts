// Which adapter a client passed to redisStore() gets: by its library, recognised
// by the shape of its methods, and for node-redis by whether it is a Sentinel client.
import type { AnyClient, RedisCommands } from "./commands.js";
import { IoRedisAdapter } from "./ioredis.js";
import { NodeRedisAdapter } from "./node-redis.js";
import { isNodeRedisSentinel, NodeRedisSentinelAdapter } from "./sentinel.js";

/** Which client library an object comes from, by the shape of its methods. */
export function clientKind(client: unknown): "node-redis" | "ioredis" | null {
  if (!client || typeof client !== "object") return null;
  const c = client as AnyClient;
  if (typeof c.hGetAll === "function" && typeof c.evalSha === "function") return "node-redis";
  if (typeof c.hgetall === "function" && typeof c.evalsha === "function") return "ioredis";
  return null;
}

export function adapterFor(client: unknown): RedisCommands {
  if (clientKind(client) === "ioredis") return new IoRedisAdapter(client);
  return isNodeRedisSentinel(client) ? new NodeRedisSentinelAdapter(client) : new NodeRedisAdapter(client);
}
