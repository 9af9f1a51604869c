// The demo's Express app: latchkey's sessions, the checks every form post
// passes (form body, size, CSRF token), the page, and every failure as a page
// with a sentence. The form handlers are in routes.ts.
import express from "express";
import { readCookie } from "../src/core/cookie.js";
import { SessionInputError, StoreUnavailableError, type Sessions, type SessionInfo } from "../src/core/index.js";
import { expressSessions } from "../src/adapters/express/index.js";
import { ADMIN, BadInput, capital, MAX_DEVICES, session, UNTIL, untilCookie, type Data, type Ended } from "./http.js";
import { page, type View } from "./page.js";
import { routes, type Send } from "./routes.js";

export type { Data } from "./http.js";

// The session layer's own failures (store down, session ended mid-request, a post without its token) as a page, never a trace.
const SESSION_FAILURES: Record<number, string> = {
  401: "This device was signed out while this request ran; nothing was saved.",
  403: "This request did not come from a form of this page (its CSRF token is missing); nothing was changed.",
  409: "Another request changed your session first; nothing was saved.",
  500: "Something went wrong on our side; nothing was saved.",
  503: "The session store cannot be reached right now; try again in a moment.",
};
const FORGED = "This form is out of date or did not come from this page (its CSRF token does not match); nothing was changed. Reload the page and try again.";

/**
 * The demo's Express app for one worker.
 * @example
 * demoApp(createSessions({ store, csrf: true }), "worker 1").listen(3000);
 */
export function demoApp(sessions: Sessions<Data>, worker: string): express.Express {
  const app = express();
  app.disable("x-powered-by");

  /**
   * Renders the page for this request's session. A post is trusted (its forms
   * rendered, its session read) only once its CSRF token was verified; an
   * untrusted one gets a bare page: the sentence and a link back.
   */
  const send: Send = async (req, res, status, extra) => {
    const trusted = !extra.bare && (req.method === "GET" || req.method === "HEAD" || res.locals.trusted === true);
    const s = trusted ? session(req) : undefined;
    let list: SessionInfo[] = [];
    if (s?.userId) {
      try {
        list = await sessions.list(s.userId);
      } catch (error) {
        console.error(`${worker}: listing sessions failed: ${(error as Error).message}`);
      }
      if (s.expiresAt) res.append("Set-Cookie", untilCookie(s.expiresAt));
    }
    const view: View = {
      ...{
        worker,
        userId: s?.userId ?? null,
        note: s?.get("note") ?? "",
        handle: s?.handle ?? null,
        sessions: list,
        csrf: s ? s.csrfToken : null,
        now: Date.now(),
      },
      ...{ impersonator: s?.impersonator ?? null, admin: s?.userId === ADMIN, maxDevices: MAX_DEVICES },
    };
    res
      .status(status)
      .set("Cache-Control", "no-store")
      .type("html")
      .send(page({ ...view, ...extra }));
  };

  app.use(
    expressSessions(sessions, {
      onError: (failure, req, res) => void send(req, res, failure.status, { error: SESSION_FAILURES[failure.status], bare: true }),
    }),
  );
  // A session cookie came in but named no live session (latchkey clears it in this response): say why, once.
  app.use((req, res, next) => {
    const header = req.headers.cookie;
    const until = readCookie(header, UNTIL)[0];
    if (until !== undefined && session(req).isNew && readCookie(header, sessions.cookie.name).length > 0) {
      res.locals.ended = (Date.now() < Number(until) ? "elsewhere" : "expired") satisfies Ended;
      res.append("Set-Cookie", untilCookie(null));
    }
    next();
  });
  // Forms post application/x-www-form-urlencoded; anything else is refused before it is read.
  app.post("*splat", (req, _res, next) => {
    next(
      req.is("application/x-www-form-urlencoded") === false
        ? new BadInput(415, `This page takes form posts (application/x-www-form-urlencoded), not ${String(req.headers["content-type"]).slice(0, 60)}.`)
        : undefined,
    );
  });
  app.use(express.urlencoded({ extended: false, limit: "16kb" }));
  app.post("*splat", (req, res, next) => {
    // A page left open on a device that was signed out meanwhile: its token names no session now; say so, change nothing.
    const ended = res.locals.ended as Ended | undefined;
    if (ended) return void res.redirect(303, `/?signed-out=${ended}`);
    // Until this, latchkey keeps the post's session locked: it reads as anonymous and refuses changes.
    if (!session(req).verifyCsrf((req.body as Record<string, unknown> | undefined)?._csrf)) return next(new BadInput(403, FORGED));
    res.locals.trusted = true;
    next();
  });

  app.use(routes(sessions, send));

  app.use((req, res) => void send(req, res, 404, { error: "There is no page at this address." }));
  // Every failure is a page with a sentence: 4xx for bad input, 503 for the store, 500 otherwise (logged, never shown).
  app.use((error: unknown, req: express.Request, res: express.Response, _next: express.NextFunction) => {
    const [status, sentence] = explain(error);
    if (status >= 500) console.error(`${worker}: ${req.method} ${req.originalUrl} failed:`, error);
    if (res.headersSent) return void res.destroy();
    void send(req, res, status, { error: sentence }).catch(() => res.destroy());
  });
  return app;
}

function explain(error: unknown): [number, string] {
  if (error instanceof BadInput) return [error.status, error.message];
  if (error instanceof StoreUnavailableError) return [503, "The session store cannot be reached right now; try again in a moment."];
  // latchkey refuses a bad user id or handle with a SessionInputError naming the field (the demo's own checks come first).
  if (error instanceof SessionInputError) return [400, capital(error.message.replace(/^latchkey: /, ""))];
  const type = (error as { type?: unknown }).type;
  if (type === "entity.too.large") return [413, "That form is too large: at most 16 KB."];
  if (type === "parameters.too.many") return [413, "That form has too many fields."];
  if (type === "charset.unsupported" || type === "encoding.unsupported") return [415, "That form's character set or encoding is not supported; send UTF-8."];
  const status = (error as { status?: unknown }).status;
  if (typeof status === "number" && status >= 400 && status < 500) return [status, "That request could not be read."];
  return [500, "Something went wrong on our side; it has been logged."];
}
