import { createCipheriv, createDecipheriv, createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual } from "node:crypto";

/**
 * Cookie signatures as express-session (cookie-signature) and @fastify/session
 * (@fastify/cookie's Signer) write them: `value + "." + base64(HMAC(value))`
 * without "=" padding. Every secret is tried, each comparison timing-safe.
 */
export function unsign(signed: string, secrets: readonly (string | Buffer)[], algorithm: string): { value: string; secret: string | Buffer } | null {
  const dot = signed.lastIndexOf(".");
  if (dot <= 0 || dot === signed.length - 1) return null;
  const value = signed.slice(0, dot);
  const actual = Buffer.from(signed.slice(dot + 1));
  let found: string | Buffer | null = null;
  // No early exit: the time taken does not say which secret matched.
  for (const secret of secrets) {
    const expected = Buffer.from(createHmac(algorithm, secret).update(value).digest("base64").replace(/=+$/, ""));
    if (expected.length === actual.length && timingSafeEqual(expected, actual) && found === null) found = secret;
  }
  return found === null ? null : { value, secret: found };
}

/** The signed cookie value for `value` (what the old libraries send; used by tests and tools). */
export function sign(value: string, secret: string | Buffer, algorithm = "sha256"): string {
  return `${value}.${createHmac(algorithm, secret).update(value).digest("base64").replace(/=+$/, "")}`;
}

/** A cookie value as the old libraries' parsers read it: percent-decoded, undefined when malformed. */
export function decodeCookieValue(raw: string): string | undefined {
  if (!raw.includes("%")) return raw;
  try {
    return decodeURIComponent(raw);
  } catch {
    return undefined;
  }
}

/**
 * The key a claim is stored under: a hash of the old session id, never the id
 * itself (a store dump must not yield the old credential, G5).
 */
export function claimKeyOf(sid: string): string {
  return createHash("sha256").update("latchkey/migrate/claim\0").update(sid).digest("base64url");
}

/**
 * The latchkey token of a migrated session, sealed for parallel requests of
 * the same browser: AES-256-GCM under a key derived from the old session id
 * and the secret that signed its cookie. Only a holder of that validly signed
 * cookie can open it; the store keeps it only for the grace period.
 */
export function sealToken(token: string, sid: string, secret: string | Buffer, claimKey: string): string {
  const iv = randomBytes(12);
  const cipher = createCipheriv("aes-256-gcm", tokenKey(sid, secret), iv);
  cipher.setAAD(Buffer.from(claimKey));
  const sealed = Buffer.concat([iv, cipher.update(token, "utf8"), cipher.final(), cipher.getAuthTag()]);
  return sealed.toString("base64url");
}

/** The token sealed by {@link sealToken}, or null when it does not open (wrong key, tampered). */
export function openToken(sealed: string, sid: string, secret: string | Buffer, claimKey: string): string | null {
  const bytes = Buffer.from(sealed, "base64url");
  if (bytes.length < 12 + 16 + 1) return null;
  try {
    const decipher = createDecipheriv("aes-256-gcm", tokenKey(sid, secret), bytes.subarray(0, 12));
    decipher.setAAD(Buffer.from(claimKey));
    decipher.setAuthTag(bytes.subarray(bytes.length - 16));
    return Buffer.concat([decipher.update(bytes.subarray(12, bytes.length - 16)), decipher.final()]).toString("utf8");
  } catch {
    return null;
  }
}

function tokenKey(sid: string, secret: string | Buffer): Buffer {
  return Buffer.from(hkdfSync("sha256", Buffer.from(sid), Buffer.from(secret), "latchkey/migrate/token", 32));
}

/**
 * The key a user's "logged out everywhere" mark is stored under in the old
 * store: a hash of the latchkey user id (the old store keeps no user ids of ours).
 */
export function userKeyOf(userId: string): string {
  return createHash("sha256").update("latchkey/migrate/user\0").update(userId).digest("base64url");
}
