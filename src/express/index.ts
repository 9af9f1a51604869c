import type { IncomingMessage, ServerResponse } from "node:http";
import type { NextFunction, Request, RequestHandler, Response } from "express";
import type { JsonValue, RequestContext, Session, Sessions } from "../core/index.js";
import { watch, writeFailure, type RawAdapter } from "../http/hold.js";
import { Lifecycle, type SessionFailure } from "../http/lifecycle.js";

export type { SessionFailure } from "../http/lifecycle.js";

/**
 * Declare your session data once to type `req.session` everywhere:
 * @example
 * declare module "latchkey/express" {
 *   interface Register { data: { cart?: string[]; theme?: string } }
 * }
 */
// eslint-disable-next-line @typescript-eslint/no-empty-interface
export interface Register {}

export type RegisteredData = Register extends { data: infer D extends object } ? D : Record<string, JsonValue>;

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace
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
   * the session ended while this request changed it (401), or a version
   * conflict (409). Default: a short plain-text answer with that status.
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
    respond: respond as RawAdapter["respond"],
  };

  return function latchkeySession(req: Request, res: Response, next: NextFunction): void {
    const request = new ExpressRequestContext(req);
    const opened = lifecycle.open(req.headers.cookie, request);
    if (!(opened instanceof Promise)) {
      attach(lifecycle, adapter, opened, req, res, next);
      return;
    }
    opened.then(
      (session) => attach(lifecycle, adapter, session, req, res, next),
      (error: unknown) => respond(lifecycle.loadFailure(error, req.method, req.originalUrl), req, res),
    );
  };
}

function attach(lifecycle: Lifecycle, adapter: RawAdapter, session: Session<object>, req: Request, res: Response, next: NextFunction): void {
  (req as { session: unknown }).session = session;
  watch(lifecycle, adapter, session, req as IncomingMessage, res as ServerResponse);
  next();
}

/** What the session may ask of the request; the address goes through Express's trust-proxy rules, only when asked for. */
class ExpressRequestContext implements RequestContext {
  readonly #req: Request;
  constructor(req: Request) {
    this.#req = req;
  }
  get cookieHeader(): string | undefined {
    return this.#req.headers.cookie;
  }
  get userAgent(): string | undefined {
    return this.#req.headers["user-agent"];
  }
  ip(): string | undefined {
    return this.#req.ip;
  }
}

function defaultFailureResponse(failure: SessionFailure, _req: Request, res: Response): void {
  writeFailure(failure, res as ServerResponse);
}

