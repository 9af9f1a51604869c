// Sessions where the framework offers a cookie jar instead of a Response to
// decorate: Next.js server actions (`cookies()` from next/headers), where no
// hook runs after the action. The commit happens before the returned promise
// resolves, then the cookie is written to the jar, which the framework turns
// into Set-Cookie on the action's response.
import type { Session, Sessions } from "../core/index.js";
import { Lifecycle, SessionFailureError } from "../http/lifecycle.js";
import { firstForwarded, WebRequestContext } from "../http/web.js";

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
  /** The request's headers (Next.js: `await headers()`), for the device list's User-Agent and address, and https. */
  headers?: { get(name: string): string | null };
  /** Whether the request came over https (for the cookie's Secure attribute). Default: `X-Forwarded-Proto: https` in `headers`. */
  secure?: boolean;
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
  if (!jar || typeof jar.get !== "function" || typeof jar.set !== "function") throw new TypeError("latchkey: withCookieSession(sessions, jar, action) needs a cookie jar with get and set (Next.js: await cookies())");
  if (typeof action !== "function") throw new TypeError("latchkey: withCookieSession(sessions, jar, action) needs an action (session) => result");
  const name = lifecycle.cookieName;
  const values = jar.getAll ? jar.getAll(name).map((cookie) => cookie.value) : [jar.get(name)?.value].filter((value): value is string => value !== undefined);
  const headers = options.headers ?? new Headers();
  const context = new WebRequestContext(headers, () => firstForwarded(headers, "x-forwarded-for"), jar);
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
  const secure = options.secure ?? firstForwarded(headers, "x-forwarded-proto")?.toLowerCase() === "https";
  const failure = await lifecycle.settle(session, "a server action", "(withCookieSession)");
  for (const line of lifecycle.setCookie(session, undefined, secure) ?? []) jar.set(...parseSetCookie(line));
  if (failure) throw new SessionFailureError(failure);
  return result;
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
