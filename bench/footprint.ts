// npm run bench:footprint — what one application process costs the store and
// itself, the figures an operator sizes a deployment from beside bench:scale's:
// connections each process holds (Redis and PostgreSQL, with and without the
// near-cache), and the heap a near-cache entry takes against the bytes the cache
// accounts for it (maxBytes). Writes bench/results/footprint.md; ~30 s.
//   npm run bench:footprint -- --sessions 10000
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import pg from "pg";
import { createClient } from "redis";
import { createSessions, type Sessions, type SessionsOptions } from "../src/core/index.js";
import { postgresStore } from "../src/stores/postgres/index.js";
import { redisStore } from "../src/stores/redis/index.js";
import { startPrivateRedis } from "./redis.js";

const { values } = parseArgs({
  options: {
    sessions: { type: "string", default: "10000" },
    "postgres-url": { type: "string", default: process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test" },
  },
});
const count = Number(values.sessions);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc (npm run bench:footprint does)");
const settle = async (): Promise<number> => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  gc();
  gc();
  return process.memoryUsage().heapUsed;
};
const quiet = { warn: () => undefined, error: console.error };
const base: Partial<SessionsOptions> = { sweepInterval: false, logger: quiet, bearer: true }; // bearer: login hands out the token, to read it back
const rows: string[] = [];

const dir = mkdtempSync(join(tmpdir(), "latchkey-bench-footprint-"));
const redis = await startPrivateRedis(dir, true);
const admin = createClient({ url: redis.url });
await admin.connect();
const redisConnections = async () => (await admin.clientList()).length - 1; // without the admin connection itself

// Connections per process on Redis: the app's own client, plus what latchkey opens.
for (const mode of ["no near-cache", "nearCache: true", 'nearCache + revocation: "strict"'] as const) {
  const app = createClient({ url: redis.url });
  await app.connect();
  const before = await redisConnections();
  const sessions = createSessions({
    ...base,
    store: redisStore({ client: app, prefix: `fp:${mode.length}:` }),
    ...(mode === "no near-cache" ? {} : { nearCache: true }),
    ...(mode.includes("strict") ? { revocation: "strict" as const } : {}),
  });
  await (await sessions.load(undefined)).login("someone"); // a first write: everything latchkey opens is open now
  await new Promise((resolve) => setTimeout(resolve, 300)); // the feed subscribes in the background
  rows.push(`| redis | ${mode} | 1 (the app's client) | ${(await redisConnections()) - before} |`);
  await sessions.close();
  await app.quit();
}

// Connections per process on PostgreSQL: the pool the store creates (pg's default max 10, opened on demand), plus a LISTEN connection.
const appName = `latchkey-footprint-${process.pid}`;
const probe = new pg.Client({ connectionString: values["postgres-url"] });
await probe.connect();
const table = `latchkey_footprint_${process.pid}`;
const pgConnections = async () =>
  Number((await probe.query<{ n: string }>("SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1", [appName])).rows[0]!.n);
for (const mode of ["no near-cache", "nearCache: true"] as const) {
  const url = new URL(values["postgres-url"]);
  url.searchParams.set("application_name", appName);
  const sessions = createSessions({
    ...base,
    store: postgresStore({ connectionString: url.toString(), table }),
    ...(mode === "no near-cache" ? {} : { nearCache: true }),
  });
  const session = await sessions.load(undefined);
  await session.login("someone", { transport: "bearer" });
  await new Promise((resolve) => setTimeout(resolve, 300));
  const listen = mode === "no near-cache" ? 0 : 1;
  const idle = (await pgConnections()) - listen;
  // 16 reads at once that miss any cache (16 different sessions): the pool grows to its max (pg's default 10) and no further.
  const others = await Promise.all(
    Array.from({ length: 16 }, async (_, i) => {
      const other = await sessions.load(undefined);
      await other.login(`someone-${i}`, { transport: "bearer" });
      return other.token!;
    }),
  );
  const beforeFresh = await pgConnections();
  const fresh = createSessions({ ...base, store: postgresStore({ connectionString: url.toString(), table }) });
  await fresh.load(others[0]);
  await Promise.all(others.map((token) => fresh.load(token)));
  const peak = (await pgConnections()) - beforeFresh; // a second manager's pool (no near-cache), after 16 concurrent reads
  await fresh.close();
  rows.push(`| postgres | ${mode} | pool: ${idle} open after one request, ${peak} under 16 concurrent reads (pg's default max: 10) | ${listen} (LISTEN) |`);
  await sessions.close();
}
await probe.query(`DROP TABLE IF EXISTS ${table}`);
await probe.end();

// Heap per near-cache entry: sign in `count` sessions in one manager, read them all through a second one with a near-cache.
const app = createClient({ url: redis.url });
await app.connect();
const store = () => redisStore({ client: app, prefix: "fp:heap:" });
const writer: Sessions = createSessions({ ...base, store: store() });
const tokens: string[] = [];
for (let i = 0; i < count; i++) {
  const session = await writer.load(undefined);
  await session.login(`user-${i % 1000}`, { transport: "bearer" }); // bearer: the token is handed out, to read it back below
  session.set("theme", "dark");
  session.set("cart", [{ sku: `sku-${i}`, qty: 1 }]);
  session.set("locale", "en-GB");
  await session.commit();
  tokens.push(session.token!);
}
const reader: Sessions = createSessions({ ...base, store: store(), nearCache: { maxEntries: count * 2 } });
await reader.load(tokens[0]); // the feed is up
while (!reader.stats().serving) await new Promise((resolve) => setTimeout(resolve, 20));
const before = await settle();
for (const token of tokens) await reader.load(token);
const after = await settle();
const stats = reader.stats();
const heapPerEntry = (after - before) / stats.entries;
const accountedPerEntry = stats.bytes / stats.entries;
await reader.close();
await writer.close();
await app.quit();
await admin.quit();
redis.stop();
rmSync(dir, { recursive: true, force: true });

const report = `# Footprint per process (bench/footprint.ts)

Command: npm run bench:footprint -- --sessions ${count}
Date: ${new Date().toISOString()}; Node ${process.version}.

## Connections one process holds

| store | configuration | the app's own | latchkey adds |
|---|---|---|---:|
${rows.join("\n")}

On a Redis Cluster the feed holds one subscriber connection per master (see docs/stores/redis-cluster.md).

## Near-cache memory

${stats.entries} cached sessions (user id, three data keys, device): ${heapPerEntry.toFixed(0)} bytes of V8 heap per entry;
the cache accounts ${accountedPerEntry.toFixed(0)} bytes per entry against maxBytes (default 32 MiB) —
heap / accounted = ${(heapPerEntry / accountedPerEntry).toFixed(2)}.
`;
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/footprint.md", report);
console.log(report);
