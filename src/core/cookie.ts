import type { ResolvedCookieOptions } from "./cookie-options.js";

/**
 * The values of every cookie called `name` in a Cookie header, in order.
 * Parsing is strict and never throws: malformed pairs are skipped, and the
 * manager looks up only values that have the exact token shape. Runs on
 * every request: it scans the header in place and allocates only the values
 * it returns.
 */
export function readCookie(header: string | undefined, name: string): string[] {
  if (!header || header.length > 16_384) return [];
  const found: string[] = [];
  for (let start = 0; start < header.length;) {
    let end = header.indexOf(";", start);
    if (end === -1) end = header.length;
    const eq = header.indexOf("=", start);
    // A pair without "=" is skipped; a name shorter than `name` cannot be it.
    if (eq !== -1 && eq < end && eq - start >= name.length && header.slice(start, eq).trim() === name) {
      let value = header.slice(eq + 1, end).trim();
      if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
      found.push(value);
    }
    start = end + 1;
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
