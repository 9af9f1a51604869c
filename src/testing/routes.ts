// The test routes every adapter serves, defined once without a framework:
// each route reads the request's session and returns an Outcome that a small
// per-framework "make a server" function (servers.ts) turns into a response.
// Routes use query strings only, so no body parser is involved.
import { writeFileSync } from "node:fs";
import type { Session, Sessions } from "../core/index.js";

export interface RouteInput {
  session: Session;
  /** The one path parameter (`:param`), decoded. */
  param: string;
  query: URLSearchParams;
  /** When the request reached the process, on CLOCK_MONOTONIC (the same clock in every process of the machine). */
  arrivedAt: bigint;
}

/** How the framework must answer. */
export type Outcome =
  /** A JSON body, with a cookie of the app's own when `setCookie` is given and a Cache-Control of the app's when `cacheControl` is (set the framework's usual way). */
  | { kind: "json"; status: number; body: unknown; setCookie?: string; cacheControl?: string }
  /** A body streamed in chunks, the framework's usual way (the commit must happen before the first byte). */
  | { kind: "stream"; chunks: string[] }
  /** A text answer, then `after()` once the answer was handed to the framework (it may throw: an error after the response started). */
  | { kind: "then"; text: string; after: () => void }
  /** Bypass the framework and write the node:http response directly (Fastify: reply.hijack(); Koa: ctx.respond = false). */
  | { kind: "raw"; chunks: string[] };

export interface Route {
  method: "GET" | "POST";
  /** "/name" or "/name/:param". */
  path: string;
  handle(input: RouteInput): Outcome | Promise<Outcome>;
  /** Errors it throws reach the framework's own error handling (an app that does not catch them). */
  rethrows?: boolean;
}

const json = (body: unknown, status = 200): Outcome => ({ kind: "json", status, body });
const value = (query: URLSearchParams): never => JSON.parse(query.get("value") ?? "null") as never;

/** The routes, for one sessions manager. Errors a route throws answer `{ error, message }` with the error's `status` (or 500). */
export function testRoutes(sessions: Sessions): Route[] {
  const waiting: Array<() => void> = [];
  const lateErrors: string[] = [];
  const resolvedAt = () => String(process.hrtime.bigint());
  const view = ({ session, arrivedAt }: RouteInput) => ({
    pid: process.pid,
    userId: session.userId,
    handle: session.handle,
    data: session.toJSON(),
    arrivedAt: String(arrivedAt),
  });
  const routes: Route[] = [
    { method: "GET", path: "/whoami", handle: (input) => json(view(input)) },
    // `options`: login()'s options as JSON, e.g. {"persistent":false}.
    {
      method: "POST",
      path: "/login/:param",
      handle: async (input) => {
        const options = input.query.get("options");
        await (options === null ? input.session.login(input.param) : input.session.login(input.param, JSON.parse(options) as never));
        return json({ ...view(input), resolvedAt: resolvedAt() });
      },
    },
    {
      method: "POST",
      path: "/reauthenticate",
      handle: async (input) => (await input.session.reauthenticate(), json({ ...view(input), authenticatedAt: input.session.authenticatedAt })),
    },
    {
      method: "POST",
      path: "/impersonate/:param",
      handle: async (input) => (await input.session.impersonate(input.param), json({ ...view(input), impersonator: input.session.impersonator })),
    },
    {
      method: "POST",
      path: "/stop-impersonating",
      handle: async (input) => (await input.session.stopImpersonating(), json({ ...view(input), impersonator: input.session.impersonator })),
    },
    {
      method: "GET",
      path: "/fresh",
      handle: (input) =>
        json({
          fresh: input.session.isFresh(Number(input.query.get("ms") ?? 60_000)),
          authenticatedAt: input.session.authenticatedAt,
          impersonator: input.session.impersonator,
        }),
    },
    { method: "POST", path: "/logout", handle: async (input) => (await input.session.logout(), json({ ...view(input), resolvedAt: resolvedAt() })) },
    // `delay` (ms): the request has loaded the session, and waits that long before writing (an overlapping request).
    {
      method: "POST",
      path: "/set/:param",
      handle: async (input) => {
        const delay = Number(input.query.get("delay") ?? 0);
        if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
        input.session.set(input.param, value(input.query));
        return json(view(input));
      },
    },
    // Sign-in features (issue 17): a bearer login answers its token in the body; a form handler verifies its field (here from the path: no body parser).
    {
      method: "POST",
      path: "/login-bearer/:param",
      handle: async (input) => (await input.session.login(input.param, { transport: "bearer" }), json({ ...view(input), token: input.session.token })),
    },
    { method: "GET", path: "/csrf", handle: ({ session }) => json({ csrfToken: session.csrfToken }) },
    {
      method: "POST",
      path: "/form/:param",
      handle: ({ session, param }) => {
        const before = session.userId;
        const verified = session.verifyCsrf(param);
        if (verified) session.set("formed", true);
        return json({ before, verified, userId: session.userId });
      },
    },
    { method: "POST", path: "/flash/:param", handle: (input) => (input.session.flash("notice", input.param), json(view(input))) },
    { method: "GET", path: "/flashes", handle: ({ session }) => json(session.flashes()) },
    // Sets `key` (default "note") to `value`, then signs in as the param; its errors go to the framework.
    {
      method: "POST",
      path: "/set-and-login/:param",
      rethrows: true,
      handle: async (input) => {
        input.session.set(input.query.get("key") ?? "note", value(input.query));
        await input.session.login(input.param);
        return json(view(input));
      },
    },
    { method: "POST", path: "/logout-others", handle: async (input) => json({ count: await input.session.logoutOthers(), resolvedAt: resolvedAt() }) },
    { method: "POST", path: "/unset/:param", handle: (input) => (input.session.unset(input.param), json(view(input))) },
    { method: "POST", path: "/revoke-user/:param", handle: async ({ param }) => json({ count: await sessions.revokeUser(param), resolvedAt: resolvedAt() }) },
    { method: "GET", path: "/list/:param", handle: async ({ param }) => json(await sessions.list(param)) },
    { method: "POST", path: "/revoke/:param", handle: async ({ param }) => json({ revoked: await sessions.revoke(param), resolvedAt: resolvedAt() }) },
    // Blocks this process's event loop, as a long synchronous task would; `marker`: a file written first, so a test knows it started.
    {
      method: "GET",
      path: "/busy",
      handle: ({ query }) => {
        const marker = query.get("marker");
        if (marker) writeFileSync(marker, "busy");
        const until = Date.now() + Number(query.get("ms") ?? 100);
        while (Date.now() < until);
        return json({ busy: true });
      },
    },
    { method: "GET", path: "/stats", handle: () => json(sessions.stats()) },
    // What the adapter passed as the session's RequestContext.
    {
      method: "GET",
      path: "/context",
      handle: ({ session }) => json({ ip: session.request?.ip(), userAgent: session.request?.userAgent, cookieHeader: session.request?.cookieHeader }),
    },
    // A slow request: it has loaded the session, then waits for /release before writing.
    {
      method: "POST",
      path: "/slow/set/:param",
      handle: async (input) => {
        await new Promise<void>((resolve) => waiting.push(resolve));
        input.session.set(input.param, value(input.query));
        return json(view(input));
      },
    },
    { method: "GET", path: "/waiting", handle: () => json({ waiting: waiting.length }) },
    { method: "POST", path: "/release", handle: () => json({ released: waiting.splice(0).map((resolve) => resolve()).length }) },
    // Streams its body: the session must be committed before the first byte.
    {
      method: "GET",
      path: "/stream/:param",
      handle: (input) => (input.session.set(input.param, "streamed"), { kind: "stream", chunks: ["one\n", "two\n", "three\n"] }),
    },
    // The handler answers, then fails: the answer stands, the session change is kept, the process survives.
    {
      method: "GET",
      path: "/send-then-throw",
      handle: ({ session }) => {
        session.set("sent", true);
        return {
          kind: "then",
          text: "sent",
          after: () => {
            throw new Error("after send");
          },
        };
      },
    },
    // Changing the session after the response started cannot reach the client: it throws.
    {
      method: "GET",
      path: "/late-set",
      handle: ({ session }) => ({
        kind: "then",
        text: "done",
        after: () => {
          try {
            session.set("late", true);
          } catch (error) {
            lateErrors.push((error as Error).name);
          }
        },
      }),
    },
    { method: "GET", path: "/late-errors", handle: () => json(lateErrors) },
    // The app sets a cookie of its own beside a session change: both reach the client, once each.
    {
      method: "POST",
      path: "/own-cookie/:param",
      handle: (input) => (input.session.set("own", input.param), { kind: "json", status: 200, body: view(input), setCookie: `own=${input.param}; Path=/` }),
    },
    // The app marks the answer cacheable by anyone (as express.static does): login's token must still never be stored.
    {
      method: "POST",
      path: "/public/login/:param",
      handle: async (input) => (await input.session.login(input.param), { kind: "json", status: 200, body: view(input), cacheControl: "public, max-age=600" }),
    },
    { method: "GET", path: "/public/whoami", handle: (input) => ({ kind: "json", status: 200, body: view(input), cacheControl: "public, max-age=600" }) },
    // The app takes the response over from the framework: the change is still committed before the status line.
    { method: "GET", path: "/raw/:param", handle: (input) => (input.session.set(input.param, "raw"), { kind: "raw", chunks: ["raw ", "answer\n"] }) },
    // A read, then the app takes the response over: nothing to hold; a change afterwards throws.
    {
      method: "GET",
      path: "/raw-read",
      handle: ({ session }) => ({ kind: "raw", chunks: [`${session.userId ?? "anonymous"}\n`] }),
    },
  ];
  return routes;
}

/** Runs a route, turning a thrown error into its JSON answer (unless the route `rethrows`). */
export async function runRoute(route: Route, input: RouteInput): Promise<Outcome> {
  if (route.rethrows) return route.handle(input);
  try {
    return await route.handle(input);
  } catch (error) {
    const { name, message, status } = error as Error & { status?: number };
    return json({ error: name, message }, typeof status === "number" ? status : 500);
  }
}
