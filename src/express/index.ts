import type { NextFunction, Request, RequestHandler, Response } from "express";
import {
  readCookie,
  serializeCookie,
  SessionSealedError,
  SessionValueError,
  StoreUnavailableError,
  type JsonValue,
  type RequestContext,
  type Session,
  type Sessions,
} from "../core/index.js";

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

export interface SessionFailure {
  status: 401 | 409 | 500 | 503;
  message: string;
  error?: unknown;
}

type Deferred = () => void;

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
  if (!sessions || typeof (sessions as { load?: unknown }).load !== "function") {
    throw new TypeError("latchkey: expressSessions(sessions) needs the object returned by createSessions()");
  }
  if (options.onError !== undefined && typeof options.onError !== "function") {
    throw new TypeError("latchkey: expressSessions onError must be a function (failure, req, res) => void");
  }
  const cookie = sessions.cookie;
  const respond = options.onError ?? defaultFailureResponse;

  return function latchkeySession(req: Request, res: Response, next: NextFunction): void {
    const values = readCookie(req.headers.cookie, cookie.name);
    const request = new ExpressRequestContext(req);
    // A near-cache hit is answered synchronously; everything else goes through the store.
    const cached = sessions.loadCached(values, request);
    if (cached) {
      attach(req, res, next, cached as Session<object>, sessions as Sessions<object>, respond);
      return;
    }
    sessions.load(values, request).then(
      (session) => attach(req, res, next, session as Session<object>, sessions as Sessions<object>, respond),
      (error: unknown) => {
        sessions.logger.error(`${prefixed(describe(error))} — answering 503 for ${req.method} ${req.originalUrl}`);
        respond({ status: 503, message: "Service Unavailable: the session store cannot be reached", error }, req, res);
      },
    );
  };
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

/** The response methods latchkey may hold back, in the order Node calls them. */
const HELD = ["writeHead", "write", "end", "flushHeaders"] as const;
type HeldName = (typeof HELD)[number];
type Method = (...args: unknown[]) => unknown;

/** Per response: the methods found at attach time, whether one was called, and the hold once there is one. */
interface ResponseState {
  originals: Record<HeldName, Method>;
  started: boolean;
  hold: Record<HeldName, Method> | null;
}

// The state lives in a WeakMap, not on the response: a symbol-keyed property
// added to every ServerResponse slowed Node's own HTTP code on it by about
// 20 µs a request (measured); the four method slots below do not.
const states = new WeakMap<object, ResponseState>();

/** Until there is a hold, note that the response started and pass through; then go through the hold. */
function through(state: ResponseState, name: HeldName, res: Response, args: unknown[]): unknown {
  if (state.hold) return state.hold[name]!.apply(res, args);
  state.started = true;
  return state.originals[name]!.apply(res, args);
}

const tracking = Object.fromEntries(
  HELD.map((name) => [
    name,
    function (this: Response, ...args: unknown[]): unknown {
      return through(states.get(this)!, name, this, args);
    },
  ]),
) as Record<HeldName, Method>;

/**
 * Installs the tracking methods on the response as own properties (one shared
 * function each, no closure per request), at attach time: a middleware mounted
 * later that wraps res.end (and calls it later) then still goes through the
 * hold, and an Express sub-app that re-prototypes the response does not
 * remove them.
 */
function track(res: Response): ResponseState {
  const own = res as unknown as Record<HeldName, Method>;
  const state: ResponseState = {
    originals: { writeHead: own.writeHead, write: own.write, end: own.end, flushHeaders: own.flushHeaders },
    started: false,
    hold: null,
  };
  if (states.has(res)) {
    // Mounted again on the same request (a second session manager, or the same one
    // twice): this layer wraps the outer one with closures of its own, since the
    // shared functions would find (and call) themselves.
    for (const name of HELD) own[name] = layered(state, name);
    return state;
  }
  states.set(res, state);
  for (const name of HELD) own[name] = tracking[name];
  return state;
}

function layered(state: ResponseState, name: HeldName): Method {
  return function (this: Response, ...args: unknown[]): unknown {
    return through(state, name, this, args);
  };
}

/** Puts the session on the request, holds the response back if a commit is already due, and continues. */
function attach(
  req: Request,
  res: Response,
  next: NextFunction,
  session: Session<object>,
  sessions: Sessions<object>,
  respond: (failure: SessionFailure, req: Request, res: Response) => void,
): void {
  (req as { session: unknown }).session = session;
  const state = track(res);
  if (session.needsCommit || session.hasCookiesToSend) {
    state.hold = holdUntilCommitted(req, res, state.originals, session, sessions, respond);
  } else {
    // A read so far: nothing to hold back. The first change holds the response,
    // unless it has already started (then the change could not reach the client).
    session.onFirstChange(() => {
      if (state.started || res.headersSent) {
        session.seal();
        throw new SessionSealedError();
      }
      state.hold = holdUntilCommitted(req, res, state.originals, session, sessions, respond);
    });
  }
  next();
}

/**
 * Holds back writeHead/write/end until the session is committed, then sets the
 * cookie and replays them in order. If the commit fails, the handler's answer
 * is dropped and the failure answered instead: a client never sees success for
 * a change that was not stored.
 */
function holdUntilCommitted(
  req: Request,
  res: Response,
  original: Record<HeldName, Method>,
  session: Session<object>,
  sessions: Sessions<object>,
  respond: (failure: SessionFailure, req: Request, res: Response) => void,
): Record<HeldName, Method> {
  const queued: Deferred[] = [];
  let phase: "open" | "committing" | "done" = "open";
  // What the handler had set when it called end(): an error handler that runs
  // later (and sees headersSent === false) must not change the answer.
  let ended: { statusCode: number; headers: ReturnType<Response["getHeaders"]> } | null = null;
  let backpressure = false;

  const replay = (): void => {
    try {
      for (const call of queued.splice(0)) call();
    } catch (error) {
      sessions.logger.error(`latchkey: the response to ${req.method} ${req.originalUrl} failed after the session was committed: ${describe(error)}`);
      res.destroy(error as Error);
      return;
    }
    if (backpressure) res.emit("drain");
  };

  const finish = (failure: SessionFailure | null): void => {
    phase = "done";
    if (failure) {
      queued.length = 0;
      if (failure.status !== 401) sessions.logger.error(`${prefixed(failure.message)} — answering ${failure.status} for ${req.method} ${req.originalUrl}`);
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      applyCookie(req, res, session, sessions);
      try {
        respond(failure, req, res);
      } catch (error) {
        res.destroy(error as Error);
      }
      return;
    }
    if (ended) {
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      for (const [name, value] of Object.entries(ended.headers)) if (value !== undefined) res.setHeader(name, value);
      res.statusCode = ended.statusCode;
    }
    applyCookie(req, res, session, sessions);
    replay();
  };

  const startCommit = (): void => {
    if (phase !== "open") return;
    if (!session.needsCommit) {
      // Fast path for reads: nothing to write, so nothing to wait for.
      session.seal();
      finish(null);
      return;
    }
    phase = "committing";
    const hadChanges = session.dirty;
    session.seal();
    session.commit().then(
      (outcome) => {
        if (outcome === "gone" && hadChanges) {
          finish({ status: 401, message: "the session ended (logged out or revoked) while this request changed it; nothing was saved" });
        } else if (outcome === "conflict") {
          finish({ status: 409, message: "the session was changed by another request; nothing was saved" });
        } else {
          finish(null);
        }
      },
      (error: unknown) => {
        const status = error instanceof StoreUnavailableError ? 503 : 500;
        const message = error instanceof SessionValueError ? error.message : describe(error);
        finish({ status, message, error });
      },
    );
  };

  let warned = false;
  const ignored = (name: string): void => {
    if (warned) return;
    warned = true;
    sessions.logger.warn(`latchkey: ${req.method} ${req.originalUrl} called res.${name}() after the response was ended; ignored`);
  };

  // After end(), late calls (an error handler that still sees headersSent ===
  // false) are ignored instead of corrupting or crashing the held response.
  const guardHeaderWrites = (): void => {
    for (const name of ["setHeader", "removeHeader"] as const) {
      const method = res[name] as (...args: unknown[]) => unknown;
      (res as unknown as Record<string, unknown>)[name] = function (...args: unknown[]) {
        if (res.headersSent) {
          ignored(name);
          return res;
        }
        return method.apply(res, args);
      };
    }
  };

  // The hold stays in place after the commit (it passes straight through),
  // so hooks that other middleware installed on top of it keep working.
  const defer = (name: HeldName, result: () => unknown): Method => {
    const method = original[name];
    return function (this: Response, ...args: unknown[]): unknown {
      if (phase === "done") {
        if (res.writableEnded) {
          ignored(name);
          return result();
        }
        return method.apply(res, args);
      }
      if (ended) {
        ignored(name);
        return result();
      }
      queued.push(() => {
        method.apply(res, args);
      });
      startCommit();
      if (name === "end" && (phase as string) !== "done") {
        ended = { statusCode: res.statusCode, headers: { ...res.getHeaders() } };
        guardHeaderWrites();
      }
      return result();
    };
  };

  return {
    writeHead: defer("writeHead", () => res),
    // Until the commit is done, writes are held in memory: report backpressure so streams pause.
    write: defer("write", () => {
      backpressure = true;
      return false;
    }),
    end: defer("end", () => res),
    flushHeaders: defer("flushHeaders", () => undefined),
  };
}

function prefixed(message: string): string {
  return message.startsWith("latchkey:") ? message : `latchkey: ${message}`;
}

function applyCookie(req: Request, res: Response, session: Session<object>, sessions: Sessions<object>): void {
  if (!session.hasCookiesToSend || res.headersSent) return;
  const instruction = session.cookieInstruction();
  const options = sessions.cookie;
  const secure = options.secure === "auto" ? req.secure : options.secure;
  const own =
    instruction.action === "none"
      ? []
      : [instruction.action === "set"
        ? serializeCookie(options, { value: instruction.token, expires: instruction.expires, secure })
        : serializeCookie(options, { value: "", expires: 0, secure })];
  const existing = res.getHeader("Set-Cookie");
  const list = existing === undefined ? [] : Array.isArray(existing) ? existing : [String(existing)];
  const kept = own.length === 0 ? list : list.filter((line) => !line.startsWith(`${options.name}=`));
  res.setHeader("Set-Cookie", [...kept, ...own, ...session.extraSetCookies(secure)]);
  // A response that carries a session cookie must never be stored by a shared cache.
  if (instruction.action === "set" && !res.hasHeader("Cache-Control")) res.setHeader("Cache-Control", "no-store");
}

function defaultFailureResponse(failure: SessionFailure, _req: Request, res: Response): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  res.statusCode = failure.status;
  res.setHeader("Content-Type", "text/plain; charset=utf-8");
  res.setHeader("Cache-Control", "no-store");
  if (failure.status === 503) res.setHeader("Retry-After", "1");
  res.end(failure.status === 500 ? "Internal Server Error\n" : `${failure.message}\n`);
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
