// The session cookie's options (createSessions({ cookie })) and their validation: the name, the
// __Host- prefix and the attributes a browser will accept together.

export type SameSite = "lax" | "strict" | "none";

export interface CookieOptions {
  /** Cookie name. Default "sid". */
  name?: string;
  /** Default "lax". "none" requires `secure: true`. */
  sameSite?: SameSite;
  /**
   * "auto" (default): Secure on every request except plain HTTP to this
   * machine (Host localhost, *.localhost, 127.x.x.x or [::1]), so a
   * TLS-terminating proxy needs no "trust proxy" for the cookie to be Secure.
   * false: never Secure (plain HTTP in production must say so).
   * true: always Secure.
   */
  secure?: boolean | "auto";
  /** Default "/". A path other than "/" needs `hostPrefix: false`. */
  path?: string;
  /** Default: none (host-only cookie). Sharing the cookie with subdomains needs `hostPrefix: false`. */
  domain?: string;
  /**
   * The `__Host-` name prefix, which no other host (a sibling subdomain) can
   * set, so a tossed cookie is never read. Default: on every Secure cookie
   * (`__Host-sid`), the plain name on plain-HTTP localhost (`sid`).
   * true: always `__Host-` and always Secure. false: never (0.1's `sid`
   * everywhere; needed for `domain` or a `path` other than "/").
   */
  hostPrefix?: boolean;
  /** true (default): Expires = the absolute expiry. false: a browser-session cookie. */
  persistent?: boolean;
}

export interface ResolvedCookieOptions {
  /** The cookie's name when it goes out without Secure (plain-HTTP localhost, or `secure: false`). */
  name: string;
  /** The cookie's name when it goes out Secure: `__Host-` + name, unless `hostPrefix: false`. */
  secureName: string;
  sameSite: SameSite;
  secure: boolean | "auto";
  path: string;
  domain: string | undefined;
  persistent: boolean;
}

const COOKIE_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

export function resolveCookie(cookie: CookieOptions): ResolvedCookieOptions {
  const base = cookie.name ?? "sid";
  if (!COOKIE_NAME.test(base)) {
    throw new TypeError(`latchkey: cookie.name ${JSON.stringify(base)} is not a valid cookie name; use letters, digits and - _ . only`);
  }
  if (/^__(host|secure)-/i.test(base)) {
    throw new TypeError(
      `latchkey: cookie.name ${JSON.stringify(base)} carries a prefix; give the bare name (e.g. "sid"): latchkey adds __Host- itself on Secure cookies (see cookie.hostPrefix)`,
    );
  }
  const sameSite = cookie.sameSite ?? "lax";
  if (!["lax", "strict", "none"].includes(sameSite)) {
    throw new TypeError(`latchkey: cookie.sameSite must be "lax", "strict" or "none" (got ${String(sameSite)})`);
  }
  const secure = cookie.secure ?? "auto";
  if (secure !== true && secure !== false && secure !== "auto") {
    throw new TypeError(`latchkey: cookie.secure must be true, false or "auto" (got ${String(secure)})`);
  }
  if (sameSite === "none" && secure !== true) {
    throw new TypeError('latchkey: cookie.sameSite "none" needs cookie.secure: true (browsers drop SameSite=None cookies without Secure)');
  }
  const path = cookie.path ?? "/";
  if (!path.startsWith("/") || /[;\s]/.test(path)) {
    throw new TypeError(`latchkey: cookie.path must start with "/" and hold no ';' or spaces (got ${JSON.stringify(path)})`);
  }
  if (cookie.domain !== undefined && !/^\.?[A-Za-z0-9.-]+$/.test(cookie.domain)) {
    throw new TypeError(`latchkey: cookie.domain ${JSON.stringify(cookie.domain)} is not a host name`);
  }
  const hostPrefix = cookie.hostPrefix;
  if (hostPrefix !== undefined && typeof hostPrefix !== "boolean") {
    throw new TypeError(
      `latchkey: cookie.hostPrefix must be true or false (got ${String(hostPrefix)}); leave it out for the default (__Host- on every Secure cookie)`,
    );
  }
  if (hostPrefix === true && secure === false)
    throw new TypeError("latchkey: cookie.hostPrefix needs Secure; remove secure: false (browsers drop insecure __Host- cookies)");
  // __Host- means host-only and Path=/: a Domain or another path turns the prefix off, and only when the app says so
  // (a Domain cookie can be set by every subdomain, which is the cookie tossing the prefix prevents).
  if (hostPrefix === true || (hostPrefix === undefined && secure !== false)) {
    const how = hostPrefix ? "cookie.hostPrefix" : "The __Host- cookie name (the default on Secure cookies)";
    if (cookie.domain !== undefined) {
      throw new TypeError(
        `latchkey: ${how} forbids cookie.domain (a __Host- cookie is host-only). Remove domain, or set cookie.hostPrefix: false to share the cookie with subdomains — any of them can then set a session cookie for yours`,
      );
    }
    if (path !== "/") throw new TypeError(`latchkey: ${how} needs cookie.path "/"; remove path, or set cookie.hostPrefix: false`);
  }
  const prefixed = hostPrefix === false ? base : `__Host-${base}`;
  return {
    name: hostPrefix === true ? prefixed : base,
    secureName: prefixed,
    sameSite,
    secure: hostPrefix === true ? true : secure,
    path,
    domain: cookie.domain,
    persistent: cookie.persistent ?? true,
  };
}
