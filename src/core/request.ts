/**
 * What a session may need to know about the request it belongs to, beyond
 * its own cookie: the raw Cookie header (a migration reads another library's
 * cookie from it), the User-Agent and the client address (recorded at login
 * for the device list). Adapters build one per request; nothing here is read
 * on the authenticated read path, and the address is resolved only when asked
 * for (frameworks compute it through their trust-proxy rules).
 */
export interface RequestContext {
  /** The request's raw Cookie header, if any. */
  readonly cookieHeader: string | undefined;
  /** The request's User-Agent header, if any. */
  readonly userAgent: string | undefined;
  /** The client address as the framework resolves it (trust proxy); called only when needed. */
  ip(): string | undefined;
}
