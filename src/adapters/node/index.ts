import type { IncomingMessage, ServerResponse } from "node:http";
import type { TLSSocket } from "node:tls";
import { cookieName, readCookie } from "../../core/cookie.js";
import type { JsonValue, Session, Sessions } from "../../core/index.js";
import { writeFailure, type RawAdapter } from "../../http/hold.js";
import { HoldOnChange } from "../../http/watch.js";
import { describe, Lifecycle, type SessionFailure } from "../../http/lifecycle.js";
import { forwardedEntry, isLocalRequest, resolveTrustProxy } from "../../http/transport.js";

export type { SessionFailure } from "../../http/lifecycle.js";

/** A node:http request with its latchkey session. */
export type SessionRequest<Data extends object = Record<string, JsonValue>> = IncomingMessage & { session: Session<Data> };

/** The handler nodeSessions() wraps: a plain node:http handler, given `req.session`. */
export type SessionHandler<Data extends object> = (req: SessionRequest<Data>, res: ServerResponse) => unknown;

export interface NodeSessionsOptions {
  /**
   * The number of reverse proxies in front of the app (each appends to
   * X-Forwarded-For): the client address is the entry that many from the
   * right, and https is read from X-Forwarded-Proto the same way, as Express's
   * `trust proxy` with a count. Entries further left are written by the client
   * and never used. Only when every request comes through those proxies.
   * Default 0: the socket's address and TLS. (`true` is refused: give a count.)
   */
  trustProxy?: number | false;
  /** Answer a request the session layer cannot serve (503 store down, 401 session ended under a write, 409 conflict, 413 over maxDataBytes). */
  onError?: (failure: SessionFailure, req: IncomingMessage, res: ServerResponse) => void;
}

/**
 * A node:http request listener with `req.session`: the status line is held
 * until the session is committed (G8); a store failure answers 503 and the
 * handler never runs as signed in (G6). A handler that throws (or rejects)
 * before answering gets a 500, or a 413 for SessionDataTooLargeError (a
 * login() whose data is over maxDataBytes), as an over-size commit does.
 * @example
 * import http from "node:http";
 * import { createSessions } from "latchkey";
 * import { sqliteStore } from "latchkey/sqlite";
 * import { nodeSessions } from "latchkey/node";
 *
 * const sessions = createSessions({ store: sqliteStore({ path: "./sessions.db" }) });
 * http.createServer(nodeSessions(sessions, async (req, res) => {
 *   if (req.url === "/login") await req.session.login("alice");
 *   res.end(`hello ${req.session.userId ?? "stranger"}`);
 * })).listen(3000);
 */
export function nodeSessions<Data extends object>(
  sessions: Sessions<Data>,
  handler: SessionHandler<Data>,
  options: NodeSessionsOptions = {},
): (req: IncomingMessage, res: ServerResponse) => void {
  const lifecycle = new Lifecycle(sessions as Sessions<object>, "nodeSessions");
  if (typeof handler !== "function") throw new TypeError("latchkey: nodeSessions(sessions, handler) needs a handler (req, res) => void");
  if (options.onError !== undefined && typeof options.onError !== "function") {
    throw new TypeError("latchkey: nodeSessions onError must be a function (failure, req, res) => void");
  }
  const proxies = resolveTrustProxy(options.trustProxy, "nodeSessions");
  const respond = options.onError ?? ((failure: SessionFailure, _req: IncomingMessage, res: ServerResponse) => writeFailure(failure, res));
  const adapter: RawAdapter = {
    secure: (req) => {
      const proto = forwardedEntry(req.headers["x-forwarded-proto"], proxies);
      return proto !== undefined ? proto.toLowerCase() === "https" : (req.socket as TLSSocket).encrypted === true;
    },
    url: (req) => req.url,
    ip: (req) => forwardedEntry(req.headers["x-forwarded-for"], proxies) ?? req.socket.remoteAddress,
    respond,
  };

  const run = (holder: HoldOnChange, session: Session<object>, req: IncomingMessage, res: ServerResponse): void => {
    (req as SessionRequest<object>).session = session;
    holder.attach(session);
    let result: unknown;
    try {
      result = handler(req as SessionRequest<Data>, res);
    } catch (error) {
      failed(error, req, res);
      return;
    }
    if (result instanceof Promise) result.catch((error: unknown) => failed(error, req, res));
  };

  const failed = (error: unknown, req: IncomingMessage, res: ServerResponse): void => {
    const known = lifecycle.handlerFailure(error, req.method, req.url); // a login() over maxDataBytes: 413
    if (known) return respond(known, req, res);
    sessions.logger.error(`latchkey: the handler for ${req.method} ${req.url} failed: ${describe(error)}`);
    if (res.headersSent || res.writableEnded) return;
    res.statusCode = 500;
    res.setHeader("content-type", "text/plain; charset=utf-8");
    res.end("Internal Server Error\n");
  };

  return function latchkeySession(req: IncomingMessage, res: ServerResponse): void {
    // One object per request: the session's RequestContext and its first-change hook.
    const holder = new HoldOnChange(lifecycle, adapter, req, res);
    const opened = lifecycle.open(req.headers.cookie, holder, holder.scope);
    if (!(opened instanceof Promise)) {
      run(holder, opened, req, res);
      return;
    }
    opened.then(
      (session) => run(holder, session, req, res),
      (error: unknown) => respond(lifecycle.loadFailure(error, req.method, req.url), req, res),
    );
  };
}

/**
 * The session of a WebSocket upgrade (or any request handled outside the
 * request lifecycle: a Socket.IO handshake, a raw `upgrade` event): its
 * Cookie header read with the cookie name the response would have used
 * (`__Host-sid` on https or a public host, `sid` on plain-HTTP localhost).
 * Read-only: there is no response to carry a cookie. Then watch its handle.
 * Rejects with StoreUnavailableError when the store cannot answer (refuse the upgrade).
 * @example
 * server.on("upgrade", async (req, socket, head) => {
 *   const session = await loadUpgradeSession(sessions, req).catch(() => null);
 *   if (!session?.userId) return socket.end("HTTP/1.1 401 Unauthorized\r\n\r\n");
 *   wss.handleUpgrade(req, socket, head, (ws) => {
 *     const stop = sessions.watch(session.handle!, ({ reason }) => ws.close(4401, `session ended: ${reason}`));
 *     ws.on("close", stop);
 *   });
 * });
 */
export function loadUpgradeSession<Data extends object>(
  sessions: Sessions<Data>,
  req: IncomingMessage,
  options: Pick<NodeSessionsOptions, "trustProxy"> = {},
): Promise<Session<Data>> {
  const proxies = resolveTrustProxy(options.trustProxy, "loadUpgradeSession");
  const { headers } = req;
  const forwardedProto = proxies > 0 ? forwardedEntry(headers["x-forwarded-proto"], proxies) : undefined;
  const https = (req.socket as TLSSocket).encrypted === true || (forwardedProto !== undefined && /https/i.test(forwardedProto));
  const join = (value: string | string[] | undefined) => (Array.isArray(value) ? value.join(",") : value);
  const plainLocal = !https && isLocalRequest(headers.host, join(headers["x-forwarded-host"]), join(headers["x-forwarded-proto"]));
  const { cookie } = sessions;
  const secure = cookie.secure === "auto" ? !plainLocal : cookie.secure;
  return sessions.load(readCookie(headers.cookie, cookieName(cookie, secure)));
}
