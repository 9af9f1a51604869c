// A private redis-server for the benchmarks, so INFO commandstats counts only their commands.
import { spawn, spawnSync } from "node:child_process";
import { createClient } from "redis";

/** Starts redis-server on a random port in `dir` (with `replicaOf`: a replica of that URL's server); without redis-server on PATH, falls back to REDIS_URL (or throws when `required`). */
export async function startPrivateRedis(dir: string, required = false, replicaOf?: string): Promise<{ url: string; stop: () => void; pid?: number }> {
  if (spawnSync("redis-server", ["--version"]).status !== 0) {
    if (required) throw new Error("this benchmark needs redis-server on PATH");
    console.warn("redis-server not found: using REDIS_URL; command counts include other clients");
    return { url: process.env.REDIS_URL ?? "redis://127.0.0.1:6379", stop: () => undefined };
  }
  const port = 20_000 + Math.floor(Math.random() * 20_000);
  const replication = replicaOf ? ["--replicaof", ...new URL(replicaOf).host.split(":")] : [];
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, ...replication], {
    stdio: "ignore",
  });
  const url = `redis://127.0.0.1:${port}`;
  for (let i = 0; i < 100; i++) {
    const client = createClient({ url, socket: { reconnectStrategy: false } });
    client.on("error", () => undefined);
    try {
      await client.connect();
      await client.quit();
      return { url, stop: () => child.kill("SIGKILL"), pid: child.pid };
    } catch {
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  child.kill("SIGKILL");
  throw new Error("private redis-server did not start");
}
