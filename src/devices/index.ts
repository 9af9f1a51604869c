// Devices: what a session remembers of the browser that signed in, and the
// readable label `sessions.list()` shows. Recorded at login only; parsed only
// when listed, so the authenticated read path never pays for it.
import Bowser from "bowser";
import type { DeviceInfo } from "../store/contract.js";
import { MAX_USER_AGENT_LENGTH } from "../store/limits.js";

export { MAX_USER_AGENT_LENGTH };

/** What a login tells of its device (the session's RequestContext has these). */
export interface DeviceSource {
  readonly userAgent: string | undefined;
  ip(): string | undefined;
}
/** An IPv6 address with a zone fits easily; anything longer is not an address. */
const MAX_IP_LENGTH = 64;

/**
 * Control characters have no business in a header or an address (NUL breaks some stores; C1 controls,
 * U+0080–U+009F, which a header's raw bytes 0x80–0x9F decode to, drive some terminals as escapes).
 */
const CONTROL = /[\u0000-\u001f\u007f-\u009f]/g;
const HAS_CONTROL = /[\u0000-\u001f\u007f-\u009f]/;

/**
 * What to record for a login from `request`: the User-Agent (cut to
 * {@link MAX_USER_AGENT_LENGTH}) and, only with `recordIp`, the client address.
 * Undefined when there is nothing to record.
 * @example
 * deviceOf({ cookieHeader: undefined, userAgent: "curl/8.5.0", ip: () => "10.0.0.1" }, false); // { userAgent: "curl/8.5.0" }
 */
export function deviceOf(request: DeviceSource | undefined, recordIp: boolean): DeviceInfo | undefined {
  if (!request) return undefined;
  const device: DeviceInfo = {};
  const userAgent = request.userAgent;
  const cleaned = typeof userAgent === "string" ? userAgent.replace(CONTROL, "").slice(0, MAX_USER_AGENT_LENGTH) : "";
  if (cleaned !== "") device.userAgent = cleaned;
  if (recordIp) {
    const ip = request.ip();
    if (typeof ip === "string" && ip !== "" && ip.length <= MAX_IP_LENGTH && !HAS_CONTROL.test(ip)) device.ip = ip;
  }
  return device.userAgent === undefined && device.ip === undefined ? undefined : device;
}

/**
 * A readable name for a User-Agent, such as "Firefox on Linux" or "Safari on
 * iOS" (parsed with bowser, MIT). "Unknown device" when nothing was recorded.
 * @example
 * deviceLabel("Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"); // "Firefox on Linux"
 */
export function deviceLabel(userAgent: string | undefined): string {
  if (!userAgent) return "Unknown device";
  let browser = "";
  let os = "";
  try {
    const parser = Bowser.getParser(userAgent);
    browser = parser.getBrowserName();
    os = parser.getOSName();
  } catch {
    // bowser throws on input it cannot read; fall through to the product token
  }
  if (browser && os) return `${browser} on ${os}`;
  if (browser) return browser;
  if (os) return `${os} device`;
  // "curl/8.5.0", "okhttp/4.12": the product name says more than "Unknown".
  const product = /^([A-Za-z][A-Za-z0-9._-]{0,39})\//.exec(userAgent)?.[1];
  return product ?? "Unknown device";
}
