// How a request reached the app, as far as the session cookie cares: whether
// it is plain-HTTP local development (the one case where the cookie goes out
// without Secure and without the __Host- prefix), and what the proxies in
// front of the app say about the client (X-Forwarded-For / -Proto), trusted
// only as far as the configured number of proxies.

// The last Host judged, and the verdict: a deployment sends the same Host on every request (one comparison, not a parse).
let lastHost = "";
let lastLoopback = false;

/** True for a Host header value that names this machine: localhost, *.localhost, 127.x.x.x, [::1]; any port. */
export function isLoopbackHost(host: string): boolean {
  if (host === lastHost) return lastLoopback;
  lastLoopback = parseLoopbackHost(host);
  lastHost = host;
  return lastLoopback;
}

function parseLoopbackHost(host: string): boolean {
  let name = host.trim().toLowerCase();
  if (name.startsWith("[")) {
    const end = name.indexOf("]");
    return end !== -1 && name.slice(1, end) === "::1";
  }
  const colon = name.indexOf(":");
  if (colon !== -1) name = name.slice(0, colon);
  if (name.endsWith(".")) name = name.slice(0, -1);
  return name === "localhost" || name.endsWith(".localhost") || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(name);
}

/**
 * Whether a request is to this machine (local development), judged from the
 * host the browser addressed: the Host header, and X-Forwarded-Host /
 * X-Forwarded-Proto when a proxy added them.
 *
 * Why the Host header and not the socket's local address: the cookie's
 * attributes matter only on a victim's browser, and a browser always sends
 * the host it is talking to. A forged Host only changes the forger's own
 * response, and every value but a loopback name makes the cookie *more*
 * secure. The socket would be wrong both ways: behind a proxy on the same
 * machine it is 127.0.0.1 in production, and in a container during
 * development it is not; a web Request has no socket at all, while every
 * adapter has the headers. Any hint of a public name or of https (a proxy's
 * X-Forwarded-Host or X-Forwarded-Proto, trusted or not: they can only add
 * Secure) counts as not local. These are the same on every request of a
 * deployment, so the cookie's name never flips between requests.
 * A proxy that rewrites Host to localhost and adds neither header (nginx
 * `proxy_pass http://127.0.0.1:3000` alone) hides the public name: forward
 * it (`proxy_set_header Host $host`) or set `cookie.secure: true`.
 */
export function isLocalRequest(host: string | undefined, forwardedHost: string | undefined, forwardedProto: string | undefined): boolean {
  if (host === undefined || !isLoopbackHost(host)) return false;
  if (forwardedHost !== undefined && !forwardedHost.split(",").every(isLoopbackHost)) return false;
  return forwardedProto === undefined || !/https/i.test(forwardedProto);
}

/**
 * The entry of a comma-separated forwarding header (X-Forwarded-For,
 * X-Forwarded-Proto) written by the farthest of `proxies` trusted proxies:
 * the `proxies`-th from the right, as Express's `trust proxy` with a count
 * does. Entries left of it were written by the client and are never used.
 * Undefined when no proxy is trusted or the header is absent.
 */
export function forwardedEntry(value: string | readonly string[] | undefined, proxies: number): string | undefined {
  if (value === undefined || proxies <= 0) return undefined;
  const entries = (typeof value === "string" ? value : value.join(",")).split(",");
  const entry = entries[Math.max(0, entries.length - proxies)]!.trim();
  return entry === "" ? undefined : entry;
}

/**
 * Validates an adapter's `trustProxy` option: the number of reverse proxies in
 * front of the app (0 or false: none). `true` is refused: it used to mean the
 * leftmost X-Forwarded-For entry, which any client writes.
 */
export function resolveTrustProxy(value: unknown, adapter: string): number {
  if (value === undefined || value === false) return 0;
  if (value === true) {
    throw new TypeError(
      `latchkey: ${adapter} trustProxy: true is not accepted: it would take the client address from the leftmost X-Forwarded-For entry, which any client can write. ` +
        "Give the number of reverse proxies in front of the app, e.g. trustProxy: 1 for one nginx or load balancer",
    );
  }
  if (typeof value !== "number" || !Number.isInteger(value) || value < 0 || value > 32) {
    throw new TypeError(
      `latchkey: ${adapter} trustProxy must be the number of reverse proxies in front of the app, a whole number from 0 to 32 (got ${String(value)}); e.g. trustProxy: 1`,
    );
  }
  return value;
}
