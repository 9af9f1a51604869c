// The Lua scripts of the Redis store: each atomic step is one EVALSHA.
//
// Key layout (prefix default "latchkey:"):
//   session  <prefix>{<route>}:s:<hash>      hash: u c l e a v, x (meta JSON), i (impersonator), d:<key> = JSON
//   device   <prefix>{<route>}:m:<hash>      string: the device JSON recorded at login, expiring with its session
//   index    <prefix>{<route>}:u:<userId>    sorted set of session ids, score = expiry (ms)
// The device lives beside the hash, not in it, so the authenticated read (one HGETALL) never fetches it.
// The id is "<route>:<hash>". A user's sessions all have route userRoute(userId),
// so a user session, its index and every other session of that user hash to one
// Redis Cluster slot (the {route} hash tag); every script below touches one slot.
//
// An impersonation (field i) has its impersonator's route and is indexed in the impersonator's
// index (so revokeUser(impersonator) ends it with its own sessions); the viewed user's index holds its id
// too, as a member of another route that scripts never touch (the store ends it separately).
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
local function device_key(prefix, id)
  return prefix .. '{' .. string.sub(id, 1, 4) .. '}:m:' .. string.sub(id, 6)
end
-- A user session's route is userRoute(user), so its index shares its slot.
local function index_key(prefix, id, user)
  return prefix .. '{' .. string.sub(id, 1, 4) .. '}:u:' .. user
end
-- The user whose index lists a session: its impersonator, else its user (false for anonymous).
local function index_owner(key)
  local f = redis.call('HMGET', key, 'i', 'u')
  return f[1] or f[2]
end
-- maxSessionsPerUser: the user's own sessions live at now in index idx (not impersonations, not
-- members of another route, not keep). Ends the least recently seen so that max - 1 remain and
-- returns their ids, or returns false when mode is 'refuse' (then nothing was written).
local function enforce_limit(idx, prefix, user, max, mode, now, keep)
  local route = string.match(idx, '{([^}]*)}')
  local live = {}
  for _, id in ipairs(redis.call('ZRANGEBYSCORE', idx, '(' .. now, '+inf')) do
    if id ~= keep and string.sub(id, 1, 4) == route then
      local f = redis.call('HMGET', session_key(prefix, id), 'u', 'i', 'l', 'a')
      if f[1] == user and not f[2] and f[3] and tonumber(f[4]) > tonumber(now) then live[#live + 1] = { id, tonumber(f[3]) } end
    end
  end
  local ended = {}
  max = tonumber(max)
  if #live < max then return ended end
  if mode == 'refuse' then return false end
  table.sort(live, function(x, y) return x[2] < y[2] end)
  for i = 1, #live - max + 1 do
    local id = live[i][1]
    redis.call('DEL', session_key(prefix, id), device_key(prefix, id))
    redis.call('ZREM', idx, id)
    ended[#ended + 1] = id
  end
  return ended
end
-- The index must outlive every member session: extend its expiry, never shorten it.
local function keep_index(idx, until_ms, now)
  local ttl = redis.call('PTTL', idx)
  if ttl == -2 then return end
  if ttl == -1 or (now or now_ms()) + ttl < until_ms then
    redis.call('PEXPIREAT', idx, string.format('%d', until_ms))
  end
end
-- Index entry of a session whose key now expires at expire_at. Members whose
-- keys Redis already expired stay until a sweep takes them (PRUNE): each is
-- an expiry that must be reported once.
local function index_session(idx, id, expire_at)
  redis.call('ZADD', idx, expire_at, id)
  keep_index(idx, tonumber(expire_at))
end
-- Scripts that change or end sessions take ARGV[1] = feed channel ('' for
-- none) and ARGV[2] = the notice, and publish it first, on every path: the
-- notice and the write are one atomic step (no crash can separate them).
local function notify()
  if ARGV[1] ~= '' then redis.call('PUBLISH', ARGV[1], ARGV[2]) end
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
-- maxDataBytes: the bytes of the session data as JSON.stringify writes it
-- ('{' .. '"key":value' joined by ',' .. '}'), from the stored hash with a
-- change applied: argv[unset_from..unset_to] are fields to delete, then
-- field/value pairs to set up to set_to (fields other than d:<key> are not data).
-- Values are kept as their JSON text, so #value is their UTF-8 bytes; a key's
-- JSON is the key in quotes, with a backslash before each double quote and backslash.
local function entry_bytes(field, value)
  local _, escapes = string.gsub(field, '["\\\\]', '')
  return #field - 2 + escapes + 3 + #value
end
local function merged_bytes(key, argv, unset_from, unset_to, set_to)
  local changed = {}
  for i = unset_from, unset_to do changed[argv[i]] = true end
  for i = unset_to + 1, set_to, 2 do changed[argv[i]] = true end
  local total, count = 0, 0
  local fields = redis.call('HGETALL', key)
  for i = 1, #fields, 2 do
    local field = fields[i]
    if string.sub(field, 1, 2) == 'd:' and not changed[field] then
      total = total + entry_bytes(field, fields[i + 1])
      count = count + 1
    end
  end
  for i = unset_to + 1, set_to, 2 do
    if string.sub(argv[i], 1, 2) == 'd:' then
      total = total + entry_bytes(argv[i], argv[i + 1])
      count = count + 1
    end
  end
  if count > 1 then total = total + count - 1 end
  return total + 2
end
-- The merged size when a limit is given (limit '' for none) and over it, else nil.
local function over_limit(key, limit, argv, unset_from, unset_to, set_to)
  if limit == '' then return nil end
  local bytes = merged_bytes(key, argv, unset_from, unset_to, set_to)
  if bytes > tonumber(limit) then return bytes end
  return nil
end
`;

/** A script: the shared helpers, then `body`; its SHA-1 for EVALSHA. */
export function script(name: string, body: string): Script {
  const source = `${HELPERS}\n${body.trim()}\n`;
  return { name, source, sha: createHash("sha1").update(source).digest("hex") };
}

/**
 * Insert only (G1).
 * KEYS: session, device, [index]. ARGV: expireAt, indexUntil, id, device JSON ('' for none),
 * channel, notice ('' for none), prefix, limit max ('' for none), limit mode, limit now, user, field/value pairs...
 * Returns {1, ids the limit ended...}, {0} when the key exists, {2} when the limit refused (nothing written either way).
 */
export const CREATE = script(
  "create",
  `
if redis.call('EXISTS', KEYS[1]) == 1 then return {0} end
if ARGV[5] ~= '' then redis.call('PUBLISH', ARGV[5], ARGV[6]) end
local ended = {}
if ARGV[8] ~= '' and KEYS[3] then
  ended = enforce_limit(KEYS[3], ARGV[7], ARGV[11], ARGV[8], ARGV[9], ARGV[10], '')
  if not ended then return {2} end
end
call_range('HSET', KEYS[1], ARGV, 12, #ARGV)
redis.call('PEXPIREAT', KEYS[1], ARGV[1])
if ARGV[4] ~= '' then
  redis.call('SET', KEYS[2], ARGV[4])
  redis.call('PEXPIREAT', KEYS[2], ARGV[1])
else
  redis.call('DEL', KEYS[2])
end
if KEYS[3] then
  redis.call('ZADD', KEYS[3], ARGV[1], ARGV[3])
  keep_index(KEYS[3], tonumber(ARGV[2]))
end
table.insert(ended, 1, 1)
return ended
`,
);

/**
 * Update only (G1), per-key (G2), optional version check, optional size limit.
 * KEYS: session, device. ARGV: channel, notice, prefix, id, expectVersion|'', lastSeenAt,
 * expiresAt, expireAt, maxDataBytes|'', unsetCount, unset fields..., set field/value pairs...
 * Returns {0} gone, {1, version} ok, {2, version} conflict, {3, bytes} too large (nothing written).
 */
export const PATCH = script(
  "patch",
  `
notify()
if redis.call('EXISTS', KEYS[1]) == 0 then return {0} end
local v = tonumber(redis.call('HGET', KEYS[1], 'v'))
if ARGV[5] ~= '' and tonumber(ARGV[5]) ~= v then return {2, v} end
local unset = tonumber(ARGV[10])
local bytes = over_limit(KEYS[1], ARGV[9], ARGV, 11, 10 + unset, #ARGV)
if bytes then return {3, bytes} end
local user = index_owner(KEYS[1])
call_range('HDEL', KEYS[1], ARGV, 11, 10 + unset)
redis.call('HSET', KEYS[1], 'l', ARGV[6], 'e', ARGV[7])
call_range('HSET', KEYS[1], ARGV, 11 + unset, #ARGV)
v = redis.call('HINCRBY', KEYS[1], 'v', 1)
redis.call('PEXPIREAT', KEYS[1], ARGV[8])
redis.call('PEXPIREAT', KEYS[2], ARGV[8])
if user then index_session(index_key(ARGV[3], ARGV[4], user), ARGV[4], ARGV[8]) end
return {1, v}
`,
);

/**
 * Update only (G1). KEYS: session, device. ARGV: prefix, id, lastSeenAt, expiresAt, expireAt.
 * Returns 1, or 0 when gone.
 */
export const TOUCH = script(
  "touch",
  `
if redis.call('EXISTS', KEYS[1]) == 0 then return 0 end
local user = index_owner(KEYS[1])
redis.call('HSET', KEYS[1], 'l', ARGV[3], 'e', ARGV[4])
redis.call('PEXPIREAT', KEYS[1], ARGV[5])
redis.call('PEXPIREAT', KEYS[2], ARGV[5])
if user then index_session(index_key(ARGV[1], ARGV[2], user), ARGV[2], ARGV[5]) end
return 1
`,
);

/**
 * Rotation when the old and the new id share a route (so one slot).
 * KEYS: old session, new session, old device, new device, [new index].
 * ARGV: channel, notice, prefix, oldId, newId, expireAt, indexUntil, device
 * JSON ('' for none), maxDataBytes|'', limit max ('' for none), limit mode, limit now,
 * user, unsetCount, unset fields..., set field/value pairs (metadata and d: fields).
 * Returns the new hash's fields (plus '!ended' = the ids a limit ended,
 * space-separated), nil when the old session is gone, -1 when the new id
 * exists, {-2, bytes} when the merged data is over maxDataBytes, -2 when the
 * limit refused (nothing changed in any of these cases).
 */
export const ROTATE = script(
  "rotate",
  `
if redis.call('EXISTS', KEYS[2]) == 1 then return -1 end
notify()
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local unset = tonumber(ARGV[14])
local bytes = over_limit(KEYS[1], ARGV[9], ARGV, 15, 14 + unset, #ARGV)
if bytes then return {-2, bytes} end
local ended = {}
if ARGV[10] ~= '' and KEYS[5] then
  ended = enforce_limit(KEYS[5], ARGV[3], ARGV[13], ARGV[10], ARGV[11], ARGV[12], ARGV[4])
  if not ended then return -2 end
end
local old_user = index_owner(KEYS[1])
redis.call('RENAME', KEYS[1], KEYS[2])
if old_user then redis.call('ZREM', index_key(ARGV[3], ARGV[4], old_user), ARGV[4]) end
redis.call('HDEL', KEYS[2], 'u', 'x', 'i')
call_range('HDEL', KEYS[2], ARGV, 15, 14 + unset)
call_range('HSET', KEYS[2], ARGV, 15 + unset, #ARGV)
redis.call('HINCRBY', KEYS[2], 'v', 1)
local fields = redis.call('HGETALL', KEYS[2])
fields[#fields + 1] = '!ended'
fields[#fields + 1] = table.concat(ended, ' ')
redis.call('PEXPIREAT', KEYS[2], ARGV[6])
redis.call('DEL', KEYS[3], KEYS[4])
if ARGV[8] ~= '' then
  redis.call('SET', KEYS[4], ARGV[8])
  redis.call('PEXPIREAT', KEYS[4], ARGV[6])
end
if KEYS[5] then
  redis.call('ZADD', KEYS[5], ARGV[6], ARGV[5])
  keep_index(KEYS[5], tonumber(ARGV[7]))
end
return fields
`,
);

/**
 * First step of a rotation across routes (anonymous → signed in, or to another
 * user): read and delete the old session, and drop it from its index — unless
 * the data with the rotation's change would be over maxDataBytes.
 * KEYS: session, device. ARGV: channel, notice, prefix, id, maxDataBytes|'',
 * unsetCount, unset fields..., set field/value pairs (the change, to measure it).
 * Returns its fields, nil when gone, {-2, bytes} when too large (nothing deleted).
 */
export const TAKE = script(
  "take",
  `
notify()
if redis.call('EXISTS', KEYS[1]) == 0 then return false end
local unset = tonumber(ARGV[6])
local bytes = over_limit(KEYS[1], ARGV[5], ARGV, 7, 6 + unset, #ARGV)
if bytes then return {-2, bytes} end
local fields = redis.call('HGETALL', KEYS[1])
if #fields == 0 then return false end
local user = index_owner(KEYS[1])
redis.call('DEL', KEYS[1], KEYS[2])
if user then redis.call('ZREM', index_key(ARGV[3], ARGV[4], user), ARGV[4]) end
return fields
`,
);

/**
 * KEYS: session, device. ARGV: channel, notice, prefix, id.
 * Returns {1, user ('' for none), device JSON ('' for none)} if it existed, else {0}.
 */
export const DESTROY = script(
  "destroy",
  `
notify()
local user = index_owner(KEYS[1])
local n = redis.call('DEL', KEYS[1])
local device = redis.call('GET', KEYS[2]) or ''
redis.call('DEL', KEYS[2])
if user then redis.call('ZREM', index_key(ARGV[3], ARGV[4], user), ARGV[4]) end
if n == 0 then return {0} end
return {1, user or '', device}
`,
);

/** KEYS: leases. ARGV: inbox, ttlMs. Also drops leases that ended over a minute ago. */
export const RENEW_LEASE = script(
  "renewLease",
  `
local now = now_ms()
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - 60000)
redis.call('PEXPIRE', KEYS[1], 600000)
return 1
`,
);

/** KEYS: leases. Returns inbox, ms left, inbox, ms left... for leases still running by Redis's clock. */
export const LIVE_LEASES = script(
  "liveLeases",
  `
local now = now_ms()
local live = redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. now, '+inf', 'WITHSCORES')
for i = 2, #live, 2 do live[i] = tostring(tonumber(live[i]) - now) end
return live
`,
);

/** KEYS: leases. ARGV: inbox. */
export const DROP_LEASE = script(
  "dropLease",
  `
return redis.call('ZREM', KEYS[1], ARGV[1])
`,
);
