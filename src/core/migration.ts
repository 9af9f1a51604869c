import type { Logger } from "./types.js";
import type { JsonValue, SessionRecord } from "../store/contract.js";

/**
 * What the manager lends a migration (`createSessions({ migrateFrom })`): it
 * creates the one latchkey session an old session becomes, and removes one it
 * created but could not hand out. Nothing here knows HTTP or the old store.
 */
export interface MigrationHost {
  readonly logger: Logger;
  now(): number;
  /** Create the latchkey session for a migrated old session (a fresh token, G1). */
  create(userId: string | null, data: Record<string, JsonValue>): Promise<{ record: SessionRecord; token: string }>;
  /** Destroy a session this migration created but lost the claim for (nobody ever held its token). */
  discard(id: string): Promise<void>;
}

/**
 * The outcome of a request carrying another library's cookie:
 * - `created`: this request claimed the old session and created its latchkey session;
 * - `token`: the old session was migrated already (a parallel request of the
 *   same browser): this is its latchkey token, to be loaded like a cookie;
 * - neither: nobody is signed in (bad signature, unknown, expired, already
 *   migrated long ago, or the migration has ended). The old cookie is cleared in every case.
 */
export type MigrationResult =
  { created: { record: SessionRecord; token: string }; token?: undefined } | { token: string; created?: undefined } | { token: null; created?: undefined };

/**
 * A way in from another session library (see `latchkey/migrate`). The engine
 * consults it only when a request has no live latchkey session and carries a
 * Cookie header: requests with a latchkey session, or no cookie at all, never
 * reach it.
 */
export interface SessionMigration {
  /** The old library's cookie name, e.g. "connect.sid". */
  readonly cookieName: string;
  /**
   * Resolves null when the header holds no old cookie (nothing to do, no Set-Cookie).
   * Rejects with StoreUnavailableError when the old store cannot answer (G6).
   */
  migrate(cookieHeader: string, host: MigrationHost): Promise<MigrationResult | null>;
  /** The Set-Cookie value that deletes the old cookie, with the path and domain it was set with. */
  clearCookie(secure: boolean): string;
  /**
   * Called by every log out everywhere (`revokeUser`, `logoutOthers`) before
   * the user's latchkey sessions are destroyed: from then on none of the
   * user's old sessions not migrated yet signs anyone in. Rejects with
   * StoreUnavailableError when the old store cannot answer.
   */
  revokeUser?(userId: string, host: MigrationHost): Promise<void>;
  /** Called by `sessions.sweep()`: delete what has run out in the old store (sealed tokens, claims). */
  sweep?(): Promise<void>;
}
