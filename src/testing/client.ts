// Test helpers: spawn real server processes, and an HTTP client with a cookie jar.
import { startScript, type ServerProcess } from "./process.js";

export type { ServerProcess };

/** The test server (src/testing/server.ts) as its own OS process. */
export function startServer(env: Record<string, string>): Promise<ServerProcess> {
  return startScript("server.ts", env);
}

/** A browser-like client: one cookie jar, any number of servers (a load balancer). */
export class Client {
  cookie: string | null = null;
  lastSetCookie: string[] = [];
  /** A request not answered within this many ms rejects (a TimeoutError); null: wait as long as it takes. */
  timeoutMs: number | null;

  constructor(cookie: string | null = null, timeoutMs: number | null = null) {
    this.cookie = cookie;
    this.timeoutMs = timeoutMs;
  }

  async request(method: string, url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any; text: string; headers: Headers }> {
    const response = await fetch(url, {
      method,
      headers: { ...(this.cookie ? { cookie: this.cookie } : {}), ...headers },
      redirect: "manual",
      ...(this.timeoutMs === null ? {} : { signal: AbortSignal.timeout(this.timeoutMs) }),
    });
    this.lastSetCookie = response.headers.getSetCookie();
    for (const line of this.lastSetCookie) {
      const pair = line.split(";")[0]!;
      const value = pair.slice(pair.indexOf("=") + 1);
      this.cookie = value === "" ? null : pair;
    }
    const text = await response.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = null;
    }
    return { status: response.status, body, text, headers: response.headers };
  }

  get(url: string, headers?: Record<string, string>) {
    return this.request("GET", url, headers);
  }

  post(url: string, headers?: Record<string, string>) {
    return this.request("POST", url, headers);
  }

  /** Another tab of the same browser: shares the cookie at this moment. */
  fork(): Client {
    return new Client(this.cookie, this.timeoutMs);
  }
}

export async function waitFor(predicate: () => Promise<boolean>, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (await predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  throw new Error(`timed out waiting for ${what}`);
}
