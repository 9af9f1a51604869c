import type { Context, MiddlewareHandler, Next } from "hono";
import { HTTPException } from "hono/http-exception";
import type { JsonValue, Session, Sessions } from "../../core/index.js";
import { Lifecycle, type CookieScope, type SessionFailure } from "../../http/lifecycle.js";
import { resolveTrustProxy } from "../../http/transport.js";
import { discard, failureResponse, forwardedFor, WebRequestContext, webScope, withSessionCookies } from "../../http/web.js";

export type { SessionFailure } from "../../http/lifecycle.js";

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
   * The number of reverse proxies in front of the app (each appends to
   * X-Forwarded-For): the client address is the entry that many from the
   * right, and https is read from X-Forwarded-Proto the same way, as Express's
   * `trust proxy` with a count. Entries further left are written by the client
   * and never used. Only when every request comes through those proxies.
   * Default 0: nothing forwarded is trusted. (`true` is refused: give a count.)
   */
  trustProxy?: number | false;
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
  if (options.ip !== undefined && typeof options.ip !== "function")
    throw new TypeError("latchkey: honoSessions option ip must be a function (c) => string | undefined");
  const proxies = resolveTrustProxy(options.trustProxy, "honoSessions");
  const address = options.ip;
  const ip = (context: WebRequestContext): string | undefined => {
    const c = context.owner as Context<{ Bindings: { incoming?: { socket?: { remoteAddress?: string } } } }>;
    if (address) return address(c);
    return forwardedFor(context.headers, proxies) ?? c.env?.incoming?.socket?.remoteAddress;
  };

  const failed = (failure: SessionFailure, cookies?: readonly string[]): HTTPException =>
    new HTTPException(failure.status, { res: failureResponse(failure, cookies), message: failure.message, cause: failure.error });

  const run = async (c: Context<SessionEnv<Data>>, next: Next, session: Session<object>, scope: CookieScope): Promise<void> => {
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
    const settling = lifecycle.settle(session, c.req.method, c.req.url);
    const failure = settling && (await settling);
    if (failure) {
      discard(c.res);
      c.res = undefined; // else Hono merges the handler's headers into the failure's response
      throw failed(failure, lifecycle.setCookie(session, undefined, scope));
    }
    const response = c.res;
    const sent = withSessionCookies(lifecycle, session, response, scope);
    if (sent !== response) {
      c.res = undefined; // the copy already has the handler's headers; setting it over c.res would merge them again
      c.res = sent;
    }
  };

  return function latchkeySession(c, next) {
    const headers = c.req.raw.headers;
    const context = new WebRequestContext(headers, ip, c, c.req.method);
    const scope = webScope(lifecycle, headers, c.req.url, proxies);
    const opened = lifecycle.open(headers.get("cookie") ?? undefined, context, scope);
    if (!(opened instanceof Promise)) return run(c, next, opened, scope);
    return opened.then(
      (session) => run(c, next, session, scope),
      (error: unknown) => {
        throw failed(lifecycle.loadFailure(error, c.req.method, c.req.url));
      },
    );
  };
}
