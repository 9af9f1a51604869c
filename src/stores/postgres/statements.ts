// The PostgreSQL store's SQL: every statement, built once per table, and how the rows they
// return become records. The store (index.ts) runs them; each write is one statement.
import { applySessionMeta, decodeDevice, endedSession, type EndedSession, type JsonValue, type SessionRecord } from "../../store/index.js";
import { notifyColumn, withNotice } from "./feed.js";

export interface Row {
  id: string;
  user_id: string | null;
  data: Record<string, JsonValue>;
  /** bigint columns come back from pg as strings. */
  created_at: string;
  last_seen_at: string;
  expires_at: string;
  absolute_expires_at: string;
  version: number;
  /** Selected by listUser and rotate only: the read path never needs it. */
  device?: string | null;
  /** The meta fields (see encodeSessionMeta), or null. */
  meta: Record<string, unknown> | null;
}

/** What a patch statement answers: the new version (null when nothing was written), the locked row's version (null: gone) and the merged size. */
export interface PatchRow {
  version: number | null;
  current: number | null;
  /** bigint: a string from pg. */
  bytes: string | null;
}

export const SWEEP_BATCH = 500;
/**
 * revokeUser deletes a user's sessions this many at a time, in one transaction. 1000 per statement held
 * a core for ~10 ms a batch and other users' reads' p99 at 3–4× idle; 200, with revokeUserYield's waits, near 2×.
 */
export const DESTROY_USER_BATCH = 200;
const COLUMNS = "id, user_id, data, created_at, last_seen_at, expires_at, absolute_expires_at, version, meta";

/**
 * The bytes of the jsonb `expr` as JSON.stringify writes it (see dataBytes), or 0 when it
 * surely fits `max` (or there is no limit). jsonb's text puts a space after every ':' and
 * ','; those are counted off, only when the text alone is over the limit. (Numbers that
 * JavaScript writes with an exponent, 1e21 or 1e-7, jsonb writes out in full: counted so.)
 */
function bytesOver(expr: string, max: string): string {
  const separators = `(SELECT coalesce(sum(CASE jsonb_typeof(v)
      WHEN 'object' THEN greatest(2 * (SELECT count(*) FROM jsonb_object_keys(v)) - 1, 0)
      WHEN 'array' THEN greatest(jsonb_array_length(v) - 1, 0) ELSE 0 END), 0) FROM jsonb_path_query(${expr}, 'strict $.**') AS item(v))`;
  return `CASE WHEN ${max} IS NULL OR octet_length(${expr}::text) <= ${max} THEN 0 ELSE octet_length(${expr}::text) - ${separators} END`;
}

/**
 * Patch: lock the row, measure the merged data, write it if it fits (and the version
 * matches). Parameters: $1 id, $2 unset keys, $3 set (JSON), $4 last seen, $5 expiry,
 * $6 maxDataBytes (null: none), [$7 expected version], then the notice's two.
 */
function patchStatement(table: string, checked: boolean, notify: boolean): string {
  const versionCheck = checked ? " AND sized.version = $7" : "";
  return `WITH cur AS (SELECT version, (data - $2::text[]) || $3::jsonb AS merged FROM ${table} WHERE id = $1 FOR UPDATE),
    sized AS (SELECT version, merged, ${bytesOver("merged", "$6::int")} AS bytes FROM cur),
    w AS (UPDATE ${table} SET data = sized.merged, last_seen_at = $4, expires_at = $5, version = ${table}.version + 1
      FROM sized WHERE ${table}.id = $1 AND ($6::int IS NULL OR sized.bytes <= $6::int)${versionCheck} RETURNING ${table}.version)
    SELECT (SELECT version FROM w) AS version, (SELECT version FROM sized) AS current, (SELECT bytes FROM sized) AS bytes${
      notify ? `, ${notifyColumn(checked ? 8 : 7)}` : ""
    }`;
}

/**
 * Rotate: lock the old row, measure the merged data, and if it fits delete it and insert
 * the new one, in one statement. Parameters: $1 old id, $2 new id, $3 user, $4 unset,
 * $5 set (JSON), $6–$9 times, $10 device, $11 maxDataBytes (null: none), $12 meta (JSON), then the notice's two.
 * One row: the new record, or nulls and `bytes` when nothing moved.
 */
function rotateStatement(table: string, notify: boolean): string {
  return `WITH cur AS (SELECT (data - $4::text[]) || $5::jsonb AS merged FROM ${table} WHERE id = $1 FOR UPDATE),
    sized AS (SELECT merged, ${bytesOver("merged", "$11::int")} AS bytes FROM cur),
    old AS (DELETE FROM ${table} USING sized WHERE ${table}.id = $1 AND ($11::int IS NULL OR sized.bytes <= $11::int)
      RETURNING sized.merged, ${table}.version),
    w AS (INSERT INTO ${table} (${COLUMNS}, device)
      SELECT $2::text, $3::text, old.merged, $6::bigint, $7::bigint, $8::bigint, $9::bigint, old.version + 1, $12::jsonb, $10::text FROM old
      RETURNING ${COLUMNS}, device)
    SELECT w.*, (SELECT bytes FROM sized) AS bytes${notify ? `, ${notifyColumn(13)}` : ""} FROM (SELECT 1) AS one LEFT JOIN w ON true`;
}

export function statements(table: string) {
  // A user's sessions: their own, and the impersonations they run (the partial index on meta->>'impersonator').
  const ofUser = `(user_id = $1 OR (meta->>'impersonator') = $1)`;
  return {
    insert: `INSERT INTO ${table} (id, user_id, data, created_at, last_seen_at, expires_at, absolute_expires_at, version, device, meta) VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8, $9, $10::jsonb)`,
    get: `SELECT ${COLUMNS} FROM ${table} WHERE id = $1`,
    patch: patchStatement(table, false, false),
    patchChecked: patchStatement(table, true, false),
    touch: `UPDATE ${table} SET last_seen_at = $2, expires_at = $3 WHERE id = $1`,
    // One statement: the old row's lock means a concurrent rotate, patch or destroy of the old id finds it gone.
    rotate: rotateStatement(table, false),
    destroy: `DELETE FROM ${table} WHERE id = $1 RETURNING ${ENDED}`,
    // The next batch of the user's own sessions after id $3, read in (user_id, id) order, and deleted. One row:
    // how many the batch read and the last of them, and those it deleted (fewer when some vanished meanwhile).
    destroyUserBatch:
      `WITH batch AS MATERIALIZED (SELECT id FROM ${table} WHERE user_id = $1 AND id IS DISTINCT FROM $2::text AND id > $3 ORDER BY id LIMIT ${DESTROY_USER_BATCH}), ` +
      `w AS (DELETE FROM ${table} WHERE id IN (SELECT id FROM batch) RETURNING ${ENDED}) ` +
      `SELECT (SELECT count(*)::int FROM batch) AS read, (SELECT max(id) FROM batch) AS last, ${ENDED_AGGREGATE}`,
    destroyImpersonations: `DELETE FROM ${table} WHERE (meta->>'impersonator') = $1 AND user_id IS DISTINCT FROM $1 AND id IS DISTINCT FROM $2::text RETURNING ${ENDED}`,
    notify: "SELECT pg_notify($1, $2)",
    listUser: `SELECT ${COLUMNS}, device FROM ${table} WHERE ${ofUser}`,
    // Not `WHERE ${ofUser} ... ORDER BY id LIMIT`: the planner takes the OR's impersonator half for 0.5% of
    // the table and may walk the primary key in id order filtering every row (2.5 s at 10^6 sessions, when
    // the user's ids, which share a route prefix, sort late). Each half reads its own index instead: the
    // user's sessions in (user_id, id) order, the few impersonations behind a fence (OFFSET 0) from theirs.
    listUserPage:
      `SELECT * FROM ((SELECT ${COLUMNS}, device FROM ${table} WHERE user_id = $1 AND id > $2 ORDER BY id LIMIT $3) UNION ALL ` +
      `(SELECT * FROM (SELECT ${COLUMNS}, device FROM ${table} WHERE (meta->>'impersonator') = $1 AND user_id IS DISTINCT FROM $1 AND id > $2 OFFSET 0) impersonations ORDER BY id LIMIT $3)) page ORDER BY id LIMIT $3`,
    limitRows: `SELECT ${COLUMNS} FROM ${table} WHERE user_id = $1`,
    destroyIds: `DELETE FROM ${table} WHERE id = ANY($1::text[])`,
    lockId: `SELECT 1 FROM ${table} WHERE id = $1 FOR UPDATE`,
    // The same writes publishing a notice (the last two parameters) in the same statement, on every
    // outcome: each returns exactly one row, also when nothing matched (see withNotice).
    patchNotify: patchStatement(table, false, true),
    patchCheckedNotify: patchStatement(table, true, true),
    rotateNotify: rotateStatement(table, true),
    destroyNotify: withNotice(`DELETE FROM ${table} WHERE id = $1 RETURNING ${ENDED}`, ENDED_AGGREGATE, 2),
    sweep: `DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE expires_at <= $1 LIMIT ${SWEEP_BATCH} FOR UPDATE SKIP LOCKED) RETURNING ${ENDED}`,
  };
}

/** What a delete returns (the `ended` event's fields), as rows or, under a notice, aggregated into one JSON column. */
const ENDED = "id, user_id, device";
const ENDED_AGGREGATE = "(SELECT coalesce(json_agg(json_build_object('id', id, 'user_id', user_id, 'device', device)), '[]'::json) FROM w) AS ended";
export type EndedRow = Pick<Row, "id" | "user_id" | "device">;

/** What destroyUserBatch answers: the batch's size and last id as read, and the sessions it deleted. */
export interface DestroyBatchRow {
  read: number;
  last: string | null;
  ended: EndedRow[];
}

export function toEnded(row: EndedRow): EndedSession {
  return endedSession(row.id, row.user_id, row.device);
}

export function toRecord(row: Row): SessionRecord {
  const record: SessionRecord = {
    id: row.id,
    userId: row.user_id,
    data: row.data,
    createdAt: Number(row.created_at),
    lastSeenAt: Number(row.last_seen_at),
    expiresAt: Number(row.expires_at),
    absoluteExpiresAt: Number(row.absolute_expires_at),
    version: row.version,
  };
  const device = decodeDevice(row.device);
  if (device) record.device = device;
  return applySessionMeta(record, row.meta);
}
