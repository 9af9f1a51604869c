// Sessions where the framework offers a cookie jar instead of a Response to
// decorate: Next.js server actions (`cookies()` from next/headers), where no
// hook runs after the action. The commit happens before the returned promise
// resolves, then the cookie is written to the jar, which the framework turns
// into Set-Cookie on the action's response.
import type { Session, Sessions } from "../../core/index.js";
import { Lifecycle, SessionFailureError } from "../../http/lifecycle.js";
import { resolveTrustProxy } from "../../http/transport.js";
import { forwardedFor, WebRequestContext, webScope } from "../../http/web.js";

/** The cookie attributes latchkey writes (a subset of what Next.js's `cookies().set()` accepts). */
export interface CookieAttributes {
  path: string;
  httpOnly: true;
  sameSite: "lax" | "strict" | "none";
  secure: boolean;
  domain?: string;
  expires?: Date;
  maxAge?: number;
}

/** A request's cookies, readable and writable: Next.js's `await cookies()` in a server action or route handler. */
export interface CookieJar {
  get(name: string): { value: string } | undefined;
  getAll?(name: string): Array<{ value: string }>;
  set(name: string, value: string, attributes: CookieAttributes): unknown;
}

export interface CookieSessionOptions {
  /**
   * The request's headers (Next.js: `await headers()`): the Host (on
   * localhost over plain HTTP the cookie is `sid` without Secure, elsewhere
   * `__Host-sid` with Secure, as in withSession), and the User-Agent and
   * address for the device list. Without them the request counts as not local.
   */
  headers?: { get(name: string): string | null };
  /** Whether the request came over https; it decides Secure only on a localhost Host. Default: the trusted proxy's X-Forwarded-Proto (trustProxy), else plain HTTP. */
  secure?: boolean;
  /**
   * The number of reverse proxies in front of the app: the client address is
   * the X-Forwarded-For entry that many from the right (and https is read from
   * X-Forwarded-Proto the same way). Default 0: nothing forwarded is trusted,
   * and the device list records no address.
   */
  trustProxy?: number | false;
}

/**
 * Runs `action` with the session of the request whose cookies are `jar`,
 * commits what it changed, then writes the session cookie to `jar` — all
 * before the returned promise resolves (G8). When the session layer cannot
 * serve it rejects with a SessionFailureError (`status` 503 store down, 401
 * ended under a write, 409 conflict) and the action never runs signed in (G6).
 * An action that throws commits nothing: call Next.js's `redirect()` after
 * this resolves, not inside it (redirect() works by throwing).
 * @example
 * "use server";
 * import { cookies, headers } from "next/headers";
 * import { redirect } from "next/navigation";
 * import { withCookieSession } from "latchkey/web";
 * import { sessions } from "@/lib/sessions";
 *
 * export async function login(form: FormData) {
 *   await withCookieSession(sessions, await cookies(), (session) => session.login(String(form.get("user"))), { headers: await headers() });
 *   redirect("/");
 * }
 */
export async function withCookieSession<Data extends object, T>(
  sessions: Sessions<Data>,
  jar: CookieJar,
  action: (session: Session<Data>) => T | Promise<T>,
  options: CookieSessionOptions = {},
): Promise<T> {
  const lifecycle = new Lifecycle(sessions as Sessions<object>, "withCookieSession");
  if (!jar || typeof jar.get !== "function" || typeof jar.set !== "function")
    throw new TypeError("latchkey: withCookieSession(sessions, jar, action) needs a cookie jar with get and set (Next.js: await cookies())");
  if (typeof action !== "function") throw new TypeError("latchkey: withCookieSession(sessions, jar, action) needs an action (session) => result");
  const proxies = resolveTrustProxy(options.trustProxy, "withCookieSession");
  if (options.secure !== undefined && typeof options.secure !== "boolean")
    throw new TypeError("latchkey: withCookieSession option secure must be true or false (whether the request came over https)");
  const headers = options.headers ?? new Headers();
  const scope = webScope(lifecycle, headers, undefined, proxies, options.secure);
  const values = valuesOf(jar, scope.name);
  const context = new WebRequestContext(headers, () => forwardedFor(headers, proxies), jar);
  let session: Session<object>;
  try {
    session = await (sessions.loadCached(values, context) ?? sessions.load(values, context));
  } catch (error) {
    throw new SessionFailureError(lifecycle.loadFailure(error, "a server action", "(withCookieSession)"));
  }
  let result: T;
  try {
    result = await action(session as Session<Data>);
  } catch (error) {
    session.seal();
    throw error;
  }
  const failure = await lifecycle.settle(session, "a server action", "(withCookieSession)");
  for (const line of lifecycle.setCookie(session, undefined, scope) ?? []) jar.set(...parseSetCookie(line));
  if (failure) throw new SessionFailureError(failure);
  return result;
}

/**
 * The session of the request whose cookies are `jar`, read-only: for a server
 * component, which may not set cookies. It reads the cookie withCookieSession
 * writes (`__Host-sid` on a public host, `sid` over plain HTTP to localhost:
 * pass `headers`), so a `sid` tossed in by a sibling subdomain is never read.
 * Nothing is committed, and any change throws SessionSealedError: change the
 * session in a server action or a route handler. Rejects with a
 * SessionFailureError (503) when the store cannot be reached.
 * @example
 * // app/page.tsx
 * import { cookies, headers } from "next/headers";
 * import { readCookieSession } from "latchkey/web";
 *
 * export default async function Home() {
 *   const session = await readCookieSession(sessions, await cookies(), { headers: await headers() });
 *   return <p>{session.userId ? `Signed in as ${session.userId}` : "Not signed in"}</p>;
 * }
 */
export async function readCookieSession<Data extends object>(
  sessions: Sessions<Data>,
  jar: Pick<CookieJar, "get" | "getAll">,
  options: CookieSessionOptions = {},
): Promise<Session<Data>> {
  const lifecycle = new Lifecycle(sessions as Sessions<object>, "readCookieSession");
  if (!jar || typeof jar.get !== "function")
    throw new TypeError("latchkey: readCookieSession(sessions, jar) needs a cookie jar with get (Next.js: await cookies())");
  const proxies = resolveTrustProxy(options.trustProxy, "readCookieSession");
  if (options.secure !== undefined && typeof options.secure !== "boolean")
    throw new TypeError("latchkey: readCookieSession option secure must be true or false (whether the request came over https)");
  const scope = webScope(lifecycle, options.headers ?? new Headers(), undefined, proxies, options.secure);
  const values = valuesOf(jar, scope.name);
  let session: Session<Data>;
  try {
    // No request context, as a plain sessions.load(): a read that cannot set a cookie starts no migration.
    session = await (sessions.loadCached(values) ?? sessions.load(values));
  } catch (error) {
    throw new SessionFailureError(lifecycle.loadFailure(error, "a server component", "(readCookieSession)"));
  }
  session.seal();
  return session;
}

/** Every value the jar holds under `name` (Next.js's getAll), else the one get() gives. */
function valuesOf(jar: Pick<CookieJar, "get" | "getAll">, name: string): string[] {
  return jar.getAll ? jar.getAll(name).map((cookie) => cookie.value) : [jar.get(name)?.value].filter((value): value is string => value !== undefined);
}

/** latchkey's own Set-Cookie lines (serializeCookie) as a jar's name, value and attributes. */
function parseSetCookie(line: string): [string, string, CookieAttributes] {
  const [pair, ...parts] = line.split("; ");
  const eq = pair!.indexOf("=");
  const attributes: CookieAttributes = { path: "/", httpOnly: true, sameSite: "lax", secure: false };
  for (const part of parts) {
    const [key, value = ""] = part.split("=");
    const lower = key!.toLowerCase();
    if (lower === "path") attributes.path = value;
    else if (lower === "samesite") attributes.sameSite = value.toLowerCase() as CookieAttributes["sameSite"];
    else if (lower === "domain") attributes.domain = value;
    else if (lower === "secure") attributes.secure = true;
    else if (lower === "expires") attributes.expires = new Date(value);
    else if (lower === "max-age") attributes.maxAge = Number(value);
  }
  return [pair!.slice(0, eq), pair!.slice(eq + 1), attributes];
}
