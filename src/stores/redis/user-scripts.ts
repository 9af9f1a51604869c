// The Lua scripts of the Redis store that work on a user's index: log out everywhere (DESTROY_USER, in
// steps), an impersonation's entry in the index of the user it acts as (REFER), the devices of a listing
// (DEVICES), and pruning ended members (PRUNE). Key layout and invariants: scripts.ts.
import { endedSession, type EndedSession } from "../../store/index.js";
import { script } from "./scripts.js";

/**
 * How many sessions one DESTROY_USER step ends at most. A step costs Redis ~8–15 µs per session
 * (1–3 ms at 128), and other clients' commands wait for at most one step: measured with 10^4
 * sessions (docs/capacity.md), 256 per step held other users' reads at ~3× their idle p99, 128 at 1.9–2.3×.
 */
export const DESTROY_USER_STEP = 128;

/**
 * Log out everywhere, one bounded step: up to ARGV[6] sessions of the user's
 * index are deleted and taken out of it; the caller repeats until a step says
 * nothing is left, so other clients' commands run between steps. Given an id
 * to keep (log out other devices), every session but that one, which stays in
 * the index. Members of another route (impersonations of this user, kept in
 * their impersonator's slot) cannot be ended here: a step returns those it
 * meets, the caller ends them, and passes them to the next step, which takes
 * them out of the index first (so a crash in between leaves them listed for
 * the next revocation). A step that met any is never the last, so the last
 * step's notice follows every impersonation's end.
 * KEYS: index. ARGV: channel, notice, step notice, prefix, keep id ('' for none), step size,
 * ended references... Publishes the step notice when more is left after this step, else the
 * notice: no step is left unnoticed, and only the last one's notice asks strict acknowledgements.
 * Returns more (1 when more is left, else 0), the count of references met, those references,
 * then id, device JSON ('' for none), state, ... per session taken from the index: state 1 when
 * this call deleted the session, 0 when Redis had already expired it (no sweep will see it
 * now: it is reported here as expired).
 */
export const DESTROY_USER = script(
  "destroyUser",
  `
if #ARGV > 6 then call_range('ZREM', KEYS[1], ARGV, 7, #ARGV) end
local keep = ARGV[5]
local size = tonumber(ARGV[6])
local route = string.match(KEYS[1], '{([^}]*)}')
-- Reads the index a page at a time until it has a step's sessions and knows whether more are left.
local take, refs = {}, {}
local more = false
local start = 0
while not more do
  local ids = redis.call('ZRANGE', KEYS[1], start, start + size)
  for _, id in ipairs(ids) do
    if id == keep then
      -- stays, and is read past again by the next step: one member
    elseif string.sub(id, 1, 4) ~= route then
      if #refs < size then refs[#refs + 1] = id else more = true end
    elseif #take < size then
      take[#take + 1] = id
    else
      more = true
    end
    if more then break end
  end
  if #ids <= size then break end
  start = start + size + 1
end
if #refs > 0 then more = true end
if ARGV[1] ~= '' then redis.call('PUBLISH', ARGV[1], more and ARGV[3] or ARGV[2]) end
local out = { more and 1 or 0, #refs }
for _, id in ipairs(refs) do out[#out + 1] = id end
for _, id in ipairs(take) do
  local existed = redis.call('DEL', session_key(ARGV[4], id))
  out[#out + 1] = id
  out[#out + 1] = redis.call('GET', device_key(ARGV[4], id)) or ''
  out[#out + 1] = existed
  redis.call('DEL', device_key(ARGV[4], id))
end
if #take > 0 then call_range('ZREM', KEYS[1], take, 1, #take) end
if not more and keep == '' then redis.call('DEL', KEYS[1]) end
return out
`,
);

/** One DESTROY_USER step's reply, read. */
export interface DestroyUserStep {
  /** More is left: another step must follow. */
  more: boolean;
  /** Impersonations of the user (other routes) the step met: the caller ends them. */
  references: string[];
  /** The sessions the step took from the index (expired: Redis had already deleted it). */
  ended: EndedSession[];
}

/** Reads a DESTROY_USER reply (see its layout above) for `userId`. */
export function readDestroyUserStep(reply: unknown[], userId: string): DestroyUserStep {
  const met = Number(reply[1]);
  const ended: EndedSession[] = [];
  for (let i = 2 + met; i + 2 < reply.length; i += 3) {
    const session = endedSession(String(reply[i]), userId, String(reply[i + 1] ?? ""));
    if (Number(reply[i + 2]) !== 1) session.expired = true;
    ended.push(session);
  }
  return { more: Number(reply[0]) === 1, references: reply.slice(2, 2 + met).map(String), ended };
}

/**
 * An impersonation's id in the index of the user it views as (another route, so
 * another script): listUser and destroyUser of that user find it there. Scored by
 * the session's absolute expiry (its latest possible end), so pruning never drops
 * it early; a member whose session ended is skipped by both.
 * KEYS: index. ARGV: id, until. Returns 1.
 */
export const REFER = script(
  "refer",
  `
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1])
keep_index(KEYS[1], tonumber(ARGV[2]))
return 1
`,
);

/** The device of each session. KEYS: device keys (one user's: one slot). Returns each one's JSON, '' when none. */
export const DEVICES = script(
  "devices",
  `
local out = {}
for i, key in ipairs(KEYS) do out[i] = redis.call('GET', key) or '' end
return out
`,
);

/**
 * Takes the index members whose sessions expired before min(now, Redis's
 * clock): Redis deleted those keys itself (PEXPIREAT). ZREM makes each one
 * reported by exactly one sweep, whichever process runs it. KEYS: index.
 * ARGV: now. Returns {members left, id, id, ...} of those taken.
 */
export const PRUNE = script(
  "prune",
  `
local now = math.min(tonumber(ARGV[1]), now_ms())
local bound = string.format('(%d', now)
local ids = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', bound)
if #ids > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', bound) end
local out = {redis.call('ZCARD', KEYS[1])}
for i, id in ipairs(ids) do out[i + 1] = id end
return out
`,
);

// The feed's leases: one sorted set, members = process inboxes, scores = when
// each lease ends by Redis's clock (TIME), never a client's.
