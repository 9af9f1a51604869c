import type { JsonValue, Session, Sessions } from "../../core/index.js";
import { Lifecycle, type CookieScope, type SessionFailure } from "../../http/lifecycle.js";
import { resolveTrustProxy } from "../../http/transport.js";
import { discard, failureResponse, forwardedFor, WebRequestContext, webScope, withSessionCookies } from "../../http/web.js";

export type { SessionFailure } from "../../http/lifecycle.js";
export { failureResponse } from "../../http/web.js";
export { SessionFailureError } from "../../http/lifecycle.js";
export { readCookieSession, withCookieSession, type CookieAttributes, type CookieJar, type CookieSessionOptions } from "./cookies.js";

/** What withSession() gives the handler beside the Request. */
export interface SessionContext<Data extends object = Record<string, JsonValue>> {
  session: Session<Data>;
}

/** A fetch-style handler with the request's session; `args`: whatever the caller passes after the Request (Next.js: `{ params }`). */
export type WebSessionHandler<Data extends object, Args extends unknown[]> = (
  request: Request,
  context: SessionContext<Data>,
  ...args: Args
) => Response | Promise<Response>;

export interface WithSessionOptions {
  /**
   * The number of reverse proxies in front of the app (each appends to
   * X-Forwarded-For): the client address is the entry that many from the
   * right, and https is read from X-Forwarded-Proto the same way, as Express's
   * `trust proxy` with a count. Entries further left are written by the client
   * and never used. Only when every request comes through those proxies.
   * Default 0: nothing forwarded is trusted. (`true` is refused: give a count.)
   */
  trustProxy?: number | false;
  /** The client address, for the device list (a Request alone does not carry it; e.g. Bun's `server.requestIP(request)`). */
  ip?: (request: Request) => string | undefined;
  /** Answer a request the session layer cannot serve (503 store down, 401 session ended under a write, 409 conflict, 413 over maxDataBytes). */
  onError?: (failure: SessionFailure, request: Request) => Response | Promise<Response>;
}

/**
 * Wraps a web-standard fetch handler (Next.js route handlers, Bun.serve,
 * Deno.serve, Cloudflare-style `fetch`) with the request's session. The
 * session is committed before the returned promise resolves (G8) and its
 * cookie is appended to the handler's Response (copied when its headers are
 * immutable, as with Response.redirect()). A store failure answers 503 and
 * the handler never runs as signed in (G6). A handler that throws commits
 * nothing: the error reaches the caller, and the session's changes are dropped
 * (SessionDataTooLargeError, from a login() over maxDataBytes, is answered
 * 413 like an over-size commit).
 * @example
 * import { createSessions } from "latchkey";
 * import { sqliteStore } from "latchkey/sqlite";
 * import { withSession } from "latchkey/web";
 *
 * const sessions = createSessions({ store: sqliteStore({ path: "./sessions.db" }) });
 * export const POST = withSession(sessions, async (request, { session }) => {
 *   await session.login("alice");
 *   return Response.json({ userId: session.userId });
 * });
 */
export function withSession<Data extends object, Args extends unknown[] = []>(
  sessions: Sessions<Data>,
  handler: WebSessionHandler<Data, Args>,
  options: WithSessionOptions = {},
): (request: Request, ...args: Args) => Promise<Response> {
  const lifecycle = new Lifecycle(sessions as Sessions<object>, "withSession");
  if (typeof handler !== "function") throw new TypeError("latchkey: withSession(sessions, handler) needs a handler (request, { session }) => Response");
  for (const name of ["ip", "onError"] as const) {
    if (options[name] !== undefined && typeof options[name] !== "function") throw new TypeError(`latchkey: withSession option ${name} must be a function`);
  }
  const proxies = resolveTrustProxy(options.trustProxy, "withSession");
  const address = options.ip;
  const respond = options.onError ?? ((failure: SessionFailure) => failureResponse(failure));
  const ip = (context: WebRequestContext): string | undefined => address?.(context.owner as Request) ?? forwardedFor(context.headers, proxies);

  const run = async (request: Request, session: Session<object>, scope: CookieScope, args: Args): Promise<Response> => {
    let response: Response;
    try {
      response = await handler(request, { session: session as Session<Data> }, ...args);
    } catch (error) {
      session.seal();
      // A login() over maxDataBytes answers 413, as an over-size commit does; any other error reaches the caller.
      const known = lifecycle.handlerFailure(error, request.method, request.url);
      if (known) return respond(known, request);
      throw error;
    }
    if (!(response instanceof Response)) {
      session.seal();
      throw new TypeError(`latchkey: the withSession handler for ${request.method} ${request.url} returned ${typeof response}, not a Response`);
    }
    // A read: nothing to commit and no cookie.
    if (!lifecycle.mustHold(session)) return (session.seal(), response);
    const settling = lifecycle.settle(session, request.method, request.url);
    const failure = settling && (await settling);
    if (!failure) return withSessionCookies(lifecycle, session, response, scope);
    discard(response);
    const answer = await respond(failure, request);
    return withSessionCookies(lifecycle, session, answer, scope);
  };

  // async: an onError that throws rejects the returned promise, as everything else here does.
  const failed = async (error: unknown, request: Request): Promise<Response> => respond(lifecycle.loadFailure(error, request.method, request.url), request);

  return function latchkeySession(request: Request, ...args: Args): Promise<Response> {
    let scope: CookieScope;
    let opened: Session<object> | Promise<Session<object>>;
    try {
      const headers = request.headers;
      const context = new WebRequestContext(headers, ip, request, request.method);
      scope = webScope(lifecycle, headers, request.url, proxies);
      try {
        opened = lifecycle.open(context.cookieHeader, context, scope);
      } catch (error) {
        return failed(error, request);
      }
    } catch (error) {
      return Promise.reject(error);
    }
    // A near-cache hit is a Session, not a promise: the handler runs at once, not a microtask later (an await of it
    // cost a turn of the queue, and an async wrapper around run() two more, on every authenticated read).
    if (!(opened instanceof Promise)) return run(request, opened, scope, args);
    return opened.then(
      (session) => run(request, session, scope, args),
      (error: unknown) => failed(error, request),
    );
  };
}
