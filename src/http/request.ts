// What a session may ask of a node:http request (its RequestContext), for the
// objects the node:http adapters keep per request: the watched exchange
// (Express) and the hold-on-change (Fastify, Koa, node:http).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RawAdapter } from "./hold.js";
import type { CookieScope, HttpRequestContext, Lifecycle } from "./lifecycle.js";
import { isLocalRequest } from "./transport.js";

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
  return (
    isLocalRequest(headers.host, Array.isArray(forwardedHost) ? forwardedHost.join(",") : forwardedHost, Array.isArray(forwardedProto) ? forwardedProto.join(",") : forwardedProto) &&
    !adapter.secure(req, owner)
  );
}
