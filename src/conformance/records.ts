// Records for the conformance suites (shared by their files).
import { idOfToken, type SessionRecord } from "../store/index.js";
import { mintToken } from "../store/token.js";

const HOUR = 3_600_000;

/** A record as createSessions would write it. */
export function sampleRecord(overrides: Partial<SessionRecord> & { userId?: string | null } = {}): SessionRecord {
  const userId = overrides.userId ?? null;
  const now = Date.now();
  return {
    id: idOfToken(mintToken(userId)),
    userId,
    data: { theme: "dark", cart: ["a", "b"] },
    createdAt: now,
    lastSeenAt: now,
    expiresAt: now + HOUR,
    absoluteExpiresAt: now + 12 * HOUR,
    version: 1,
    ...overrides,
  };
}

/** The id of a fresh token for `userId` (on its route), as a rotation gives the new record. */
export const newIdFor = (userId: string | null) => idOfToken(mintToken(userId));
