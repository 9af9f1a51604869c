/** A store or feed failed: the request must not be treated as authenticated (G6). */
export class StoreUnavailableError extends Error {
  readonly store: string;
  /** HTTP status for frameworks that read `err.status` (Express's final handler does). */
  readonly status = 503;
  constructor(store: string, cause: unknown) {
    const reason = cause instanceof Error ? cause.message : String(cause);
    super(`latchkey: session store ${store} is unavailable: ${reason}`, { cause });
    this.name = "StoreUnavailableError";
    this.store = store;
  }
}

/** The session was destroyed (logout, revoke, expiry) while this request held it. */
export class SessionGoneError extends Error {
  readonly status = 401;
  constructor(message = "latchkey: the session no longer exists (logged out, revoked or expired)") {
    super(message);
    this.name = "SessionGoneError";
  }
}

/** `conflicts: "reject"` is on and another request changed the session first. */
export class SessionConflictError extends Error {
  readonly status = 409;
  constructor() {
    super("latchkey: the session was changed by another request since it was loaded (conflicts: \"reject\")");
    this.name = "SessionConflictError";
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
