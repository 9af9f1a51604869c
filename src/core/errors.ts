import { redactCredentials } from "../store/redact.js";

/** A store or feed failed: the request must not be treated as authenticated (G6). */
export class StoreUnavailableError extends Error {
  readonly store: string;
  /** HTTP status for frameworks that read `err.status` (Express's final handler does). */
  readonly status = 503;
  constructor(store: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(redactCredentials(`latchkey: session store ${store} is unavailable: ${reason}`), { cause });
    this.name = "StoreUnavailableError";
    this.store = store;
  }
}

/**
 * A bad argument to a session call (a user id with a NUL, a malformed handle):
 * a TypeError naming the field, raised before any store is called.
 */
export class SessionInputError extends TypeError {
  /** HTTP status for frameworks that read `err.status`: the request's input was bad, not the store. */
  readonly status = 400;
  /** The argument at fault: "userId", "handle", "except". */
  readonly field: string;
  constructor(field: string, message: string) {
    super(message);
    this.name = "SessionInputError";
    this.field = field;
  }
}

/** A session value that cannot be stored (not JSON, or the session is over its size limit). */
export class SessionValueError extends TypeError {
  /** HTTP status for frameworks that read `err.status`: the request's input was bad. */
  readonly status: number = 400;
  constructor(message: string) {
    super(message);
    this.name = "SessionValueError";
  }
}

/**
 * The session's data would be over `maxDataBytes` (measured as the UTF-8
 * bytes of its JSON) once this request's changes are applied: nothing was
 * written. Raised when the request's own view is over the limit, and when the
 * store refuses the merged data because overlapping requests added to it
 * meanwhile. Every adapter answers it with 413 and a sentence, never a 500.
 * @example
 * try { await req.session.login(user.id); } catch (error) {
 *   if (error instanceof SessionDataTooLargeError) return res.status(413).send("Your cart is full");
 *   throw error;
 * }
 */
export class SessionDataTooLargeError extends SessionValueError {
  /** HTTP status for frameworks that read `err.status` (Express, Koa, Fastify): Payload Too Large. */
  override readonly status = 413;
  /** Koa shows the message of errors that set `expose`. */
  readonly expose = true;
  /** The size the data would have had, in bytes. */
  readonly bytes: number;
  /** The limit it is over (`maxDataBytes`). */
  readonly limit: number;
  constructor(bytes: number, limit: number) {
    super(`latchkey: session data would be ${bytes} bytes, over maxDataBytes (${limit}); nothing was saved. Store less in the session or raise maxDataBytes`);
    this.name = "SessionDataTooLargeError";
    this.bytes = bytes;
    this.limit = limit;
  }
}

/** The response has started, so the session was already committed: change it before sending. */
export class SessionSealedError extends Error {
  constructor() {
    super(
      "latchkey: the response has already started, so the session was committed; change the session (set, unset, login, logout) before sending the response",
    );
    this.name = "SessionSealedError";
  }
}

/**
 * A request was refused for want of the session's CSRF token (`csrf` option):
 * a cookie-authenticated POST, PUT, PATCH or DELETE without a matching
 * `x-csrf-token` header, or a change to a form post's session before
 * `session.verifyCsrf(field)` accepted its token.
 */
export class CsrfError extends Error {
  /** HTTP status for frameworks that read `err.status`. */
  readonly status = 403;
  constructor(message: string) {
    super(message);
    this.name = "CsrfError";
  }
}

/**
 * `login()` was refused: the user already has `maxSessionsPerUser` live
 * sessions and `onSessionLimit` is "refuse". Nothing was written.
 * @example
 * try { await req.session.login(user.id); }
 * catch (error) { if (error instanceof SessionLimitError) return res.status(409).send(error.message); throw error; }
 */
export class SessionLimitError extends Error {
  /** HTTP status for frameworks that read `err.status`. */
  readonly status = 409;
  /** The configured maxSessionsPerUser. */
  readonly limit: number;
  constructor(limit: number) {
    super(
      `latchkey: this user is already signed in on ${limit} device${limit === 1 ? "" : "s"}, the limit (maxSessionsPerUser: ${limit}); sign out on another device first`,
    );
    this.name = "SessionLimitError";
    this.limit = limit;
  }
}

/** `impersonate()` or `stopImpersonating()` was called where it cannot apply (see the message). */
export class ImpersonationError extends Error {
  /** The session is not in a state where this applies (not signed in, already impersonating, not impersonating). */
  readonly status = 409;
  constructor(message: string) {
    super(message);
    this.name = "ImpersonationError";
  }
}

/**
 * The session ended (logout, revoke, expiry) while this request held it, and
 * the request asked for something only a live session can do:
 * `reauthenticate()`, `impersonate()`, `stopImpersonating()`. The session is
 * anonymous afterwards; nothing was recreated (G1).
 */
export class SessionGoneError extends Error {
  readonly status = 401;
  constructor(message = "latchkey: the session no longer exists (logged out, revoked or expired); sign in again") {
    super(message);
    this.name = "SessionGoneError";
  }
}
