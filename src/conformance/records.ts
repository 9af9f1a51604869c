// Records for the conformance suites (shared by index.ts and feed.ts).
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
