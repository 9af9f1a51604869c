// The Lua scripts of the Redis store: each atomic step is one EVALSHA.
//
// Key layout (prefix default "latchkey:"):
//   session  <prefix>{<route>}:s:<hash>      hash: u c l e a v, d:<key> = JSON
//   index    <prefix>{<route>}:u:<userId>    sorted set of session ids, score = expiry (ms)
// The id is "<route>:<hash>". A user's sessions all have route userRoute(userId),
// so a user session, its index and every other session of that user hash to one
// Redis Cluster slot (the {route} hash tag); every script below touches one slot.
//
// Invariant kept by every script: a session's index score equals the
// PEXPIREAT time of its key. An index member scored before Redis's own clock
// therefore names a key Redis has already expired, and pruning it never hides
// a live session from listUser / destroyUser.
import { createHash } from "node:crypto";

export interface Script {
  readonly name: string;
  readonly source: string;
  readonly sha: string;
}

const HELPERS = `
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end
local function session_key(prefix, id)
  return prefix .. '{' .. string.sub(id, 1, 4) .. '}:s:' .. string.sub(id, 6)
end
-- A user session's route is userRoute(user), so its index shares its slot.
local function index_key(prefix, id, user)
  return prefix .. '{' .. string.sub(id, 1, 4) .. '}:u:' .. user
end
-- The index must outlive every member session: extend its expiry, never shorten it.
local function keep_index(idx, until_ms, now)
  local ttl = redis.call('PTTL', idx)
  if ttl == -2 then return end
  if ttl == -1 or (now or now_ms()) + ttl < until_ms then
    redis.call('PEXPIREAT', idx, string.format('%d', until_ms))
  end
end
-- Index entry of a session whose key now expires at expire_at; drops members
-- whose keys Redis already expired.
local function index_session(idx, id, expire_at)
  local now = now_ms()
  redis.call('ZADD', idx, expire_at, id)
  redis.call('ZREMRANGEBYSCORE', idx, '-inf', string.format('(%d', now))
  keep_index(idx, tonumber(expire_at), now)
end
-- HSET / HDEL in chunks: unpack() of thousands of values overflows Lua's stack.
local function call_range(command, key, argv, from, to)
  local i = from
  while i <= to do
    local last = math.min(i + 199, to)
    redis.call(command, key, unpack(argv, i, last))
    i = last + 1
  end
end
`;

function script(name: string, body: string): Script {
  const source = `${HELPERS}\n${body.trim()}\n`;
  return { name, source, sha: createHash("sha1").update(source).digest("hex") };
}

/**
 * Insert only (G1).
 * KEYS: session, [index]. ARGV: expireAt, indexUntil, id, field/value pairs...
 * Returns 1, or 0 when the key exists (nothing written).
 */
export const CREATE = script(
  "create",
  `
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
call_range('HSET', KEYS[1], ARGV, 4, #ARGV)
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
if KEYS[2] then
  redis.call('ZADD', KEYS[2], ARGV[1], ARGV[3])
  keep_index(KEYS[2], tonumber(ARGV[2]))
end
return 1
`,
);

/**
 * Update only (G1), per-key (G2), optional version check.
 * KEYS: session. ARGV: prefix, id, expectVersion|'', lastSeenAt, expiresAt, expireAt,
 * unsetCount, unset fields..., set field/value pairs...
 * Returns {0} gone, {1, version} ok, {2, version} conflict.
 */
export const PATCH = script(
  "patch",
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local v = tonumber(redis.call('HGET', KEYS[1], 'v'))
if ARGV[3] ~= '' and tonumber(ARGV[3]) ~= v then return {2, v} end
local user = redis.call('HGET', KEYS[1], 'u')
local unset = tonumber(ARGV[7])
call_range('HDEL', KEYS[1], ARGV, 8, 7 + unset)
redis.call('HSET', KEYS[1], 'l', ARGV[4], 'e', ARGV[5])
call_range('HSET', KEYS[1], ARGV, 8 + unset, #ARGV)
v = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('PEXPIREAT', KEYS[1], ARGV[6])
if user then index_session(index_key(ARGV[1], ARGV[2], user), ARGV[2], ARGV[6]) end
return {1, v}
`,
);

/**
 * Update only (G1). KEYS: session. ARGV: prefix, id, lastSeenAt, expiresAt, expireAt.
 * Returns 1, or 0 when gone.
 */
export const TOUCH = script(
  "touch",
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local user = redis.call('HGET', KEYS[1], 'u')
redis.call('HSET', KEYS[1], 'l', ARGV[3], 'e', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
if user then index_session(index_key(ARGV[1], ARGV[2], user), ARGV[2], ARGV[5]) end
return 1
`,
);

/**
 * Rotation when the old and the new id share a route (so one slot).
 * KEYS: old session, new session, [new index]. ARGV: prefix, oldId, newId,
 * expireAt, indexUntil, unsetCount, unset fields..., set field/value pairs
 * (metadata and d: fields). Returns the new hash's fields, nil when the old
 * session is gone, -1 when the new id exists (nothing changed).
 */
export const ROTATE = script(
  "rotate",
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
local old_user = redis.call('HGET', KEYS[1], 'u')
redis.call('RENAME', KEYS[1], KEYS[2])
if old_user then redis.call('ZREM', index_key(ARGV[1], ARGV[2], old_user), ARGV[2]) end
local unset = tonumber(ARGV[6])
redis.call('HDEL', KEYS[2], 'u')
call_range('HDEL', KEYS[2], ARGV, 7, 6 + unset)
call_range('HSET', KEYS[2], ARGV, 7 + unset, #ARGV)
redis.call('HINCRBY', KEYS[2], 'v', 1)
local fields = redis.call('HGETALL', KEYS[2])
redis.call('PEXPIREAT', KEYS[2], ARGV[4])
if KEYS[3] then
  redis.call('ZADD', KEYS[3], ARGV[4], ARGV[3])
  keep_index(KEYS[3], tonumber(ARGV[5]))
end
return fields
`,
);

/**
 * First step of a rotation across routes (anonymous → signed in, or to another
 * user): read and delete the old session, and drop it from its index.
 * KEYS: session. ARGV: prefix, id. Returns its fields, or nil when gone.
 */
export const TAKE = script(
  "take",
  `
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return false end
local user = redis.call('HGET', KEYS[1], 'u')
redis.call('DEL', KEYS[1])
if user then redis.call('ZREM', index_key(ARGV[1], ARGV[2], user), ARGV[2]) end
return fields
`,
);

/** KEYS: session. ARGV: prefix, id. Returns 1 if it existed. */
export const DESTROY = script(
  "destroy",
  `
local user = redis.call('HGET', KEYS[1], 'u')
local n = redis.call('DEL', KEYS[1])
if user then redis.call('ZREM', index_key(ARGV[1], ARGV[2], user), ARGV[2]) end
return n
`,
);

/**
 * Log out everywhere, atomically: every session in the user's index and the
 * index itself. KEYS: index. ARGV: prefix. Returns how many sessions existed.
 */
export const DESTROY_USER = script(
  "destroyUser",
  `
local ids = redis.call('ZRANGE', KEYS[1], 0, -1)
local n = 0
local keys = {}
for i, id in ipairs(ids) do
  keys[#keys + 1] = session_key(ARGV[1], id)
  if #keys == 100 or i == #ids then
    n = n + redis.call('DEL', unpack(keys))
    keys = {}
  end
end
redis.call('DEL', KEYS[1])
return n
`,
);

/**
 * Drops index members whose sessions expired before min(now, Redis's clock):
 * Redis deleted those keys itself (PEXPIREAT). KEYS: index. ARGV: now.
 * Returns how many were dropped.
 */
export const PRUNE = script(
  "prune",
  `
local now = math.min(tonumber(ARGV[1]), now_ms())
return redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('(%d', now))
`,
);
