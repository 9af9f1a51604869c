// Helpers shared by the SQL stores (SQLite, PostgreSQL); not part of the store contract.
import type { SessionRecord } from "./contract.js";
import { encodeDevice, encodeSessionMeta } from "./records.js";

/**
 * A record as the row SQL stores write, in column order: id, user_id, data
 * (JSON text), created_at, last_seen_at, expires_at, absolute_expires_at,
 * version, device (JSON text or null), meta (JSON text or null, see encodeSessionMeta).
 */
export function recordColumns(record: SessionRecord): [string, string | null, string, number, number, number, number, number, string | null, string | null] {
  return [
    record.id,
    record.userId,
    JSON.stringify(record.data),
    record.createdAt,
    record.lastSeenAt,
    record.expiresAt,
    record.absoluteExpiresAt,
    record.version,
    encodeDevice(record.device),
    encodeSessionMeta(record),
  ];
}
