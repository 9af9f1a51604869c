// The lifecycle's last steps for web-standard Request/Response adapters
// (latchkey/hono, latchkey/web): the request's context, the session cookies
// on the handler's Response, and a failure as a Response. A web handler
// returns its whole response at once, so the commit simply happens before
// the adapter hands that Response on (G8): nothing here holds a stream.
import type { RequestContext, Session } from "../core/index.js";
import { failureAnswer, type Lifecycle, type SessionFailure } from "./lifecycle.js";

/** Read access to request headers (a Headers object, or Next.js's `await headers()`). */
export type HeaderReader = Pick<Headers, "get">;

/** The session's RequestContext from a web Request's headers; the address comes from the adapter, only when asked for. */
export class WebRequestContext implements RequestContext {
  constructor(
    readonly headers: HeaderReader,
    readonly address: (context: WebRequestContext) => string | undefined,
    /** The adapter's own request object (Hono's Context, or the Request), for `address`. */
    readonly owner: unknown,
  ) {}

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

/** The first value of a comma-separated forwarding header (X-Forwarded-For, X-Forwarded-Proto), trimmed. */
export function firstForwarded(headers: HeaderReader, name: string): string | undefined {
  const value = headers.get(name);
  return value === null ? undefined : value.split(",")[0]!.trim();
}

/** Whether a web request came over https: its URL, or (trustProxy) the proxy's X-Forwarded-Proto. */
export function isSecure(url: string, headers: Headers, trustProxy: boolean): boolean {
  if (trustProxy) {
    const proto = firstForwarded(headers, "x-forwarded-proto");
    if (proto !== undefined) return proto.toLowerCase() === "https";
  }
  return url.startsWith("https:");
}

/**
 * The response to send: `response` with the session's Set-Cookie values
 * (and Cache-Control: no-store when it carries a new token). A response whose
 * headers are immutable (Response.redirect(), a passed-through fetch()) is
 * copied, never answered with a 500. Returns `response` itself when it needed
 * nothing or could be changed in place.
 */
export function withSessionCookies(lifecycle: Lifecycle, session: Session<object>, response: Response, secure: boolean): Response {
  if (!session.hasCookiesToSend) return response;
  const cookies = lifecycle.setCookie(session, response.headers.getSetCookie(), secure);
  if (!cookies) return response;
  const noStore = lifecycle.setsToken(session) && !response.headers.has("cache-control");
  const apply = (headers: Headers) => {
    headers.delete("set-cookie");
    for (const cookie of cookies) headers.append("set-cookie", cookie);
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
