import type { Context, MiddlewareHandler, Next } from "hono";
import { HTTPException } from "hono/http-exception";
import type { JsonValue, Session, Sessions } from "../core/index.js";
import { Lifecycle, type SessionFailure } from "../http/lifecycle.js";
import { discard, failureResponse, firstForwarded, isSecure, WebRequestContext, withSessionCookies } from "../http/web.js";

export type { SessionFailure } from "../http/lifecycle.js";

/**
 * The Hono environment that types `c.var.session` / `c.get("session")`.
 * @example
 * type Data = { cart?: string[] };
 * const app = new Hono<SessionEnv<Data>>();
 * app.use(honoSessions(sessions));
 * app.get("/", (c) => c.json({ cart: c.var.session.get("cart") ?? [] }));
 */
export type SessionEnv<Data extends object = Record<string, JsonValue>> = {
  Variables: { session: Session<Data> };
};

export interface HonoSessionsOptions {
  /**
   * Behind a reverse proxy: take https from X-Forwarded-Proto and the client
   * address from X-Forwarded-For. Only when every request comes through that
   * proxy. Default false.
   */
  trustProxy?: boolean;
  /**
   * The client address, for the device list. Default: the socket's address on
   * @hono/node-server; elsewhere pass your runtime's, e.g.
   * `(c) => getConnInfo(c).remote.address` from `hono/bun` or `hono/deno`.
   */
  ip?: (c: Context) => string | undefined;
}

/**
 * Hono 4 middleware: the session at `c.var.session` / `c.get("session")`,
 * committed after `await next()` and before the response leaves (G8), its
 * cookie set on `c.res` (a response with immutable headers, such as
 * Response.redirect() or a passed-through fetch(), is copied). When the
 * session layer cannot serve, it throws an HTTPException (503 store down,
 * 401 session ended under a write, 409 conflict, 413 over maxDataBytes) whose response your
 * `app.onError` can return or replace; a store failure never lets the request
 * run as signed in (G6). A handler that throws commits none of its changes
 * (SessionDataTooLargeError, from a login() over maxDataBytes, that Hono's
 * default onError answered 500 is answered 413 instead).
 * @example
 * import { Hono } from "hono";
 * import { serve } from "@hono/node-server";
 * import { createSessions } from "latchkey";
 * import { sqliteStore } from "latchkey/sqlite";
 * import { honoSessions, type SessionEnv } from "latchkey/hono";
 *
 * const sessions = createSessions({ store: sqliteStore({ path: "./sessions.db" }) });
 * const app = new Hono<SessionEnv>();
 * app.use(honoSessions(sessions));
 * app.post("/login", async (c) => (await c.var.session.login("alice"), c.text("welcome")));
 * app.get("/", (c) => c.text(`hello ${c.var.session.userId ?? "stranger"}`));
 * serve({ fetch: app.fetch, port: 3000 });
 */
export function honoSessions<Data extends object>(sessions: Sessions<Data>, options: HonoSessionsOptions = {}): MiddlewareHandler<SessionEnv<Data>> {
  const lifecycle = new Lifecycle(sessions as Sessions<object>, "honoSessions");
  if (options.ip !== undefined && typeof options.ip !== "function") throw new TypeError("latchkey: honoSessions option ip must be a function (c) => string | undefined");
  const trustProxy = options.trustProxy === true;
  const address = options.ip;
  const ip = (context: WebRequestContext): string | undefined => {
    const c = context.owner as Context<{ Bindings: { incoming?: { socket?: { remoteAddress?: string } } } }>;
    if (address) return address(c);
    return (trustProxy ? firstForwarded(context.headers, "x-forwarded-for") : undefined) ?? c.env?.incoming?.socket?.remoteAddress;
  };

  const failed = (failure: SessionFailure, cookies?: readonly string[]): HTTPException =>
    new HTTPException(failure.status, { res: failureResponse(failure, cookies), message: failure.message, cause: failure.error });

  const run = async (c: Context<SessionEnv<Data>>, next: Next, session: Session<object>): Promise<void> => {
    c.set("session", session as Session<Data>);
    await next();
    // The handler threw and Hono's onError answered: keep none of its changes.
    if (c.error) {
      session.seal();
      // A login() over maxDataBytes answered 500 by onError (Hono's default) is a 413, as an over-size commit is.
      const known = c.res.status === 500 ? lifecycle.handlerFailure(c.error, c.req.method, c.req.url) : null;
      if (known) {
        discard(c.res);
        c.res = undefined;
        c.res = failureResponse(known);
      }
      return;
    }
    // A read: nothing to commit and no cookie, so nothing to compute.
    if (!lifecycle.mustHold(session)) return void session.seal();
    const secure = isSecure(c.req.url, c.req.raw.headers, trustProxy);
    const settling = lifecycle.settle(session, c.req.method, c.req.url);
    const failure = settling && (await settling);
    if (failure) {
      discard(c.res);
      c.res = undefined; // else Hono merges the handler's headers into the failure's response
      throw failed(failure, lifecycle.setCookie(session, undefined, secure));
    }
    const response = c.res;
    const sent = withSessionCookies(lifecycle, session, response, secure);
    if (sent !== response) {
      c.res = undefined; // the copy already has the handler's headers; setting it over c.res would merge them again
      c.res = sent;
    }
  };

  return function latchkeySession(c, next) {
    const headers = c.req.raw.headers;
    const context = new WebRequestContext(headers, ip, c);
    const opened = lifecycle.open(headers.get("cookie") ?? undefined, context);
    if (!(opened instanceof Promise)) return run(c, next, opened);
    return opened.then(
      (session) => run(c, next, session),
      (error: unknown) => {
        throw failed(lifecycle.loadFailure(error, c.req.method, c.req.url));
      },
    );
  };
}
