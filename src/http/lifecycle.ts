// The request lifecycle every framework adapter shares: cookie in, the
// near-cache fast path, commit before the status line, cookie out, and the
// answer when the session layer cannot serve (503 / 413 / 401 / 409 / 500).
// Adapters translate their framework's request, hooks and response; nothing
// here knows a framework, and nothing in src/core knows this file.
import { readCookie, serializeCookie } from "../core/cookie.js";
import { isWellFormedToken } from "../store/token.js";
import {
  CsrfError,
  SessionDataTooLargeError,
  SessionValueError,
  StoreUnavailableError,
  type LoadOptions,
  type RequestContext,
  type ResolvedCsrfOptions,
  type Session,
  type Sessions,
} from "../core/index.js";

/** What the lifecycle reads of a request beyond its cookie: its method and headers (Authorization, the CSRF header, Content-Type). */
export interface HttpRequestContext extends RequestContext {
  readonly method: string | undefined;
  /** One request header by its lower-case name, or undefined. */
  header(name: string): string | undefined;
}

/** Why the session layer answers instead of the handler. */
export interface SessionFailure {
  status: 401 | 403 | 409 | 413 | 500 | 503;
  message: string;
  error?: unknown;
}

/**
 * The session cookie of one request: its name and whether it goes out Secure.
 * Plain-HTTP localhost gets `sid` without Secure; every other request
 * `__Host-sid` with Secure (under the defaults), and reads only that name, so
 * a `sid` tossed in by a sibling subdomain is never looked at.
 */
export interface CookieScope {
  readonly name: string;
  readonly secure: boolean;
}

/** The body of every 503: the store's own description (a file path, a host) goes to the log only. */
const STORE_UNAVAILABLE = "Service Unavailable: the session store cannot be reached";

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
 * const opened = lifecycle.open(req.headers.cookie, context, lifecycle.scope(false)); // a Session, or a Promise of one
 */
export class Lifecycle<Data extends object = object> {
  readonly sessions: Sessions<Data>;
  readonly #secureScope: CookieScope;
  readonly #plainScope: CookieScope;
  readonly #bearer: boolean;
  readonly #csrf: ResolvedCsrfOptions | null;

  constructor(sessions: Sessions<Data>, adapter: string) {
    if (!sessions || typeof (sessions as { load?: unknown }).load !== "function" || typeof (sessions as { loadCached?: unknown }).loadCached !== "function") {
      throw new TypeError(`latchkey: ${adapter}(sessions) needs the object returned by createSessions()`);
    }
    this.sessions = sessions;
    const cookie = sessions.cookie;
    this.#secureScope = Object.freeze({ name: cookie.secureName, secure: cookie.secure !== false });
    this.#plainScope = Object.freeze({ name: cookie.name, secure: cookie.secure === true });
    this.#bearer = sessions.bearer === true;
    this.#csrf = sessions.csrf ?? null;
  }

  /**
   * The cookie of a request: `plainLocal` says it is plain-HTTP local
   * development (isLocalRequest() and not https); only then, under
   * `secure: "auto"`, does the cookie go out without Secure and __Host-.
   */
  scope(plainLocal: boolean): CookieScope {
    const { secure } = this.sessions.cookie;
    if (secure === "auto") return plainLocal ? this.#plainScope : this.#secureScope;
    return secure ? this.#secureScope : this.#plainScope;
  }

  /** True when the scope depends on the request (`secure: "auto"`): adapters then look at its Host and https. */
  get scopeVaries(): boolean {
    return this.sessions.cookie.secure === "auto";
  }

  /**
   * The session of a request from its Cookie header — or, with `bearer`, from
   * an `Authorization: Bearer` header, which then alone decides (the cookie
   * is not read) — synchronously when the near-cache has it (an
   * authenticated read then costs no promise), else a promise. It rejects
   * when the store cannot be reached, or (`csrf`) when a cookie-carrying
   * unsafe request lacks the session's CSRF token: both → loadFailure.
   */
  open(cookieHeader: string | undefined, request: HttpRequestContext, scope: CookieScope): Session<Data> | Promise<Session<Data>> {
    if (this.#bearer) {
      const authorization = request.header("authorization");
      const token = authorization === undefined ? undefined : bearerToken(authorization);
      // Exempt from the CSRF check: a browser never adds an Authorization header by itself.
      if (token !== undefined) {
        const values = token === "" ? [] : [token];
        return this.sessions.loadCached(values, request, BEARER) ?? this.sessions.load(values, request, BEARER);
      }
    }
    // Only the scope's name: under __Host- an unprefixed twin (tossed by a sibling subdomain) is never read.
    const values = readCookie(cookieHeader, scope.name);
    const opened = this.sessions.loadCached(values, request) ?? this.sessions.load(values, request);
    if (this.#csrf === null || SAFE_METHODS.has(request.method ?? "GET")) return opened;
    const presented = values.length > 0;
    if (opened instanceof Promise) return opened.then((session) => this.#checkCsrf(session, presented, request));
    try {
      return this.#checkCsrf(opened, presented, request);
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /**
   * An unsafe request that carries a session cookie (or was given a stored
   * session by a migration) must carry the session's CSRF token in the
   * header; a form post without the header is admitted locked until the app
   * verifies the form's field. A request without any session passes: it has
   * no authority to abuse.
   */
  #checkCsrf(session: Session<Data>, presentedCookie: boolean, request: HttpRequestContext): Session<Data> {
    const csrf = this.#csrf!;
    if (!presentedCookie && session.handle === null) return session;
    const header = request.header(csrf.header);
    if (header !== undefined && session.verifyCsrf(header)) return session;
    if (header === undefined && csrf.forms && isFormContent(request.header("content-type"))) {
      session.lockUntilCsrfVerified();
      return session;
    }
    session.seal();
    throw new CsrfError(
      header === undefined
        ? `Forbidden: this ${request.method} request carries the session cookie but not its CSRF token; send session.csrfToken in the ${csrf.header} header`
        : `Forbidden: the ${csrf.header} header does not match this session's CSRF token (it changes at login); send the current session.csrfToken`,
    );
  }

  /** The answer for a load that failed: 503, logged once, the request never runs as signed in (G6); or 403 for a missing CSRF token. */
  loadFailure(error: unknown, method: string | undefined, url: string | undefined): SessionFailure {
    if (error instanceof CsrfError) return { status: 403, message: error.message };
    const failure: SessionFailure = { status: 503, message: STORE_UNAVAILABLE, error };
    this.sessions.logger.error(`${prefixed(describe(error))} — answering 503 for ${method} ${url}`);
    return failure;
  }

  /** True when the response must wait for a commit (a change, a due touch, or a cookie to set or clear). */
  mustHold(session: Session<Data>): boolean {
    return session.needsCommit || session.hasCookiesToSend || session.token !== null;
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
        // The body never carries the store's description (a file path, a host): that goes to the log only.
        error instanceof SessionDataTooLargeError
          ? this.#logged(tooLarge(error), method, url)
          : error instanceof StoreUnavailableError
            ? this.#logged({ status: 503, message: STORE_UNAVAILABLE, error }, method, url, describe(error))
            : this.#logged({ status: 500, message: error instanceof SessionValueError ? error.message : describe(error), error }, method, url),
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

  #logged(failure: SessionFailure, method: string | undefined, url: string | undefined, detail = failure.message): SessionFailure {
    this.sessions.logger.error(`${prefixed(detail)} — answering ${failure.status} for ${method} ${url}`);
    return failure;
  }

  /**
   * The Set-Cookie values the response must carry: `existing` (what the app
   * set, without an older value of latchkey's own cookie), then latchkey's,
   * then the session's extra cookies. Undefined when the cookie is unchanged.
   */
  setCookie(session: Session<Data>, existing: number | string | readonly string[] | undefined, scope: CookieScope): string[] | undefined {
    if (!session.hasCookiesToSend) return undefined;
    const instruction = session.cookieInstruction();
    const options = this.sessions.cookie;
    const { secure } = scope;
    const list = existing === undefined ? [] : Array.isArray(existing) ? (existing as string[]) : [String(existing)];
    const extra = session.extraSetCookies(secure);
    if (instruction.action === "none") return [...list, ...extra];
    const ours =
      instruction.action === "set"
        ? serializeCookie(options, { value: instruction.token, expires: instruction.expires, secure })
        : serializeCookie(options, { value: "", expires: 0, secure });
    const prefix = `${scope.name}=`;
    return [...list.filter((line) => !line.startsWith(prefix)), ours, ...extra];
  }

  /**
   * True when the response sets or clears a session cookie (latchkey's, or
   * a migration's clearing of the old library's), or carries a bearer token
   * the app puts in its body: then it gets `Cache-Control: no-store`,
   * replacing whatever the app or a static-file middleware set ("public,
   * max-age=…"): a shared cache would hand one user's token to the next, or
   * replay a sign-out.
   */
  mustNotStore(session: Session<Data>): boolean {
    return session.token !== null || session.hasCookiesToSend;
  }
}

const BEARER: LoadOptions = { transport: "bearer" };
const SAFE_METHODS = new Set(["GET", "HEAD", "OPTIONS", "TRACE"]);
/** What an HTML form can send (and so what a cross-site form can): the only bodies admitted without the CSRF header. */
const FORM_CONTENT = new Set(["application/x-www-form-urlencoded", "multipart/form-data", "text/plain"]);

function isFormContent(contentType: string | undefined): boolean {
  if (contentType === undefined) return false;
  const semicolon = contentType.indexOf(";");
  return FORM_CONTENT.has((semicolon < 0 ? contentType : contentType.slice(0, semicolon)).trim().toLowerCase());
}

/**
 * The token of an `Authorization: Bearer <token>` header; "" when the header
 * says Bearer but holds no well-formed token (the request is then anonymous,
 * like a bad cookie); undefined for another scheme (then the cookie decides).
 * @example
 * bearerToken("Bearer 3q2-…43 characters….AbCd"); // the token
 * bearerToken("Bearer nonsense");                  // "" (anonymous)
 * bearerToken("Basic dXNlcjpwdw==");               // undefined (not a bearer request)
 */
export function bearerToken(header: string): string | undefined {
  const trimmed = header.trim();
  const space = trimmed.indexOf(" ");
  const scheme = space < 0 ? trimmed : trimmed.slice(0, space);
  if (scheme.toLowerCase() !== "bearer") return undefined;
  const token = space < 0 ? "" : trimmed.slice(space + 1).trim();
  return isWellFormedToken(token) ? token : "";
}

/** Over maxDataBytes (this request's own data, or the merged data the store measured): nothing was saved. */
function tooLarge(error: SessionDataTooLargeError): SessionFailure {
  return {
    status: 413,
    message: `the session data would be ${error.bytes} bytes, over its limit of ${error.limit} bytes (maxDataBytes); nothing was saved`,
    error,
  };
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
