// Holding a node:http response until the session is committed (G8), for
// adapters whose framework writes through ServerResponse methods (Express,
// node:http) and for responses a framework hands over to the app (Fastify's
// reply.hijack(), Koa's ctx.respond = false).
import type { ServerResponse } from "node:http";
import type { Session } from "../core/session.js";
import { describe, failureAnswer, type CookieScope, type Lifecycle, type SessionFailure } from "./lifecycle.js";
import type { NodeRequestContext, RawAdapter } from "./request.js";

export type { RawAdapter };

/** The response methods latchkey may hold back, in the order Node calls them. */
export const HELD = ["writeHead", "write", "end", "flushHeaders"] as const;
export type HeldName = (typeof HELD)[number];
export type Method = (this: ServerResponse, ...args: unknown[]) => unknown;

/** What a hold needs of the response it holds: its request, session and original methods (watch.ts's Exchange is one). */
export type HeldExchange = NodeRequestContext & { readonly session: Session<object> } & Record<HeldName, Method>;

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

  constructor(readonly exchange: HeldExchange) {}

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
    const { res, lifecycle, session, scope } = this.exchange;
    if (res.headersSent) return;
    applySetCookie(lifecycle, session, res, scope);
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

/** Sets latchkey's cookie, and Cache-Control: no-store when it sets or clears the session cookie or hands out a bearer token, on a node:http response. */
export function applySetCookie(lifecycle: Lifecycle, session: Session<object>, res: ServerResponse, scope: CookieScope): void {
  const cookies = lifecycle.setCookie(session, res.getHeader("set-cookie"), scope);
  if (cookies) res.setHeader("Set-Cookie", cookies);
  if (lifecycle.mustNotStore(session)) res.setHeader("Cache-Control", "no-store");
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
