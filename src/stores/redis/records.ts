// How a session is laid out in Redis: the hash fields of a record (metadata `u c l e a v`, the meta
// field `x`, the impersonator `i`, one `d:<key>` field per top-level data key), the arguments the Lua
// scripts take, and their replies turned back into records and results.
import {
  applySessionMeta,
  encodeSessionMeta,
  type ChangeSet,
  type JsonValue,
  type SessionLimit,
  type SessionMeta,
  type SessionRecord,
  type TooLargeResult,
} from "../../store/index.js";

/** PEXPIREAT wants whole milliseconds: never expire before the record does. */
export function expiryMs(ms: number): string {
  return String(Math.ceil(ms));
}

export function json(value: JsonValue): string {
  return JSON.stringify(value) ?? "null";
}

/**
 * Fields c l e a, u (signed in only), x (the meta fields as JSON) and i (the
 * impersonator, which scripts read to find the index) as field/value pairs; v
 * is written by the caller.
 */
export function encodeMeta(record: Pick<SessionRecord, "userId" | "createdAt" | "lastSeenAt" | "expiresAt" | "absoluteExpiresAt"> & SessionMeta): string[] {
  const pairs = ["c", String(record.createdAt), "l", String(record.lastSeenAt), "e", String(record.expiresAt), "a", String(record.absoluteExpiresAt)];
  if (record.userId !== null) pairs.push("u", record.userId);
  const meta = encodeSessionMeta(record);
  if (meta !== null) pairs.push("x", meta);
  if (record.impersonator !== undefined) pairs.push("i", record.impersonator);
  return pairs;
}

/** The scripts' limit arguments: max ('' for none), mode, now, user. */
export function limitArgs(limit: SessionLimit | undefined, userId: string | null): string[] {
  return limit && userId !== null ? [String(limit.max), limit.onLimit, String(Math.floor(limit.now)), userId] : ["", "", "", ""];
}

export function encodeData(data: Record<string, JsonValue>): string[] {
  const pairs: string[] = [];
  for (const [key, value] of Object.entries(data)) pairs.push(`d:${key}`, json(value));
  return pairs;
}

export function splitChange(change: ChangeSet): { unset: string[]; set: string[] } {
  return { unset: change.unset.map((key) => `d:${key}`), set: encodeData(change.set) };
}

/** The scripts' maxDataBytes argument: '' for no limit. */
export function limitArg(maxDataBytes: number | undefined): string {
  return maxDataBytes === undefined ? "" : String(maxDataBytes);
}

/** ROTATE and TAKE answer {-2, bytes} when the merged data is over the limit (a hash's fields start with a name, never a number). */
export function tooLargeReply(reply: unknown): TooLargeResult | null {
  if (!Array.isArray(reply) || reply.length !== 2 || Number(reply[0]) !== -2 || typeof reply[0] === "string") return null;
  return { status: "too-large", bytes: Number(reply[1]) };
}

/** unsetCount, unset fields..., set field/value pairs... */
export function encodeChange(change: ChangeSet): string[] {
  const { unset, set } = splitChange(change);
  return [String(unset.length), ...unset, ...set];
}

export function decodeRecord(id: string, fields: Record<string, string>): SessionRecord | null {
  const { c, l, e, a, v } = fields;
  if (c === undefined || l === undefined || e === undefined || a === undefined || v === undefined) return null;
  const data: Record<string, JsonValue> = {};
  for (const [field, value] of Object.entries(fields)) {
    if (!field.startsWith("d:")) continue;
    const key = field.slice(2);
    const parsed = JSON.parse(value) as JsonValue;
    if (key === "__proto__") Object.defineProperty(data, key, { value: parsed, enumerable: true, writable: true, configurable: true });
    else data[key] = parsed;
  }
  return applySessionMeta(
    {
      id,
      userId: fields.u ?? null,
      data,
      createdAt: Number(c),
      lastSeenAt: Number(l),
      expiresAt: Number(e),
      absoluteExpiresAt: Number(a),
      version: Number(v),
    },
    fields.x,
  );
}
