// What a session may ask of a node:http request (its RequestContext), for the
// objects the node:http adapters keep per request: the watched exchange
// (Express) and the hold-on-change (Fastify, Koa, node:http).
import type { IncomingMessage, ServerResponse } from "node:http";
import type { RequestContext } from "../core/request.js";
import type { Lifecycle, SessionFailure } from "./lifecycle.js";

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

/** One request and its response as a RequestContext; the client address goes through the adapter's trust-proxy rule, only when asked for. */
export class NodeRequestContext implements RequestContext {
  constructor(
    readonly lifecycle: Lifecycle,
    readonly adapter: RawAdapter,
    readonly req: IncomingMessage,
    readonly res: ServerResponse,
    readonly owner?: unknown,
  ) {}

  get cookieHeader(): string | undefined {
    return this.req.headers.cookie;
  }

  get userAgent(): string | undefined {
    return this.req.headers["user-agent"];
  }

  ip(): string | undefined {
    return this.adapter.ip ? this.adapter.ip(this.req, this.owner) : this.req.socket.remoteAddress;
  }
}
