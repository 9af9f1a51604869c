// The session-side pieces of the sign-in features (issue 17) that need no
// session state: the transport types, the reserved keys that hold the CSRF
// token and pending flash messages, and how those values are made and read.
// The Session class (session.ts) keeps the state and the change set.
import { createHash, randomBytes, timingSafeEqual } from "node:crypto";
import type { JsonValue } from "../store/contract.js";
import { RESERVED_KEY_PREFIX } from "./validate.js";

export type { LoginOptions, Transport } from "./login-options.js";

/** Pending flash messages: every value flashed under each key, oldest first. */
export type Flashes = Record<string, JsonValue[]>;

/** The session key holding the CSRF synchronizer token (reserved: see RESERVED_KEY_PREFIX). */
export const CSRF_KEY = `${RESERVED_KEY_PREFIX}csrf`;
/**
 * Each pending flash message is a reserved key of its own, `FLASH_PREFIX` +
 * a time-ordered stamp, holding `[key, value]`: two requests that flash at
 * once change different keys and both messages are kept (G2); showing them
 * unsets exactly the keys that were shown.
 */
export const FLASH_PREFIX = `${RESERVED_KEY_PREFIX}flash:`;
let flashCounter = 0;

const digest = (value: string): Buffer => createHash("sha256").update(value).digest();

/** A new CSRF synchronizer token: 256 CSPRNG bits. */
export function newCsrfToken(): string {
  return randomBytes(32).toString("base64url");
}

/** Whether `value` is the token `expected`, compared in constant time (over their digests, so lengths leak nothing either). */
export function csrfMatches(value: unknown, expected: JsonValue | undefined): boolean {
  if (typeof value !== "string" || typeof expected !== "string") return false;
  return timingSafeEqual(digest(value), digest(expected));
}

/** The reserved key of a new flash message: sorts by time, then by order within this process; the random tail keeps processes apart. */
export function flashKey(now: number): string {
  flashCounter = (flashCounter + 1) % 1_679_616; // 36^4
  return `${FLASH_PREFIX}${now.toString(36).padStart(9, "0")}${flashCounter.toString(36).padStart(4, "0")}${randomBytes(3).toString("hex")}`;
}

/** The messages held under the flash keys `names` of `data`, oldest first, grouped by their key. */
export function shownFlashes(names: string[], data: Record<string, JsonValue>): Flashes {
  const shown: Flashes = {};
  for (const name of [...names].sort()) {
    const entry = data[name];
    if (Array.isArray(entry) && entry.length === 2 && typeof entry[0] === "string") (shown[entry[0]] ??= []).push(entry[1]!);
  }
  return shown;
}
