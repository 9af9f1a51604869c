// Test helpers: spawn real server processes, and an HTTP client with a cookie jar.
import { spawn, type ChildProcess } from "node:child_process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";

const SERVER = fileURLToPath(new URL("./server.ts", import.meta.url));

export interface ServerProcess {
  url: string;
  pid: number;
  child: ChildProcess;
  stop(): Promise<void>;
}

export async function startServer(env: Record<string, string>): Promise<ServerProcess> {
  const child = spawn(process.execPath, ["--import", "tsx", SERVER], {
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout! });
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error("test server did not start in 20 s")), 20_000);
    child.once("exit", (code) => reject(new Error(`test server exited with ${code}`)));
    lines.once("line", (line) => {
      clearTimeout(timer);
      resolve((JSON.parse(line) as { port: number }).port);
    });
  });
  return {
    url: `http://127.0.0.1:${port}`,
    pid: child.pid!,
    child,
    stop: () =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once("exit", () => resolve());
        child.kill("SIGTERM");
      }),
  };
}

/** A browser-like client: one cookie jar, any number of servers (a load balancer). */
export class Client {
  cookie: string | null = null;
  lastSetCookie: string[] = [];

  constructor(cookie: string | null = null) {
    this.cookie = cookie;
  }

  async request(method: string, url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: any; text: string; headers: Headers }> {
    const response = await fetch(url, {
      method,
      headers: { ...(this.cookie ? { cookie: this.cookie } : {}), ...headers },
      redirect: "manual",
    });
    this.lastSetCookie = response.headers.getSetCookie();
    for (const line of this.lastSetCookie) {
      const pair = line.split(";")[0]!;
      const value = pair.slice(pair.indexOf("=") + 1);
      this.cookie = value === "" ? null : pair;
    }
    const text = await response.text();
    let body: unknown = null;
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
    return new Client(this.cookie);
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
