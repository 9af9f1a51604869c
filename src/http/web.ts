// The lifecycle's last steps for web-standard Request/Response adapters
// (latchkey/hono, latchkey/web): the request's context, the session cookies
// on the handler's Response, and a failure as a Response. A web handler
// returns its whole response at once, so the commit simply happens before
// the adapter hands that Response on (G8): nothing here holds a stream.
import type { Session } from "../core/index.js";
import { failureAnswer, type CookieScope, type HttpRequestContext, type Lifecycle, type SessionFailure } from "./lifecycle.js";
import { forwardedEntry, isLocalRequest, isLoopbackHost } from "./transport.js";

/** Read access to request headers (a Headers object, or Next.js's `await headers()`). */
export type HeaderReader = Pick<Headers, "get">;

/** The session's RequestContext from a web Request's headers; the address comes from the adapter, only when asked for. */
export class WebRequestContext implements HttpRequestContext {
  constructor(
    readonly headers: HeaderReader,
    readonly address: (context: WebRequestContext) => string | undefined,
    /** The adapter's own request object (Hono's Context, or the Request), for `address`. */
    readonly owner: unknown,
    readonly method: string | undefined = undefined,
  ) {}

  header(name: string): string | undefined {
    return this.headers.get(name) ?? undefined;
  }

  get cookieHeader(): string | undefined {
    return this.headers.get("cookie") ?? undefined;
  }

  get userAgent(): string | undefined {
    return this.headers.get("user-agent") ?? undefined;
  }

  ip(): string | undefined {
    return this.address(this);
  }
}

/** The client address a web request's X-Forwarded-For gives through `proxies` trusted proxies (see forwardedEntry), or undefined. */
export function forwardedFor(headers: HeaderReader, proxies: number): string | undefined {
  return proxies > 0 ? forwardedEntry(headers.get("x-forwarded-for") ?? undefined, proxies) : undefined;
}

/**
 * A web request's session cookie (name and Secure). https: `https` when
 * given, else the trusted proxy's X-Forwarded-Proto, else the URL's scheme
 * (`url`: undefined where there is none, as in a server action). The host:
 * the Host header, else the URL's.
 */
export function webScope(lifecycle: Lifecycle, headers: HeaderReader, url: string | undefined, proxies: number, https?: boolean): CookieScope {
  if (!lifecycle.scopeVaries) return lifecycle.scope(false);
  // Every request of a public deployment stops at its Host: the forwarding headers are read only for a loopback one.
  const host = headers.get("host") ?? hostOf(url);
  if (host === undefined || !isLoopbackHost(host)) return lifecycle.scope(false);
  const forwardedProto = headers.get("x-forwarded-proto") ?? undefined;
  if (!isLocalRequest(host, headers.get("x-forwarded-host") ?? undefined, forwardedProto)) return lifecycle.scope(false);
  if (https !== undefined) return lifecycle.scope(!https);
  const proto = forwardedEntry(forwardedProto, proxies);
  return lifecycle.scope(!(proto !== undefined ? proto.toLowerCase() === "https" : url?.startsWith("https:") === true));
}

/**
 * The response to send: `response` with the session's Set-Cookie values
 * (and Cache-Control: no-store when it sets or clears the session cookie). A response whose
 * headers are immutable (Response.redirect(), a passed-through fetch()) is
 * copied, never answered with a 500. Returns `response` itself when it needed
 * nothing or could be changed in place.
 */
export function withSessionCookies(lifecycle: Lifecycle, session: Session<object>, response: Response, scope: CookieScope): Response {
  const cookies = session.hasCookiesToSend ? lifecycle.setCookie(session, response.headers.getSetCookie(), scope) : undefined;
  // A bearer token issued in this response's body is a token too.
  const noStore = lifecycle.mustNotStore(session);
  if (!cookies && !noStore) return response;
  const apply = (headers: Headers) => {
    if (cookies) {
      headers.delete("set-cookie");
      for (const cookie of cookies) headers.append("set-cookie", cookie);
    }
    if (noStore) headers.set("cache-control", "no-store");
  };
  try {
    apply(response.headers);
    return response;
  } catch (error) {
    // Immutable headers throw on the first change, so nothing was half applied.
    if (!(error instanceof TypeError)) throw error;
    const copy = new Response(response.body, response);
    apply(copy.headers);
    return copy;
  }
}

/**
 * The default Response for a failure (503 store down, 401 session ended
 * under a write, 409 conflict, 413 over maxDataBytes), with the session's cookies if any.
 * @example
 * return failureResponse({ status: 503, message: "the session store cannot be reached" });
 */
export function failureResponse(failure: SessionFailure, cookies?: readonly string[]): Response {
  const { status, headers, body } = failureAnswer(failure);
  const result = new Response(body, { status, headers });
  for (const cookie of cookies ?? []) result.headers.append("set-cookie", cookie);
  return result;
}

/** Lets go of a response that will not be sent (its body may be a stream holding resources). */
export function discard(response: Response | undefined): void {
  if (response?.body && !response.bodyUsed) response.body.cancel().catch(() => undefined);
}

function hostOf(url: string | undefined): string | undefined {
  if (url === undefined) return undefined;
  try {
    return new URL(url).host;
  } catch {
    return undefined;
  }
}
