// Redis helpers for tests: the shared server named by REDIS_URL, private
// redis-server processes on spare ports, and prefix-scoped cleanup (never FLUSH*).
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createServer } from "node:net";
import { createClient } from "redis";
import { requireService, type ServiceCheck } from "./services.js";

export const REDIS_URL = process.env.REDIS_URL ?? "redis://127.0.0.1:6379";

/** A prefix no other test run uses: `latchkey-test:<pid>:<random>:`. */
export function testPrefix(): string {
  return `latchkey-test:${process.pid}:${randomBytes(4).toString("hex")}:`;
}

export async function pingRedis(url: string): Promise<void> {
  const client = createClient({ url, socket: { reconnectStrategy: false, connectTimeout: 2000 } });
  client.on("error", () => undefined);
  await client.connect();
  try {
    await client.ping();
  } finally {
    client.destroy();
  }
}

/** The shared Redis (REDIS_URL): skipped loudly when unreachable, a failure with CI=true. */
export function requireRedis(): Promise<ServiceCheck> {
  return requireService("Redis", () => pingRedis(REDIS_URL), { hint: "start redis-server on 127.0.0.1:6379 or set REDIS_URL" });
}

/** The redis-server binary, for tests that start private servers (cluster, faults, command counts). */
export function requireRedisServer(): Promise<ServiceCheck> {
  return requireService(
    "Redis (private redis-server)",
    async () => {
      const result = spawnSync("redis-server", ["--version"], { encoding: "utf8" });
      if (result.error || result.status !== 0) throw new Error(`redis-server is not on PATH${result.error ? ` (${result.error.message})` : ""}`);
    },
    { hint: "install redis-server (e.g. apt-get install redis-server)" },
  );
}

/** Deletes every key under `prefix` (SCAN MATCH, test cleanup only). */
export async function deletePrefix(url: string, prefix: string): Promise<number> {
  const client = createClient({ url, socket: { reconnectStrategy: false } });
  client.on("error", () => undefined);
  await client.connect();
  let deleted = 0;
  try {
    const pattern = `${prefix.replace(/[*?[\]\\]/g, "\\$&")}*`;
    for await (const keys of client.scanIterator({ MATCH: pattern, COUNT: 1000 })) {
      if (keys.length > 0) deleted += await client.del(keys);
    }
  } finally {
    client.destroy();
  }
  return deleted;
}

function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = createServer();
    server.once("error", () => resolve(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolve(true)));
  });
}

/** A port nobody listens on (and, with `busOffset`, port + busOffset free too: Redis Cluster's bus port). */
export async function sparePort(busOffset?: number): Promise<number> {
  for (let attempt = 0; attempt < 200; attempt++) {
    const port = 20_000 + Math.floor(Math.random() * 25_000);
    if ((await portIsFree(port)) && (busOffset === undefined || (await portIsFree(port + busOffset)))) return port;
  }
  throw new Error("no spare port found");
}

export interface RedisServer {
  port: number;
  url: string;
  child: ChildProcess;
  /** SIGKILL, resolved once the process is gone. */
  kill(): Promise<void>;
}

const running = new Set<ChildProcess>();
let exitHookInstalled = false;
/** Private servers never outlive the test process, even when a test throws before its cleanup. */
function track(child: ChildProcess): void {
  running.add(child);
  child.once("exit", () => running.delete(child));
  if (!exitHookInstalled) {
    exitHookInstalled = true;
    process.once("exit", () => {
      for (const server of running) server.kill("SIGKILL");
    });
  }
}

/** Starts `redis-server` on `port` in `dir` (no persistence unless `args` says so) and waits until it answers (≤ 10 s). */
export async function startRedisServer(options: { port: number; dir: string; args?: string[] }): Promise<RedisServer> {
  const { port, dir } = options;
  const args = ["--port", String(port), "--bind", "127.0.0.1", "--dir", dir, "--save", "", "--appendonly", "no", ...(options.args ?? [])];
  const child = spawn("redis-server", args, { stdio: ["ignore", "ignore", "pipe"] });
  track(child);
  let stderr = "";
  child.stderr!.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
  const url = `redis://127.0.0.1:${port}`;
  const kill = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once("exit", () => resolve());
      child.kill("SIGKILL");
    });
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`redis-server on port ${port} exited with ${child.exitCode}: ${stderr}`);
    try {
      await pingRedis(url);
      return { port, url, child, kill };
    } catch (error) {
      if (Date.now() > deadline) {
        await kill();
        throw new Error(`redis-server on port ${port} did not answer in 10 s: ${(error as Error).message} ${stderr}`, { cause: error });
      }
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }
}

/** Polls `check` until it is true, at most `timeoutMs`. */
export async function until(check: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      if (await check()) return;
    } catch {
      // not yet
    }
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
