// Watching a node:http response: the response's writeHead / write / end /
// flushHeaders go through latchkey, so a commit can hold them back (hold.ts).
// Express watches every response (on its shared response prototype); other
// adapters watch one only once the session changes (HoldOnChange).
import { ServerResponse, type IncomingMessage } from "node:http";
import { SessionSealedError } from "../core/errors.js";
import type { Session } from "../core/session.js";
import type { FirstChangeHook } from "../core/session-host.js";
import { HELD, Hold, type HeldName, type Method } from "./hold.js";
import type { Lifecycle } from "./lifecycle.js";
import { NodeRequestContext, type RawAdapter } from "./request.js";

export { HELD, type HeldName, type Method };

/**
 * One response latchkey watches: the response's methods when watching began
 * (writeHead, write, end, flushHeaders: what the hold calls through to),
 * whether one was called, and the hold once a commit is due. Also the
 * session's first-change hook and its RequestContext, so a read allocates
 * one object and no closure.
 */
export class Exchange extends NodeRequestContext implements FirstChangeHook {
  started = false;
  hold: Hold | null = null;
  /** The exchange of an outer layer, when the response is watched twice (two managers, or one mounted twice). */
  outer: Exchange | undefined = undefined;
  /** Set by watch() once the session is loaded. */
  session!: Session<object>;
  // Set by install(): a read that is never held does not look them up.
  writeHead!: Method;
  write!: Method;
  end!: Method;
  flushHeaders!: Method;

  /** A read so far: the first change holds the response, unless it has already started (the change could not reach the client). */
  beforeFirstChange(): void {
    if (this.started || this.res.headersSent) {
      this.session.seal();
      throw new SessionSealedError();
    }
    this.hold = held(this);
  }
}

/** A hold for this exchange; the response now names its outermost exchange itself, so a held response never depends on req.session. */
function held(exchange: Exchange): Hold {
  const res = exchange.res as Watched;
  if (res.latchkeyExchange === undefined) {
    let root = exchange;
    while (root.outer !== undefined) root = root.outer;
    res.latchkeyExchange = root;
  }
  return new Hold(exchange);
}

// The shared tracking functions (own methods, installed once a response is
// held) find the exchange in a plain named property of the response. The
// patched prototype methods (Express, every response) find it through
// req.session.request instead: adding a property to every response cost about
// as much as the rest of the adapter's read (a micro-benchmark: ~3 µs), and a
// WeakMap entry per response was slower still.
type Watched = ServerResponse & { latchkeyExchange?: Exchange };

/** The exchange watching this response: its own property (a held response), else the one its request's session was loaded with. */
function exchangeOf(res: ServerResponse): Exchange | undefined {
  const own = (res as Watched).latchkeyExchange;
  if (own !== undefined) return own;
  const request = (res.req as { session?: { request?: unknown } } | undefined)?.session?.request;
  if (!(request instanceof Exchange) || request.res !== res) return undefined;
  // The outermost layer, as every patched call reached before a second layer was mounted.
  let root = request;
  while (root.outer !== undefined) root = root.outer;
  return root;
}

function through(exchange: Exchange, name: HeldName, res: ServerResponse, args: IArguments | unknown[]): unknown {
  if (exchange.hold) return exchange.hold.call(name, args);
  exchange.started = true;
  return exchange[name].apply(res, args as unknown[]);
}

// One shared function per method (no closure per request), finding the exchange by response.
const tracking: Record<HeldName, Method> = {
  writeHead() {
    return through((this as Watched).latchkeyExchange!, "writeHead", this, arguments);
  },
  write() {
    return through((this as Watched).latchkeyExchange!, "write", this, arguments);
  },
  end() {
    return through((this as Watched).latchkeyExchange!, "end", this, arguments);
  },
  flushHeaders() {
    return through((this as Watched).latchkeyExchange!, "flushHeaders", this, arguments);
  },
};

/**
 * Watches the response from now on: a middleware mounted later that wraps
 * res.end (and calls it later) then still goes through the hold, and so does
 * an Express sub-app that re-prototypes the response. Holds it at once when a
 * commit is already due; otherwise the session's first change does. The
 * adapter then sets req.session to `session` (loaded with this exchange as
 * its request): on Express, that is how the patched prototype finds it.
 */
export function watch(exchange: Exchange, session: Session<object>): void {
  exchange.session = session;
  install(exchange);
  if (exchange.lifecycle.mustHold(session)) exchange.hold = held(exchange);
  else session.onFirstChange(exchange);
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

/** Holds the response now (a change was made, or a commit is due), for adapters that do not watch every response. */
export function holdResponse(
  lifecycle: Lifecycle,
  adapter: RawAdapter,
  session: Session<object>,
  req: IncomingMessage,
  res: ServerResponse,
  owner?: unknown,
): Hold {
  const exchange = new Exchange(lifecycle, adapter, req, res, owner);
  exchange.session = session;
  install(exchange);
  return (exchange.hold = new Hold(exchange));
}

type Patched = Method & { latchkeyInherited?: Method };
const patchedPrototypes = new WeakSet<object>();

/** The framework's response prototype just above ServerResponse.prototype (Express's shared `response`), or null. */
function frameworkPrototype(res: ServerResponse): Record<HeldName, Patched> | null {
  let proto = Object.getPrototypeOf(res) as object | null;
  while (proto !== null && proto !== ServerResponse.prototype) {
    const parent = Object.getPrototypeOf(proto) as object | null;
    if (parent === ServerResponse.prototype) return proto as Record<HeldName, Patched>;
    proto = parent;
  }
  return null;
}

/**
 * Puts the four methods on the framework's response prototype, once: they go
 * through the hold for a watched response and straight to the inherited
 * method otherwise. Every Express app and sub-app of that Express copy
 * inherits them, so a read costs one property on the response instead of
 * five (own methods on each response measured at ~5 % of an authenticated
 * read's CPU profile, the largest single cost of the adapter).
 */
function patch(proto: Record<HeldName, Patched>): void {
  if (patchedPrototypes.has(proto)) return;
  patchedPrototypes.add(proto);
  for (const name of HELD) {
    const inherited = proto[name];
    const method: Patched = function (this: Watched) {
      const exchange = exchangeOf(this);
      return exchange === undefined ? inherited.apply(this, arguments as unknown as unknown[]) : through(exchange, name, this, arguments);
    };
    method.latchkeyInherited = inherited;
    proto[name] = method;
  }
}

function install(exchange: Exchange): void {
  const res = exchange.res as Watched;
  const own = res as unknown as Record<HeldName, Patched>;
  const outer = exchangeOf(res);
  if (outer !== undefined) {
    // Watched twice (a second session manager, or the same one mounted twice):
    // this layer wraps the outer one with closures of its own (the patched
    // prototype still finds the outermost exchange, through `outer`).
    exchange.outer = outer;
    for (const name of HELD) {
      exchange[name] = own[name];
      own[name] = function (this: ServerResponse, ...args: unknown[]) {
        return through(exchange, name, this, args);
      };
    }
    return;
  }
  const proto = frameworkPrototype(res);
  if (proto !== null) {
    patch(proto);
    const writeHead = own.writeHead.latchkeyInherited;
    const write = own.write.latchkeyInherited;
    const end = own.end.latchkeyInherited;
    const flushHeaders = own.flushHeaders.latchkeyInherited;
    // Unless something installed its own methods on this response first, the patched prototype is what every call
    // reaches, and it finds this exchange through req.session (the adapter sets it right after watch()).
    if (writeHead && write && end && flushHeaders) {
      exchange.writeHead = writeHead;
      exchange.write = write;
      exchange.end = end;
      exchange.flushHeaders = flushHeaders;
      return;
    }
  }
  exchange.writeHead = own.writeHead;
  exchange.write = own.write;
  exchange.end = own.end;
  exchange.flushHeaders = own.flushHeaders;
  res.latchkeyExchange = exchange;
  res.writeHead = tracking.writeHead as ServerResponse["writeHead"];
  res.write = tracking.write as ServerResponse["write"];
  res.end = tracking.end as ServerResponse["end"];
  res.flushHeaders = tracking.flushHeaders as ServerResponse["flushHeaders"];
}
