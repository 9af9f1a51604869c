// The request lifecycle every framework adapter shares: cookie in, the
// near-cache fast path, commit before the status line, cookie out, and the
// answer when the session layer cannot serve (503 / 413 / 401 / 409 / 500).
// Adapters translate their framework's request, hooks and response; nothing
// here knows a framework, and nothing in src/core knows this file.
import {
  readCookie,
  serializeCookie,
  SessionDataTooLargeError,
  SessionValueError,
  StoreUnavailableError,
  type RequestContext,
  type Session,
  type Sessions,
} from "../core/index.js";

/** Why the session layer answers instead of the handler. */
export interface SessionFailure {
  status: 401 | 409 | 413 | 500 | 503;
  message: string;
  error?: unknown;
}

/** A failure as an HTTP answer: status, headers and a short plain-text body. */
export interface FailureAnswer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/**
 * One per adapter instance (not per request): validates the sessions object
 * once, and holds what every request of that adapter needs.
 * @example
 * const lifecycle = new Lifecycle(sessions, "mySessions");
 * const opened = lifecycle.open(req.headers.cookie, context); // a Session, or a Promise of one
 */
export class Lifecycle<Data extends object = object> {
  readonly sessions: Sessions<Data>;
  readonly cookieName: string;

  constructor(sessions: Sessions<Data>, adapter: string) {
    if (!sessions || typeof (sessions as { load?: unknown }).load !== "function" || typeof (sessions as { loadCached?: unknown }).loadCached !== "function") {
      throw new TypeError(`latchkey: ${adapter}(sessions) needs the object returned by createSessions()`);
    }
    this.sessions = sessions;
    this.cookieName = sessions.cookie.name;
  }

  /**
   * The session of a request from its Cookie header: synchronously when the
   * near-cache has it (an authenticated read then costs no promise), else a
   * promise that rejects when the store cannot be reached (→ loadFailure).
   */
  open(cookieHeader: string | undefined, request: RequestContext): Session<Data> | Promise<Session<Data>> {
    const values = readCookie(cookieHeader, this.cookieName);
    return this.sessions.loadCached(values, request) ?? this.sessions.load(values, request);
  }

  /** The 503 for a load that failed, logged once: the request never runs as signed in (G6). */
  loadFailure(error: unknown, method: string | undefined, url: string | undefined): SessionFailure {
    const failure: SessionFailure = { status: 503, message: "Service Unavailable: the session store cannot be reached", error };
    this.sessions.logger.error(`${prefixed(describe(error))} — answering 503 for ${method} ${url}`);
    return failure;
  }

  /** True when the response must wait for a commit (a change, a due touch, or a cookie to set or clear). */
  mustHold(session: Session<Data>): boolean {
    return session.needsCommit || session.hasCookiesToSend;
  }

  /**
   * Seals the session (later changes throw SessionSealedError) and commits it.
   * Returns null, synchronously, when there is nothing to write; else the
   * failure to answer instead of the handler's answer, or null once stored.
   */
  settle(session: Session<Data>, method: string | undefined, url: string | undefined): Promise<SessionFailure | null> | null {
    if (!session.needsCommit) {
      session.seal();
      return null;
    }
    const hadChanges = session.dirty;
    session.seal();
    return session.commit().then(
      (outcome): SessionFailure | null => {
        if (outcome === "gone" && hadChanges) {
          // Not logged: a logout racing a slow request is ordinary, and the client is told.
          return { status: 401, message: "the session ended (logged out or revoked) while this request changed it; nothing was saved" };
        }
        if (outcome === "conflict") return this.#logged({ status: 409, message: "the session was changed by another request; nothing was saved" }, method, url);
        return null;
      },
      (error: unknown) =>
        this.#logged(
          error instanceof SessionDataTooLargeError
            ? tooLarge(error)
            : { status: error instanceof StoreUnavailableError ? 503 : 500, message: error instanceof SessionValueError ? error.message : describe(error), error },
          method,
          url,
        ),
    );
  }

  /**
   * The answer for an error the handler itself threw, when latchkey knows it:
   * a login() whose data is over maxDataBytes answers 413 with a sentence,
   * like a commit refused for size. Null for any other error, which the
   * framework's own error handling answers.
   */
  handlerFailure(error: unknown, method: string | undefined, url: string | undefined): SessionFailure | null {
    return error instanceof SessionDataTooLargeError ? this.#logged(tooLarge(error), method, url) : null;
  }

  #logged(failure: SessionFailure, method: string | undefined, url: string | undefined): SessionFailure {
    this.sessions.logger.error(`${prefixed(failure.message)} — answering ${failure.status} for ${method} ${url}`);
    return failure;
  }

  /**
   * The Set-Cookie values the response must carry: `existing` (what the app
   * set, without an older value of latchkey's own cookie), then latchkey's,
   * then the session's extra cookies. Undefined when the cookie is unchanged.
   */
  setCookie(session: Session<Data>, existing: number | string | readonly string[] | undefined, secure: boolean): string[] | undefined {
    if (!session.hasCookiesToSend) return undefined;
    const instruction = session.cookieInstruction();
    const options = this.sessions.cookie;
    const resolvedSecure = options.secure === "auto" ? secure : options.secure;
    const list = existing === undefined ? [] : Array.isArray(existing) ? (existing as string[]) : [String(existing)];
    const extra = session.extraSetCookies(resolvedSecure);
    if (instruction.action === "none") return [...list, ...extra];
    const ours =
      instruction.action === "set"
        ? serializeCookie(options, { value: instruction.token, expires: instruction.expires, secure: resolvedSecure })
        : serializeCookie(options, { value: "", expires: 0, secure: resolvedSecure });
    const prefix = `${options.name}=`;
    return [...list.filter((line) => !line.startsWith(prefix)), ours, ...extra];
  }

  /** True when the response sets a session token: then it must never be stored by a shared cache. */
  setsToken(session: Session<Data>): boolean {
    return session.cookieInstruction().action === "set";
  }
}

/** Over maxDataBytes (this request's own data, or the merged data the store measured): nothing was saved. */
function tooLarge(error: SessionDataTooLargeError): SessionFailure {
  return { status: 413, message: `the session data would be ${error.bytes} bytes, over its limit of ${error.limit} bytes (maxDataBytes); nothing was saved`, error };
}

/**
 * The default answer for a failure: a short plain-text body, never cached, Retry-After on 503.
 * @example
 * const { status, headers, body } = failureAnswer({ status: 503, message: "the session store cannot be reached" });
 */
export function failureAnswer(failure: SessionFailure): FailureAnswer {
  const headers: Record<string, string> = { "content-type": "text/plain; charset=utf-8", "cache-control": "no-store" };
  if (failure.status === 503) headers["retry-after"] = "1";
  return { status: failure.status, headers, body: failure.status === 500 ? "Internal Server Error\n" : `${failure.message}\n` };
}

/**
 * A failure as an Error carrying `status`, `expose` and `headers`, for
 * frameworks whose error handlers read them (Koa's onerror, Fastify's error handler).
 * @example
 * app.use(async (ctx, next) => {
 *   try { await next(); } catch (error) {
 *     if (error instanceof SessionFailureError) { ctx.status = error.status; ctx.body = { error: error.message }; } else throw error;
 *   }
 * });
 */
export class SessionFailureError extends Error {
  readonly status: number;
  readonly expose: boolean;
  readonly headers: Record<string, string | string[]>;
  constructor(failure: SessionFailure, headers: Record<string, string | string[]> = {}) {
    super(failure.status === 500 ? "Internal Server Error" : failure.message, failure.error === undefined ? undefined : { cause: failure.error });
    this.name = "SessionFailureError";
    this.status = failure.status;
    this.expose = failure.status !== 500;
    this.headers = { ...failureAnswer(failure).headers, ...headers };
    delete this.headers["content-type"];
  }
}

export function prefixed(message: string): string {
  return message.startsWith("latchkey:") ? message : `latchkey: ${message}`;
}

export function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
