// Holding a node:http response until the session is committed (G8), for
// adapters whose framework writes through ServerResponse methods (Express,
// node:http) and for responses a framework hands over to the app (Fastify's
// reply.hijack(), Koa's ctx.respond = false).
import type { IncomingMessage, ServerResponse } from "node:http";
import { SessionSealedError } from "../core/errors.js";
import type { FirstChangeHook, Session } from "../core/session.js";
import { describe, failureAnswer, type Lifecycle, type SessionFailure } from "./lifecycle.js";
import { NodeRequestContext } from "./request.js";
import { holdResponse, type Exchange, type HeldName, type Method } from "./watch.js";

/** What an adapter tells the hold about its framework. One object per adapter instance. */
export interface RawAdapter {
  /** Whether the request came over https (for the cookie's Secure attribute); `owner`: the framework's request object, if the adapter passed one. */
  secure(req: IncomingMessage, owner: unknown): boolean;
  /** The URL to name in log lines. */
  url(req: IncomingMessage): string | undefined;
  /** The client address through the framework's trust-proxy rules (default: the socket's). */
  ip?(req: IncomingMessage, owner: unknown): string | undefined;
  /** Writes the answer for a failure on a response whose headers were cleared. */
  respond(failure: SessionFailure, req: IncomingMessage, res: ServerResponse): void;
}

/**
 * For adapters that do not watch every response (node:http, Fastify, Koa):
 * holds the response now when a commit is already due, else on the session's
 * first change, unless the response has started by then (SessionSealedError).
 * A read installs nothing on the response. Also the session's RequestContext,
 * so a read allocates this one object.
 */
export class HoldOnChange extends NodeRequestContext implements FirstChangeHook {
  hold: Hold | null = null;
  /** Set by attach() once the session is loaded. */
  session!: Session<object>;

  attach(session: Session<object>): this {
    this.session = session;
    if (this.lifecycle.mustHold(session)) this.hold = holdResponse(this.lifecycle, this.adapter, session, this.req, this.res, this.owner);
    else session.onFirstChange(this);
    return this;
  }

  beforeFirstChange(): void {
    if (this.res.headersSent) {
      this.session.seal();
      throw new SessionSealedError();
    }
    this.hold = holdResponse(this.lifecycle, this.adapter, this.session, this.req, this.res, this.owner);
  }

  /**
   * For frameworks that commit in their own hook (Fastify's onSend, Koa after
   * next()): true when that hook commits (the hold, if any, steps aside and
   * later writes pass through); false when a raw write already reached the
   * hold, which then commits and answers itself.
   */
  takeOver(): boolean {
    if (!this.hold) return true;
    if (this.hold.engaged) return false;
    this.hold.release();
    return true;
  }
}

/**
 * Holds back writeHead/write/end until the session is committed, then sets the
 * cookie and replays them in order. If the commit fails, the handler's answer
 * is dropped and the failure answered instead: a client never sees success for
 * a change that was not stored. The hold stays in place after the commit (it
 * passes straight through), so hooks other middleware installed on top keep working.
 */
export class Hold {
  #phase: "open" | "committing" | "done" = "open";
  #queued: Array<[HeldName, unknown[]]> = [];
  // What the handler had set when it called end(): an error handler that runs
  // later (and sees headersSent === false) must not change the answer.
  #ended: { statusCode: number; headers: ReturnType<ServerResponse["getHeaders"]> } | null = null;
  #backpressure = false;
  #warned = false;

  constructor(readonly exchange: Exchange) {}

  /** True once a write reached the hold: it commits and answers itself. */
  get engaged(): boolean {
    return this.#phase !== "open" || this.#queued.length > 0;
  }

  /** The hold steps aside (its framework commits in a hook of its own): later writes pass through. */
  release(): void {
    this.#phase = "done";
  }

  call(name: HeldName, args: IArguments | unknown[]): unknown {
    const { res } = this.exchange;
    const method = this.exchange[name];
    if (this.#phase === "done") {
      if (res.writableEnded) return this.#ignored(name);
      return method.apply(res, args as unknown[]);
    }
    if (this.#ended) return this.#ignored(name);
    this.#queued.push([name, Array.from(args)]);
    this.#start();
    if (name === "end" && (this.#phase as string) !== "done") {
      this.#ended = { statusCode: res.statusCode, headers: { ...res.getHeaders() } };
      this.#guardHeaderWrites();
    }
    return this.#result(name);
  }

  #result(name: HeldName): unknown {
    if (name === "write") {
      // Until the commit is done, writes are held in memory: report backpressure so streams pause.
      this.#backpressure = true;
      return false;
    }
    return name === "flushHeaders" ? undefined : this.exchange.res;
  }

  #ignored(name: HeldName): unknown {
    if (!this.#warned) {
      this.#warned = true;
      const { lifecycle, req, adapter } = this.exchange;
      lifecycle.sessions.logger.warn(`latchkey: ${req.method} ${adapter.url(req)} called res.${name}() after the response was ended; ignored`);
    }
    return this.#result(name);
  }

  #start(): void {
    if (this.#phase !== "open") return;
    const { lifecycle, session, req, adapter } = this.exchange;
    const settling = lifecycle.settle(session, req.method, adapter.url(req));
    if (!settling) {
      this.#finish(null); // a read: nothing to write, nothing to wait for
      return;
    }
    this.#phase = "committing";
    void settling.then((failure) => this.#finish(failure));
  }

  #finish(failure: SessionFailure | null): void {
    this.#phase = "done";
    const { res, req, adapter, lifecycle } = this.exchange;
    if (failure) {
      this.#queued.length = 0;
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      this.#applyCookie();
      try {
        adapter.respond(failure, req, res);
      } catch (error) {
        res.destroy(error as Error);
      }
      return;
    }
    if (this.#ended) {
      for (const name of res.getHeaderNames()) res.removeHeader(name);
      for (const [name, value] of Object.entries(this.#ended.headers)) if (value !== undefined) res.setHeader(name, value);
      res.statusCode = this.#ended.statusCode;
    }
    this.#applyCookie();
    try {
      for (const [name, args] of this.#queued.splice(0)) this.exchange[name].apply(res, args);
    } catch (error) {
      lifecycle.sessions.logger.error(`latchkey: the response to ${req.method} ${adapter.url(req)} failed after the session was committed: ${describe(error)}`);
      res.destroy(error as Error);
      return;
    }
    if (this.#backpressure) res.emit("drain");
  }

  #applyCookie(): void {
    const { res, req, adapter, lifecycle, session, owner } = this.exchange;
    if (res.headersSent) return;
    applySetCookie(lifecycle, session, res, adapter.secure(req, owner));
  }

  // After end(), late calls (an error handler that still sees headersSent ===
  // false) are ignored instead of corrupting or crashing the held response.
  #guardHeaderWrites(): void {
    const res = this.exchange.res as unknown as Record<string, Method>;
    const warn = (name: string): void => {
      if (this.#warned) return;
      this.#warned = true;
      const { lifecycle, req, adapter } = this.exchange;
      lifecycle.sessions.logger.warn(`latchkey: ${req.method} ${adapter.url(req)} called res.${name}() after the response was ended; ignored`);
    };
    for (const name of ["setHeader", "removeHeader"] as const) {
      const method = res[name]!;
      res[name] = function (this: ServerResponse, ...args: unknown[]) {
        if (this.headersSent) {
          warn(name);
          return this;
        }
        return method.apply(this, args);
      };
    }
  }
}

/** Sets latchkey's cookie (and Cache-Control: no-store with a token) on a node:http response. */
export function applySetCookie(lifecycle: Lifecycle, session: Session<object>, res: ServerResponse, secure: boolean): void {
  const cookies = lifecycle.setCookie(session, res.getHeader("set-cookie"), secure);
  if (!cookies) return;
  res.setHeader("Set-Cookie", cookies);
  // A response that carries a session cookie must never be stored by a shared cache.
  if (lifecycle.setsToken(session) && !res.hasHeader("Cache-Control")) res.setHeader("Cache-Control", "no-store");
}

/** Writes the default failure answer on a node:http response (or cuts it, when it has started). */
export function writeFailure(failure: SessionFailure, res: ServerResponse): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  const answer = failureAnswer(failure);
  res.statusCode = answer.status;
  for (const [name, value] of Object.entries(answer.headers)) res.setHeader(name, value);
  res.end(answer.body);
}
