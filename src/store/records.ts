// Helpers the built-in stores share for their records: a change set merged in JavaScript, the device
// and meta fields as text, the record a rotation writes, and a session limit counted in JavaScript.
// Not part of the contract (contract.ts): a store may do all of this its own way.
import type { ChangeSet, DeviceInfo, EndedSession, JsonValue, RotateInput, SessionLimit, SessionMeta, SessionRecord } from "./contract.js";

/** Applies a change set to a data object, returning a new object. Shared by stores that merge in JS. */
export function applyChange(data: Record<string, JsonValue>, change: ChangeSet): Record<string, JsonValue> {
  const next: Record<string, JsonValue> = { ...data };
  for (const key of change.unset) delete next[key];
  for (const [key, value] of Object.entries(change.set)) next[key] = value;
  return next;
}

/**
 * A device as one text column or field (JSON), or null when nothing was recorded.
 * @example
 * encodeDevice({ userAgent: "curl/8.5.0" }); // '{"userAgent":"curl/8.5.0"}'
 */
export function encodeDevice(device: DeviceInfo | undefined): string | null {
  if (!device || (device.userAgent === undefined && device.ip === undefined)) return null;
  return JSON.stringify(device);
}

/**
 * What a store reports of a session it deleted, from the device text it kept
 * (see {@link encodeDevice}): the fields of the `ended` event.
 * @example
 * return rows.map((row) => endedSession(row.id, row.user_id, row.device));
 */
export function endedSession(id: string, userId: string | null, deviceText: string | null | undefined): EndedSession {
  const session: EndedSession = { id, userId };
  const device = decodeDevice(deviceText);
  if (device) session.device = device;
  return session;
}

/**
 * The record a rotation writes under `input.newId`: the input's user, times
 * and meta fields, the merged `data`, the version after `previousVersion`.
 * The device is left to the store (how it copies or checks it is its own).
 * @example
 * const record = rotatedRecord(input, applyChange(old.data, input.change), old.version);
 */
export function rotatedRecord(input: RotateInput, data: Record<string, JsonValue>, previousVersion: number): SessionRecord {
  return {
    id: input.newId,
    userId: input.userId,
    data,
    createdAt: input.createdAt,
    lastSeenAt: input.lastSeenAt,
    expiresAt: input.expiresAt,
    absoluteExpiresAt: input.absoluteExpiresAt,
    version: previousVersion + 1,
    ...sessionMetaOf(input),
  };
}

/**
 * The inverse of {@link encodeDevice}; unreadable text counts as nothing recorded.
 * @example
 * decodeDevice(row.device); // { userAgent: "curl/8.5.0" } or undefined
 */
export function decodeDevice(text: string | null | undefined): DeviceInfo | undefined {
  if (!text) return undefined;
  try {
    const value = JSON.parse(text) as DeviceInfo;
    const device: DeviceInfo = {};
    if (typeof value.userAgent === "string") device.userAgent = value.userAgent;
    if (typeof value.ip === "string") device.ip = value.ip;
    return device;
  } catch {
    return undefined;
  }
}

/**
 * A record's meta fields as one JSON text column or field, or null when it has none.
 * @example
 * encodeSessionMeta({ persistent: false, authenticatedAt: 1764800000000 }); // '{"persistent":false,"authenticatedAt":1764800000000}'
 */
export function encodeSessionMeta(record: SessionMeta): string | null {
  const meta = sessionMetaOf(record);
  return Object.keys(meta).length === 0 ? null : JSON.stringify(meta);
}

/**
 * Copies the meta fields encoded by {@link encodeSessionMeta} (text, or an object a JSON column returned) onto `record`.
 * Unreadable or mistyped values are left out.
 * @example
 * const record = toRecord(row); applySessionMeta(record, row.meta);
 */
export function applySessionMeta(record: SessionRecord, encoded: string | object | null | undefined): SessionRecord {
  if (!encoded) return record;
  let meta: Record<string, unknown>;
  try {
    meta = (typeof encoded === "string" ? JSON.parse(encoded) : encoded) as Record<string, unknown>;
  } catch {
    return record;
  }
  if (typeof meta.idleTimeout === "number") record.idleTimeout = meta.idleTimeout;
  if (typeof meta.persistent === "boolean") record.persistent = meta.persistent;
  if (typeof meta.authenticatedAt === "number") record.authenticatedAt = meta.authenticatedAt;
  if (typeof meta.impersonator === "string") record.impersonator = meta.impersonator;
  return record;
}

/** The meta fields of a record or rotation input, and nothing else. */
export function sessionMetaOf(source: SessionMeta): SessionMeta {
  const meta: SessionMeta = {};
  if (source.idleTimeout !== undefined) meta.idleTimeout = source.idleTimeout;
  if (source.persistent !== undefined) meta.persistent = source.persistent;
  if (source.authenticatedAt !== undefined) meta.authenticatedAt = source.authenticatedAt;
  if (source.impersonator !== undefined) meta.impersonator = source.impersonator;
  return meta;
}

/**
 * For stores that enforce a {@link SessionLimit} in JavaScript (inside their
 * atomic step): given the user's sessions, the ids the limit ends (least
 * recently seen first), or "refused". Counts only the user's own sessions
 * live at `limit.now`, never `exceptId` (the session being rotated).
 * @example
 * const ended = sessionsOverLimit(await rowsOfUser(userId), userId, input.limit, oldId);
 * if (ended === "refused") return { status: "limit" };
 */
export function sessionsOverLimit(
  sessions: Iterable<Pick<SessionRecord, "id" | "userId" | "lastSeenAt" | "expiresAt" | "absoluteExpiresAt" | "impersonator">>,
  userId: string,
  limit: SessionLimit,
  exceptId?: string,
): string[] | "refused" {
  const live = [...sessions].filter(
    (s) => s.id !== exceptId && s.userId === userId && s.impersonator === undefined && s.expiresAt > limit.now && s.absoluteExpiresAt > limit.now,
  );
  if (live.length < limit.max) return [];
  if (limit.onLimit === "refuse") return "refused";
  return live
    .sort((a, b) => a.lastSeenAt - b.lastSeenAt)
    .slice(0, live.length - limit.max + 1)
    .map((s) => s.id);
}
