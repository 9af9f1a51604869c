// Input checks shared by every entry point, run before any store is called,
// so every store sees the same inputs and a bad one is a clear TypeError /
// SessionValueError naming the field — never a store error that looks like
// an outage (a NUL in a PostgreSQL text column, a lone surrogate in jsonb).
import { SessionInputError, SessionValueError } from "./errors.js";
import { isWellFormedId } from "../store/token.js";
import { MAX_KEY_LENGTH, MAX_USER_ID_LENGTH } from "../store/limits.js";

export { MAX_KEY_LENGTH, MAX_USER_ID_LENGTH };

/** C0 controls (NUL included) and DEL. */
const CONTROL = /[\u0000-\u001f\u007f]/;
/** A UTF-16 surrogate that is not half of a pair: no store can keep it as text. */
const LONE_SURROGATE = /\p{Cs}/u;
/** In JSON text: an escape (an odd run of backslashes) of NUL, or of a surrogate, which JSON.stringify writes only when it is lone. */
const ESCAPED_NUL = /(?<!\\)(?:\\\\)*\\u0000/;
const ESCAPED_SURROGATE = /(?<!\\)(?:\\\\)*\\ud[89a-f][0-9a-f]{2}/i;
const RESERVED_KEYS = new Set(["__proto__", "constructor", "prototype"]);
/**
 * Session keys latchkey keeps for itself (the CSRF token, pending flash
 * messages) start with this: an app cannot set them, and get(), has() and
 * toJSON() never show them.
 */
export const RESERVED_KEY_PREFIX = "__latchkey:";

function describe(value: unknown): string {
  if (typeof value === "string") return value.length > 40 ? `a string of ${value.length} characters` : JSON.stringify(value);
  if (value === null) return "null";
  return typeof value;
}

/**
 * `userId` of `method` (login, revokeUser, list…): a non-empty string of at
 * most 256 characters, without control characters or lone surrogates.
 */
export function assertUserId(value: unknown, method: string): asserts value is string {
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_USER_ID_LENGTH) {
    throw new SessionInputError(
      "userId",
      `latchkey: ${method}: userId must be a non-empty string of at most ${MAX_USER_ID_LENGTH} characters (got ${describe(value)})`,
    );
  }
  if (CONTROL.test(value)) {
    throw new SessionInputError("userId", `latchkey: ${method}: userId must not contain control characters such as NUL (got ${JSON.stringify(value)})`);
  }
  if (LONE_SURROGATE.test(value)) {
    throw new SessionInputError("userId", `latchkey: ${method}: userId must be well-formed Unicode (it contains a lone surrogate)`);
  }
}

/** `field` of `method`: a session handle as `sessions.list()` or `session.handle` gives it. */
export function assertHandle(value: unknown, method: string, field = "handle"): asserts value is string {
  if (typeof value !== "string" || !isWellFormedId(value)) {
    throw new SessionInputError(
      field,
      `latchkey: ${method}: ${field} must be a session handle from sessions.list() or session.handle (got ${describe(value)})`,
    );
  }
}

/** A top-level session key: 1–200 characters, no control characters, no lone surrogates, not a prototype name. */
export function assertKey(key: unknown): asserts key is string {
  if (typeof key !== "string" || key.length === 0 || key.length > MAX_KEY_LENGTH) {
    throw new SessionValueError(`latchkey: session keys must be non-empty strings of at most ${MAX_KEY_LENGTH} characters (got ${describe(key)})`);
  }
  if (key.includes("\u0000")) {
    throw new SessionValueError(`latchkey: session key ${JSON.stringify(key)} contains the NUL character, which not every store can keep`);
  }
  if (CONTROL.test(key)) {
    throw new SessionValueError(`latchkey: session key ${JSON.stringify(key)} contains a control character`);
  }
  if (LONE_SURROGATE.test(key)) {
    throw new SessionValueError(`latchkey: session key ${JSON.stringify(key)} is not well-formed Unicode (a lone surrogate)`);
  }
  if (RESERVED_KEYS.has(key)) {
    throw new SessionValueError(`latchkey: ${JSON.stringify(key)} cannot be a session key`);
  }
  if (key.startsWith(RESERVED_KEY_PREFIX)) {
    throw new SessionValueError(
      `latchkey: session keys starting with ${JSON.stringify(RESERVED_KEY_PREFIX)} are latchkey's own (CSRF token, flash messages); choose another name than ${JSON.stringify(key)}`,
    );
  }
}

/** A value for `session.set(key, value)` as the JSON every store keeps alike. */
export function toJsonValue<T>(key: string, value: unknown): T {
  if (value === undefined) {
    throw new SessionValueError(`latchkey: session.set(${JSON.stringify(key)}, undefined) — use session.unset(${JSON.stringify(key)}) to remove a key`);
  }
  let text: string | undefined;
  try {
    text = JSON.stringify(value);
  } catch (error) {
    throw new SessionValueError(`latchkey: the value for ${JSON.stringify(key)} is not JSON-serialisable: ${(error as Error).message}`);
  }
  if (text === undefined) {
    throw new SessionValueError(`latchkey: the value for ${JSON.stringify(key)} is not JSON-serialisable (functions and symbols cannot be stored)`);
  }
  if (text.includes("\\u0000") && ESCAPED_NUL.test(text)) {
    // PostgreSQL's jsonb cannot hold NUL; refusing it everywhere keeps stores interchangeable.
    throw new SessionValueError(`latchkey: the value for ${JSON.stringify(key)} contains the NUL character, which not every store can keep`);
  }
  // JSON.stringify writes a lone surrogate as \udXXX, which jsonb refuses: refuse it everywhere.
  if (ESCAPED_SURROGATE.test(text)) {
    throw new SessionValueError(`latchkey: the value for ${JSON.stringify(key)} is not well-formed Unicode (a lone surrogate)`);
  }
  return JSON.parse(text) as T;
}
