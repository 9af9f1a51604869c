import type { JsonValue, Session, Sessions } from "../core/index.js";
import { Lifecycle, type SessionFailure } from "../http/lifecycle.js";
import { discard, failureResponse, firstForwarded, isSecure, WebRequestContext, withSessionCookies } from "../http/web.js";

export type { SessionFailure } from "../http/lifecycle.js";
export { failureResponse } from "../http/web.js";
export { SessionFailureError } from "../http/lifecycle.js";
export { withCookieSession, type CookieAttributes, type CookieJar, type CookieSessionOptions } from "./cookies.js";

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
   * Behind a reverse proxy: take https from X-Forwarded-Proto and the client
   * address from X-Forwarded-For. Only when every request comes through that
   * proxy. Default false.
   */
  trustProxy?: boolean;
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
  const trustProxy = options.trustProxy === true;
  const address = options.ip;
  const respond = options.onError ?? ((failure: SessionFailure) => failureResponse(failure));
  const ip = (context: WebRequestContext): string | undefined =>
    address?.(context.owner as Request) ?? (trustProxy ? firstForwarded(context.headers, "x-forwarded-for") : undefined);

  const run = async (request: Request, session: Session<object>, args: Args): Promise<Response> => {
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
    if (!lifecycle.mustHold(session)) return session.seal(), response;
    const secure = isSecure(request.url, request.headers, trustProxy);
    const settling = lifecycle.settle(session, request.method, request.url);
    const failure = settling && (await settling);
    if (!failure) return withSessionCookies(lifecycle, session, response, secure);
    discard(response);
    const answer = await respond(failure, request);
    return withSessionCookies(lifecycle, session, answer, secure);
  };

  return async function latchkeySession(request: Request, ...args: Args): Promise<Response> {
    const context = new WebRequestContext(request.headers, ip, request);
    let session: Session<object>;
    try {
      session = await lifecycle.open(context.cookieHeader, context);
    } catch (error) {
      return respond(lifecycle.loadFailure(error, request.method, request.url), request);
    }
    return run(request, session, args);
  };
}
