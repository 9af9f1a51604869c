/**
 * Where the old sessions live, as the claim protocol needs it. Each step is
 * one atomic operation in the old store (a Lua script on Redis, one statement
 * on PostgreSQL), so a claim can be won by one request only.
 */
export interface LegacySource {
  /** For log lines and errors, e.g. "connect-redis(sess:)". */
  readonly name: string;
  /**
   * Claim the old session `sid` for migration, atomically:
   * - `claimed`: this caller (`owner`) now holds a pending claim for `pendingMs`; here is the old record;
   * - `pending`: another request holds a pending claim — wait and ask again;
   * - `done`: migrated already; `id` is the latchkey session ("" when nobody was signed in) and
   *   `sealed` its sealed token while the grace period runs (else null). A record an old
   *   process wrote back since is deleted in the same step;
   * - `unknown`: there is no such old session (and no claim).
   */
  claim(sid: string, claimKey: string, owner: string, pendingMs: number): Promise<ClaimReply>;
  /**
   * Turn `owner`'s pending claim into the tombstone and delete the old record,
   * atomically. `migrated` null: nobody is signed in (expired or empty old
   * session). Resolves false when the claim is no longer `owner`'s.
   */
  finish(sid: string, claimKey: string, owner: string, migrated: { id: string; sealed: string } | null, graceMs: number, tombstoneMs: number): Promise<boolean>;
  /** Drop `owner`'s pending claim (the migration failed before committing); the old record stays. */
  release(claimKey: string, owner: string): Promise<void>;
  /** How many old sessions are left (not yet migrated, not expired by the store). */
  count(): Promise<number>;
  /**
   * Record that the user `userKey` (a hash of the user id) was logged out
   * everywhere: from now on, for `ttlMs`, none of their old sessions migrates.
   */
  markUserRevoked(userKey: string, ttlMs: number): Promise<void>;
  /** Whether {@link markUserRevoked} was called for `userKey` and has not run out. */
  isUserRevoked(userKey: string): Promise<boolean>;
  /**
   * Delete what has run out: sealed tokens past their grace period, claims
   * past their time. Only where the store does not expire data itself
   * (PostgreSQL; Redis keys carry their own expiry).
   */
  sweep?(): Promise<void>;
}

export type ClaimReply =
  | { kind: "claimed"; record: string; storeExpiresAt: number | null }
  | { kind: "pending" }
  | { kind: "done"; id: string; sealed: string | null }
  | { kind: "unknown" };
