import type { FastifyPluginCallback, FastifyReply, FastifyRequest } from "fastify";
import type { JsonValue, Session, Session as LatchkeySession, Sessions } from "../../core/index.js";
import { writeFailure, type RawAdapter } from "../../http/hold.js";
import { HoldOnChange } from "../../http/watch.js";
import { failureAnswer, Lifecycle, SessionFailureError, type CookieScope } from "../../http/lifecycle.js";

export type { SessionFailure } from "../../http/lifecycle.js";
export { SessionFailureError } from "../../http/lifecycle.js";

/**
 * Declare your session data once to type `request.session` everywhere:
 * @example
 * declare module "latchkey/fastify" {
 *   interface Register { data: { cart?: string[]; theme?: string } }
 * }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- an app fills it in by declaration merging
export interface Register {}

export type RegisteredData = Register extends { data: infer D extends object } ? D : Record<string, JsonValue>;

declare module "fastify" {
  interface FastifyRequest {
    /** The latchkey session of this request (set by fastifySessions). */
    // (Named through an alias: inside this block `Session` would mean fastify's own, which @fastify/session declares.)
    session: LatchkeySession<RegisteredData>;
  }
}

export interface FastifySessionsOptions {
  /** The object returned by createSessions(). */
  sessions: Sessions<any>;
}

const HOLD = Symbol("latchkey.hold");
type Held = FastifyRequest & { [HOLD]: HoldOnChange | null };

/**
 * Fastify 5 plugin: `request.session` in every route of the instance it is
 * registered on (and its children), loaded in onRequest and committed in
 * onSend, before anything is written (G8). A store failure is a 503 error
 * (through your error handler, if any) and the route never runs as signed in (G6).
 * After `reply.hijack()` the raw response is held instead: a session change
 * made before or after the hijack is committed before the status line goes out.
 * @example
 * import Fastify from "fastify";
 * import { createSessions } from "latchkey";
 * import { sqliteStore } from "latchkey/sqlite";
 * import { fastifySessions } from "latchkey/fastify";
 *
 * const sessions = createSessions({ store: sqliteStore({ path: "./sessions.db" }) });
 * const app = Fastify();
 * await app.register(fastifySessions, { sessions });
 * app.post("/login", async (request) => {
 *   await request.session.login("alice");
 *   return "hello alice";
 * });
 */
export const fastifySessions: FastifyPluginCallback<FastifySessionsOptions> = withPluginMeta(function latchkey(app, options, done) {
  let lifecycle: Lifecycle;
  try {
    lifecycle = new Lifecycle((options ?? ({} as FastifySessionsOptions)).sessions as Sessions<object>, "fastifySessions");
  } catch (error) {
    done(error as Error);
    return;
  }
  // Only for a hijacked reply: Fastify's own path commits in onSend.
  const adapter: RawAdapter = {
    secure: (_raw, request) => (request as FastifyRequest).protocol === "https",
    // Fastify's trustProxy rules, only when asked for.
    ip: (_raw, request) => (request as FastifyRequest).ip,
    url: (raw) => raw.url,
    respond: (failure, _raw, res) => writeFailure(failure, res),
  };

  app.decorateRequest("session", null as never);
  app.decorateRequest(HOLD, null);

  const attach = (request: FastifyRequest, holder: HoldOnChange, session: Session<object>): void => {
    (request as { session: unknown }).session = session;
    (request as Held)[HOLD] = holder.attach(session);
  };

  app.addHook("onRequest", function loadSession(request, reply, next) {
    // One object per request: the session's RequestContext, its first-change hook and (on a change) the raw hold.
    const holder = new HoldOnChange(lifecycle, adapter, request.raw, reply.raw, request);
    const opened = lifecycle.open(request.headers.cookie, holder, holder.scope);
    if (!(opened instanceof Promise)) {
      attach(request, holder, opened);
      next();
      return;
    }
    opened.then(
      (session) => {
        attach(request, holder, session);
        next();
      },
      (error: unknown) => next(new SessionFailureError(lifecycle.loadFailure(error, request.method, request.url))),
    );
  });

  app.addHook("onSend", function commitSession(request, reply, payload, next) {
    const holder = (request as Held)[HOLD];
    // No session (answered before it loaded), already settled (an error answer after a failed commit), or a raw write engaged the hold.
    if (!holder || !holder.takeOver()) {
      next(null, payload);
      return;
    }
    (request as Held)[HOLD] = null;
    const session = holder.session;
    const settling = lifecycle.settle(session, request.method, request.url);
    if (!settling) {
      if (lifecycle.mustHold(session)) setCookie(lifecycle, session, holder.scope, reply);
      next(null, payload);
      return;
    }
    settling.then((failure) => {
      // Fastify let a later send (an error thrown after reply.send()) answer meanwhile: that answer stands.
      if (reply.raw.headersSent) return;
      if (!failure) {
        setCookie(lifecycle, session, holder.scope, reply);
        next(null, payload);
        return;
      }
      // The handler's answer is dropped: a client never sees success for a change that was not stored.
      (payload as { destroy?: () => void } | null)?.destroy?.();
      for (const name of Object.keys(reply.getHeaders())) reply.removeHeader(name);
      const answer = failureAnswer(failure);
      reply.code(answer.status).headers(answer.headers);
      setCookie(lifecycle, session, holder.scope, reply);
      next(null, answer.body);
    }, next);
  });
  done();
});

export default fastifySessions;

/**
 * What `fastify-plugin` would do, without making apps install it: skip Fastify's encapsulation (so the
 * hooks and `request.session` reach the scope the plugin is registered in and its children), and give
 * Fastify the name and the version range it checks at registration.
 */
function withPluginMeta(plugin: FastifyPluginCallback<FastifySessionsOptions>): FastifyPluginCallback<FastifySessionsOptions> {
  Object.assign(plugin, {
    [Symbol.for("skip-override")]: true,
    [Symbol.for("fastify.display-name")]: "latchkey",
    [Symbol.for("plugin-meta")]: { fastify: "5.x", name: "latchkey" },
  });
  return plugin;
}

function setCookie(lifecycle: Lifecycle, session: Session<object>, scope: CookieScope, reply: FastifyReply): void {
  const cookies = lifecycle.setCookie(session, reply.getHeader("set-cookie"), scope);
  if (cookies) {
    // reply.header() appends to set-cookie: replace the list (it already holds the app's cookies).
    reply.removeHeader("set-cookie");
    reply.header("set-cookie", cookies);
  }
  if (lifecycle.mustNotStore(session)) reply.header("cache-control", "no-store");
}
