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
  readonly status = 400;
  constructor(message: string) {
    super(message);
    this.name = "SessionValueError";
  }
}

/** The response has started, so the session was already committed: change it before sending. */
export class SessionSealedError extends Error {
  constructor() {
    super("latchkey: the response has already started, so the session was committed; change the session (set, unset, login, logout) before sending the response");
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
