import * as crypto from "node:crypto";
import { createHash, randomBytes } from "node:crypto";

/** One-shot SHA-256 (Node ≥ 20.12): no Hash object per request on the read path. */
const sha256 =
  typeof (crypto as { hash?: unknown }).hash === "function"
    ? (value: string) => (crypto as unknown as { hash(algorithm: string, data: string, encoding: string): string }).hash("sha256", value, "base64url")
    : (value: string) => createHash("sha256").update(value).digest("base64url");

/**
 * Token layout: `<secret>.<route>`
 *  - secret: 32 CSPRNG bytes, base64url (43 chars) — the 256-bit credential (G5).
 *  - route:  4 base64url chars. For a signed-in session it is derived from the
 *            user id, so all of a user's sessions share it; anonymous sessions
 *            get a random one. Stores that shard (Redis Cluster) use it as the
 *            hash tag, so a user's sessions and their index live in one slot
 *            and "log out everywhere" is one atomic step.
 *
 * The store id is `<route>:<base64url(SHA-256(token))>`: a dump of the store
 * holds no usable token.
 */
const SECRET_BYTES = 32;
const SECRET_LENGTH = 43;
const ROUTE_LENGTH = 4;
const TOKEN_PATTERN = /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{4}$/;
const ID_PATTERN = /^[A-Za-z0-9_-]{4}:[A-Za-z0-9_-]{43}$/;

export const TOKEN_LENGTH = SECRET_LENGTH + 1 + ROUTE_LENGTH;

/** The route shared by every session of `userId`. */
export function userRoute(userId: string): string {
  return createHash("sha256").update("latchkey/route\0").update(userId).digest("base64url").slice(0, ROUTE_LENGTH);
}

/** The route part of a store id (the Redis Cluster hash tag). */
export function routeOfId(id: string): string {
  return id.slice(0, ROUTE_LENGTH);
}

export function mintToken(userId: string | null): string {
  const route = userId === null ? randomBytes(3).toString("base64url") : userRoute(userId);
  return `${randomBytes(SECRET_BYTES).toString("base64url")}.${route}`;
}

/** True when `value` has exactly the token shape; anything else is never looked up. */
export function isWellFormedToken(value: string): boolean {
  return value.length === TOKEN_LENGTH && TOKEN_PATTERN.test(value);
}

export function isWellFormedId(value: string): boolean {
  return value.length === ROUTE_LENGTH + 1 + SECRET_LENGTH && ID_PATTERN.test(value);
}

export function idOfToken(token: string): string {
  const route = token.slice(SECRET_LENGTH + 1);
  return `${route}:${sha256(token)}`;
}
