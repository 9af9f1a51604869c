import type { ClaimReply, LegacySource } from "./source.js";

/** connect-redis's store, read through the app's own node-redis or ioredis client. */
export interface RedisSourceOptions {
  /** A connected node-redis (v4/v5) or ioredis client: the one connect-redis was given. */
  redis: object;
  /** connect-redis's key prefix. Default "sess:". */
  prefix?: string;
  /** Where claims (tombstones) are kept. Default `latchkey-claim:<prefix>`. */
  claimPrefix?: string;
}

// KEYS: old record, claim, sealed token. ARGV: owner, pending ms.
const CLAIM = `
local c = redis.call('GET', KEYS[2])
if c then
  if string.sub(c, 1, 5) == 'done:' then
    redis.call('DEL', KEYS[1])
    return {'done', string.sub(c, 6), redis.call('GET', KEYS[3]) or ''}
  end
  return {'pending'}
end
local rec = redis.call('GET', KEYS[1])
if not rec then return {'unknown'} end
redis.call('SET', KEYS[2], 'pending:' .. ARGV[1], 'PX', ARGV[2])
return {'claimed', rec, tostring(redis.call('PTTL', KEYS[1]))}
`;

// KEYS: old record, claim, sealed token. ARGV: owner, session id, sealed token, grace ms, tombstone ms.
const FINISH = `
if redis.call('GET', KEYS[2]) ~= 'pending:' .. ARGV[1] then return 0 end
redis.call('SET', KEYS[2], 'done:' .. ARGV[2], 'PX', ARGV[5])
if ARGV[3] ~= '' then redis.call('SET', KEYS[3], ARGV[3], 'PX', ARGV[4]) end
redis.call('DEL', KEYS[1])
return 1
`;

// KEYS: claim. ARGV: owner.
const RELEASE = `
if redis.call('GET', KEYS[1]) == 'pending:' .. ARGV[1] then redis.call('DEL', KEYS[1]) end
return 1
`;

type AnyClient = any;

export function isRedisClient(client: unknown): boolean {
  const c = client as AnyClient;
  return !!c && typeof c === "object" && typeof c.eval === "function" && typeof c.scan === "function";
}

/** A Redis source: the claim, finish and release steps are Lua scripts on one server (not Redis Cluster). */
export function redisSource(options: RedisSourceOptions): LegacySource {
  const client = options.redis as AnyClient;
  if (!isRedisClient(client)) {
    throw new TypeError("latchkey: source.redis must be a connected node-redis or ioredis client (the one connect-redis uses)");
  }
  const prefix = options.prefix ?? "sess:";
  if (typeof prefix !== "string" || prefix.length === 0) {
    throw new TypeError('latchkey: source.prefix must be connect-redis\'s non-empty key prefix (default "sess:")');
  }
  const claimPrefix = options.claimPrefix ?? `latchkey-claim:${prefix}`;
  if (typeof claimPrefix !== "string" || claimPrefix.length === 0 || claimPrefix.startsWith(prefix)) {
    throw new TypeError(
      `latchkey: source.claimPrefix must be non-empty and must not start with the session prefix ${JSON.stringify(prefix)} (connect-redis would list claims as sessions)`,
    );
  }
  const ioredis = typeof client.evalsha === "function" && typeof client.hgetall === "function";
  const run = (script: string, keys: string[], args: string[]): Promise<unknown> =>
    ioredis ? client.eval(script, keys.length, ...keys, ...args) : client.eval(script, { keys, arguments: args });
  const keys = (sid: string, claimKey: string) => [prefix + sid, claimPrefix + claimKey, `${claimPrefix}${claimKey}:token`];
  const text = (value: unknown) => (Buffer.isBuffer(value) ? value.toString("utf8") : String(value));

  return {
    name: `connect-redis(${prefix})`,
    async claim(sid, claimKey, owner, pendingMs): Promise<ClaimReply> {
      const reply = (await run(CLAIM, keys(sid, claimKey), [owner, String(pendingMs)])) as unknown[];
      const kind = text(reply[0]);
      if (kind === "claimed") {
        const ttl = Number(text(reply[2]));
        return { kind, record: text(reply[1]), storeExpiresAt: ttl >= 0 ? Date.now() + ttl : null };
      }
      if (kind === "done") {
        const sealed = text(reply[2]);
        return { kind, id: text(reply[1]), sealed: sealed === "" ? null : sealed };
      }
      return { kind: kind === "pending" ? "pending" : "unknown" };
    },
    async finish(sid, claimKey, owner, migrated, graceMs, tombstoneMs) {
      const args = [owner, migrated?.id ?? "", migrated?.sealed ?? "", String(Math.max(1, graceMs)), String(tombstoneMs)];
      return Number(await run(FINISH, keys(sid, claimKey), args)) === 1;
    },
    async release(claimKey, owner) {
      await run(RELEASE, [claimPrefix + claimKey], [owner]);
    },
    async markUserRevoked(userKey, ttlMs) {
      const key = `${claimPrefix}user:${userKey}`;
      await (ioredis ? client.set(key, "revoked", "PX", ttlMs) : client.set(key, "revoked", { PX: ttlMs }));
    },
    async isUserRevoked(userKey) {
      return (await client.exists(`${claimPrefix}user:${userKey}`)) === 1;
    },
    async count() {
      const pattern = `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`;
      let cursor: string | number = "0";
      let total = 0;
      do {
        if (ioredis) {
          const [next, found] = (await client.scan(cursor, "MATCH", pattern, "COUNT", 1000)) as [string, string[]];
          cursor = next;
          total += found.length;
        } else {
          const reply = (await client.scan(cursor, { MATCH: pattern, COUNT: 1000 })) as {
            cursor: string | number;
            keys: string[];
          };
          cursor = reply.cursor;
          total += reply.keys.length;
        }
      } while (String(cursor) !== "0");
      return total;
    },
  };
}
