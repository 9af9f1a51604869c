import type { Context, Middleware, Next } from "koa";
import type { JsonValue, Session, Sessions } from "../../core/index.js";
import { writeFailure, type RawAdapter } from "../../http/hold.js";
import { HoldOnChange } from "../../http/watch.js";
import { Lifecycle, SessionFailureError } from "../../http/lifecycle.js";

export type { SessionFailure } from "../../http/lifecycle.js";
export { SessionFailureError } from "../../http/lifecycle.js";

/**
 * Declare your session data once to type `ctx.session` everywhere:
 * @example
 * declare module "latchkey/koa" {
 *   interface Register { data: { cart?: string[]; theme?: string } }
 * }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- an app fills it in by declaration merging
export interface Register {}

export type RegisteredData = Register extends { data: infer D extends object } ? D : Record<string, JsonValue>;

declare module "koa" {
  interface DefaultContext {
    /** The latchkey session of this request (set by koaSessions()). */
    session: Session<RegisteredData>;
  }
}

/**
 * Koa 2 and 3 middleware: `ctx.session` downstream, committed after
 * `await next()` and before Koa writes the response (G8). When the session
 * layer cannot serve, it throws a SessionFailureError carrying `status`
 * (503 store down, 401 session ended under a write, 409 conflict, 413 over
 * maxDataBytes), `expose`
 * and `headers`, for Koa's onerror or your own error middleware; a store
 * failure never lets the request run as signed in (G6). With
 * `ctx.respond = false`, writes to `ctx.res` are held until the commit.
 * @example
 * import Koa from "koa";
 * import { createSessions } from "latchkey";
 * import { sqliteStore } from "latchkey/sqlite";
 * import { koaSessions } from "latchkey/koa";
 *
 * const sessions = createSessions({ store: sqliteStore({ path: "./sessions.db" }) });
 * const app = new Koa();
 * app.use(koaSessions(sessions));
 * app.use(async (ctx) => {
 *   if (ctx.path === "/login") await ctx.session.login("alice");
 *   ctx.body = `hello ${ctx.session.userId ?? "stranger"}`;
 * });
 */
export function koaSessions<Data extends object>(sessions: Sessions<Data>): Middleware {
  const lifecycle = new Lifecycle(sessions as Sessions<object>, "koaSessions");
  // Only for writes to ctx.res that Koa does not make (ctx.respond = false, or an error answer).
  const adapter: RawAdapter = {
    secure: (_req, ctx) => (ctx as Context).secure,
    // Koa's app.proxy rules, only when asked for.
    ip: (_req, ctx) => (ctx as Context).ip,
    url: (req) => req.url,
    respond: (failure, _req, res) => writeFailure(failure, res),
  };

  const run = async (ctx: Context, next: Next, holder: HoldOnChange, session: Session<object>): Promise<void> => {
    (ctx as { session: unknown }).session = session;
    holder.attach(session);
    try {
      await next();
    } catch (error) {
      // Koa answers the error; a change made before it is committed (through the hold) before that answer goes out.
      if (!holder.hold) session.seal();
      throw error;
    }
    // A raw write (ctx.respond = false) already engaged the hold, which commits and answers itself.
    if (!holder.takeOver()) return;
    const settling = lifecycle.settle(session, ctx.method, ctx.originalUrl);
    const failure = settling && (await settling);
    // A read sends no cookie: the response's Set-Cookie is looked at only when one goes out.
    const cookies = session.hasCookiesToSend ? lifecycle.setCookie(session, ctx.response.get("set-cookie") || undefined, holder.scope) : undefined;
    if (failure) throw new SessionFailureError(failure, cookies ? { "set-cookie": cookies } : {});
    if (cookies) ctx.set("set-cookie", cookies);
    if (lifecycle.mustNotStore(session)) ctx.set("cache-control", "no-store");
  };

  return function latchkeySession(ctx: Context, next: Next): Promise<void> {
    // One object per request: the session's RequestContext, its first-change hook and (on a change) the raw hold.
    const holder = new HoldOnChange(lifecycle, adapter, ctx.req, ctx.res, ctx);
    const opened = lifecycle.open(ctx.headers.cookie, holder, holder.scope);
    if (!(opened instanceof Promise)) return run(ctx, next, holder, opened);
    return opened.then(
      (session) => run(ctx, next, holder, session),
      (error: unknown) => {
        throw new SessionFailureError(lifecycle.loadFailure(error, ctx.method, ctx.originalUrl));
      },
    );
  };
}
