// What a session may ask of a node:http request (its RequestContext), for the
// objects the node:http adapters keep per request: the watched exchange
// (Express) and the hold-on-change (Fastify, Koa, node:http).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import type { CookieScope, HttpRequestContext, Lifecycle, SessionFailure } from "./lifecycle.js";
import { isLocalRequest } from "./transport.js";

/** What an adapter tells the hold about its framework. One object per adapter instance. */
export interface RawAdapter {
  /** Whether the request came over https (by the framework's trust-proxy rules; on a loopback Host it decides Secure); `owner`: the framework's request object, if the adapter passed one. */
  secure(req: IncomingMessage, owner: unknown): boolean;
  /** The URL to name in log lines. */
  url(req: IncomingMessage): string | undefined;
  /** The client address through the framework's trust-proxy rules (default: the socket's). */
  ip?(req: IncomingMessage, owner: unknown): string | undefined;
  /** Writes the answer for a failure on a response whose headers were cleared. */
  respond(failure: SessionFailure, req: IncomingMessage, res: ServerResponse): void;
}

/** One request and its response as a RequestContext; the client address goes through the adapter's trust-proxy rule, only when asked for. */
export class NodeRequestContext implements HttpRequestContext {
  /** This request's session cookie: its name and Secure. */
  readonly scope: CookieScope;

  constructor(
    readonly lifecycle: Lifecycle,
    readonly adapter: RawAdapter,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly owner?: unknown,
  ) {
    this.scope = lifecycle.scope(lifecycle.scopeVaries && isPlainLocal(req, adapter, owner));
  }

  get cookieHeader(): string | undefined {
    return this.req.headers.cookie;
  }

  get userAgent(): string | undefined {
    return this.req.headers["user-agent"];
  }

  get method(): string | undefined {
    return this.req.method;
  }

  header(name: string): string | undefined {
    const value = this.req.headers[name];
    return Array.isArray(value) ? value[0] : value;
  }

  ip(): string | undefined {
    return this.adapter.ip ? this.adapter.ip(this.req, this.owner) : this.req.socket.remoteAddress;
  }
}

/** Plain-HTTP local development: a loopback Host (see isLocalRequest) and not https by the adapter's rule. */
function isPlainLocal(req: IncomingMessage, adapter: RawAdapter, owner: unknown): boolean {
  const { headers } = req;
  const forwardedHost = headers["x-forwarded-host"];
  const forwardedProto = headers["x-forwarded-proto"];
  if (
    !isLocalRequest(
      headers.host,
      Array.isArray(forwardedHost) ? forwardedHost.join(",") : forwardedHost,
      Array.isArray(forwardedProto) ? forwardedProto.join(",") : forwardedProto,
    )
  )
    return false;
  // Without X-Forwarded-Proto every framework's https is the socket's TLS (Express, Koa, Fastify alike): their
  // trust-proxy rules, slower to ask, are asked only when a proxy said something.
  if (forwardedProto === undefined) return (req.socket as TLSSocket | null)?.encrypted !== true;
  return !adapter.secure(req, owner);
}
