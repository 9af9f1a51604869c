import type { ResolvedCookieOptions } from "./options.js";

/**
 * The values of every cookie called `name` in a Cookie header, in order.
 * Parsing is strict and never throws: malformed pairs are skipped, and the
 * manager looks up only values that have the exact token shape.
 */
export function readCookie(header: string | undefined, name: string): string[] {
  if (!header || header.length > 16_384) return [];
  const found: string[] = [];
  for (const pair of header.split(";")) {
    const eq = pair.indexOf("=");
    if (eq === -1) continue;
    if (pair.slice(0, eq).trim() !== name) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    found.push(value);
  }
  return found;
}

export interface CookieWrite {
  value: string;
  /** ms since the epoch; undefined → browser-session cookie; 0 → delete. */
  expires: number | undefined;
  secure: boolean;
}

/** The cookie's name: `__Host-sid` when it goes out Secure (unless hostPrefix: false), else `sid`. */
export function cookieName(options: ResolvedCookieOptions, secure: boolean): string {
  return secure ? options.secureName : options.name;
}

/** A Set-Cookie header value. HttpOnly always: the token is never for scripts. */
export function serializeCookie(options: ResolvedCookieOptions, write: CookieWrite): string {
  const parts = [`${cookieName(options, write.secure)}=${write.value}`, `Path=${options.path}`, "HttpOnly", `SameSite=${capitalize(options.sameSite)}`];
  if (options.domain) parts.push(`Domain=${options.domain}`);
  if (write.secure) parts.push("Secure");
  if (write.expires !== undefined) {
    parts.push(`Expires=${new Date(write.expires).toUTCString()}`);
    if (write.expires === 0) parts.push("Max-Age=0");
  }
  return parts.join("; ");
}

function capitalize(value: string): string {
  return value.charAt(0).toUpperCase() + value.slice(1);
}
