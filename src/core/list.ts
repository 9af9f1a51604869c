// What sessions.list() shows of a session: SessionInfo, made from a store record with the device
// label parsed here (never on the read path) and the manager's defaults filled in.
import { deviceLabel } from "../devices/index.js";
import type { SessionRecord } from "../store/contract.js";
import type { Engine } from "./engine.js";

/** One session as listed for its user: a public handle, never the token (G5). */
export interface SessionInfo {
  /** Pass to `sessions.revoke(handle)`. Derived from the token's hash; cannot be used as a cookie. */
  handle: string;
  userId: string;
  createdAt: number;
  lastSeenAt: number;
  /** The earlier of idle and absolute expiry. */
  expiresAt: number;
  absoluteExpiresAt: number;
  /** A readable name of the device that signed in, e.g. "Firefox on Linux" ("Unknown device" when none was recorded). */
  device: string;
  /** The User-Agent recorded at login (at most 512 characters), when there was one. */
  userAgent?: string;
  /** The client address recorded at login, only with the `recordIp` option. */
  ip?: string;
  /** Whether its cookie outlives the browser (`login(userId, { persistent })`, else the manager's cookie.persistent). */
  persistent: boolean;
  /** Its idle timeout in ms: login's `idleTimeout`, else the manager's. */
  idleTimeout: number;
  /** When the user last authenticated in it (login, reauthenticate), when known. */
  authenticatedAt?: number;
  /**
   * Present on an impersonation: the user acting as `userId`. Such a session
   * is listed for both users, and `revokeUser()` of either ends it.
   */
  impersonator?: string;
}

/** Records as listed: the user's unexpired sessions, in the order given. */
export function sessionInfos(engine: Engine, userId: string, records: SessionRecord[]): SessionInfo[] {
  const now = engine.options.now();
  return records
    .filter((record) => (record.userId === userId || record.impersonator === userId) && !engine.isExpired(record, now))
    .map((record) => {
      const info: SessionInfo = {
        handle: record.id,
        userId: record.userId!,
        createdAt: record.createdAt,
        lastSeenAt: record.lastSeenAt,
        expiresAt: record.expiresAt,
        absoluteExpiresAt: record.absoluteExpiresAt,
        device: deviceLabel(record.device?.userAgent),
        persistent: record.persistent ?? engine.options.cookie.persistent,
        idleTimeout: engine.idleTimeoutOf(record),
      };
      if (record.authenticatedAt !== undefined) info.authenticatedAt = record.authenticatedAt;
      if (record.impersonator !== undefined) info.impersonator = record.impersonator;
      if (record.device?.userAgent !== undefined) info.userAgent = record.device.userAgent;
      if (record.device?.ip !== undefined) info.ip = record.device.ip;
      return info;
    });
}
