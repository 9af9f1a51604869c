import type { LoginSettings } from "./types.js";

/**
 * How a client carries its session token: "cookie" (Set-Cookie, the default)
 * or "bearer" (an `Authorization: Bearer <token>` header, with
 * `createSessions({ bearer: true })`).
 */
export type Transport = "cookie" | "bearer";

/** Options of `session.login(userId, options)`: how the token travels, and this session's own lifetime. */
export interface LoginOptions {
  /**
   * How the client will carry the new token. "bearer": no cookie is set, and
   * `session.token` holds the new token for the app to return in its body
   * (needs `createSessions({ bearer: true })`). "cookie": a Set-Cookie.
   * Default: how this request came — "bearer" when it presented an
   * `Authorization: Bearer` header, else "cookie".
   */
  transport?: Transport;
  /**
   * false: a browser-session cookie (no Expires), gone when the browser
   * closes; true: a cookie that lasts until the session's absolute expiry.
   * Default: the manager's `cookie.persistent`.
   */
  persistent?: boolean;
  /** This session's sliding idle timeout in ms, instead of the manager's. */
  idleTimeout?: number;
  /** This session's absolute lifetime in ms from this login, instead of the manager's. */
  absoluteTimeout?: number;
}

function positiveMs(name: string, value: unknown): number | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== "number" || !Number.isFinite(value) || value <= 0) {
    throw new TypeError(
      `latchkey: login(userId, { ${name} }) must be a positive number of milliseconds (got ${String(value)}); e.g. ${name}: 30 * 24 * 3_600_000 for 30 days`,
    );
  }
  return Math.max(1, Math.round(value)); // whole milliseconds: stores keep integers
}

/** Validates login()'s options: every error says what to change. */
export function resolveLoginOptions(options: LoginOptions | undefined): LoginSettings {
  if (options === undefined) return {};
  if (options === null || typeof options !== "object") {
    throw new TypeError("latchkey: login(userId, options): options must be an object such as { persistent: true, absoluteTimeout: 30 * 24 * 3_600_000 }");
  }
  const settings: LoginSettings = {};
  if (options.persistent !== undefined) {
    if (typeof options.persistent !== "boolean")
      throw new TypeError(`latchkey: login(userId, { persistent }) must be true or false (got ${String(options.persistent)})`);
    settings.persistent = options.persistent;
  }
  const idleTimeout = positiveMs("idleTimeout", options.idleTimeout);
  const absoluteTimeout = positiveMs("absoluteTimeout", options.absoluteTimeout);
  if (idleTimeout !== undefined && absoluteTimeout !== undefined && absoluteTimeout < idleTimeout) {
    throw new TypeError(
      `latchkey: login(userId, { absoluteTimeout }) (${absoluteTimeout} ms) is shorter than its idleTimeout (${idleTimeout} ms); make absoluteTimeout at least as long`,
    );
  }
  if (idleTimeout !== undefined) settings.idleTimeout = idleTimeout;
  if (absoluteTimeout !== undefined) settings.absoluteTimeout = absoluteTimeout;
  return settings;
}
