import type { ServerResponse } from "node:http";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { JsonValue, Session, Sessions } from "../../core/index.js";
import { writeFailure, type RawAdapter } from "../../http/hold.js";
import { Exchange, watch } from "../../http/watch.js";
import { Lifecycle, type SessionFailure } from "../../http/lifecycle.js";

export type { SessionFailure } from "../../http/lifecycle.js";

/**
 * Declare your session data once to type `req.session` everywhere:
 * @example
 * declare module "latchkey/express" {
 *   interface Register { data: { cart?: string[]; theme?: string } }
 * }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-object-type -- an app fills it in by declaration merging
export interface Register {}

export type RegisteredData = Register extends { data: infer D extends object } ? D : Record<string, JsonValue>;

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace -- Express's own types declare Request in the global Express namespace
  namespace Express {
    interface Request {
      /** The latchkey session of this request (set by expressSessions()). */
      session: Session<RegisteredData>;
    }
  }
}

export interface ExpressSessionsOptions {
  /**
   * Answer a request the session layer cannot serve: the store is down (503),
   * the session ended while this request changed it (401), a version
   * conflict (409), or the session data would be over maxDataBytes (413).
   * Default: a short plain-text answer with that status.
   */
  onError?: (failure: SessionFailure, req: Request, res: Response) => void;
}

/**
 * Express 4 and 5 middleware: `req.session` on every request, committed
 * before the status line goes out (G8). A store failure answers 503 and the
 * request never runs as signed in (G6).
 * @example
 * import express from "express";
 * import { createSessions } from "latchkey";
 * import { sqliteStore } from "latchkey/sqlite";
 * import { expressSessions } from "latchkey/express";
 *
 * const sessions = createSessions({ store: sqliteStore({ path: "./sessions.db" }) });
 * const app = express();
 * app.use(expressSessions(sessions));
 * app.post("/login", async (req, res) => {
 *   await req.session.login("alice");
 *   res.send("hello alice");
 * });
 */
export function expressSessions<Data extends object>(sessions: Sessions<Data>, options: ExpressSessionsOptions = {}): RequestHandler {
  const lifecycle = new Lifecycle(sessions as Sessions<object>, "expressSessions");
  if (options.onError !== undefined && typeof options.onError !== "function") {
    throw new TypeError("latchkey: expressSessions onError must be a function (failure, req, res) => void");
  }
  const respond = options.onError ?? defaultFailureResponse;
  const adapter: RawAdapter = {
    secure: (req) => (req as Request).secure,
    url: (req) => (req as Request).originalUrl,
    // Through Express's trust-proxy rules, only when asked for.
    ip: (req) => (req as Request).ip,
    respond: respond as RawAdapter["respond"],
  };

  return function latchkeySession(req: Request, res: Response, next: NextFunction): void {
    // One object per request: the response watcher, the session's RequestContext and its first-change hook.
    const exchange = new Exchange(lifecycle, adapter, req, res);
    const opened = lifecycle.open(req.headers.cookie, exchange, exchange.scope);
    if (!(opened instanceof Promise)) {
      attach(exchange, opened, next);
      return;
    }
    opened.then(
      (session) => attach(exchange, session, next),
      (error: unknown) => respond(lifecycle.loadFailure(error, req.method, req.originalUrl), req, res),
    );
  };
}

function attach(exchange: Exchange, session: Session<object>, next: NextFunction): void {
  // watch() first: it finds an outer exchange (mounted twice) through the req.session set before this one.
  watch(exchange, session);
  (exchange.req as { session?: unknown }).session = session;
  next();
}

function defaultFailureResponse(failure: SessionFailure, _req: Request, res: Response): void {
  writeFailure(failure, res as ServerResponse);
}
