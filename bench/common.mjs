// What every benchmark server shares, whatever its framework: the latchkey instance a variant names, the
// statement counter for PostgreSQL, and the "{"port": N}" line the runner waits for.
// Variants: latchkey-redis | latchkey-postgres | latchkey-sqlite, with -nc for the near-cache;
// latchkey-redis-migrate: latchkey-redis with migrateFrom (expressSessionMigration), to show it costs latchkey requests nothing.
// A "+otel" suffix (latchkey-redis-nc+otel) passes metrics: otelMetrics() with no SDK registered;
// "+otel-sdk" registers an OpenTelemetry SDK MeterProvider (collected every 10 s) first.
// BENCH_REDIS_CLUSTER=1: BENCH_REDIS_URL is one node of a Redis Cluster. BENCH_REDIS_OPTIONS (JSON): more
// redisStore options, e.g. {"durability":{"replicas":1,"timeout":250}}.
// Plain JS on the compiled dist/ (as an app would run latchkey), not on the TypeScript sources.
import pg from "pg";
import { createClient, createCluster } from "redis";
import { createSessions } from "../dist/core/index.js";
import { expressSessionMigration } from "../dist/migrate/index.js";
import { otelMetrics } from "../dist/otel/index.js";
import { postgresStore } from "../dist/stores/postgres/index.js";
import { redisStore } from "../dist/stores/redis/index.js";
import { sqliteStore } from "../dist/stores/sqlite/index.js";

export const variant = process.env.BENCH_VARIANT ?? "baseline";
export const redisUrl = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
export const prefix = process.env.BENCH_PREFIX ?? `latchkey-bench:${process.pid}:`;

/** PostgreSQL statements sent by this process (counted at the pool: the server's own counters lag by seconds). */
export const counters = { statements: 0 };

/** The latchkey instance of a `latchkey-*` variant, or null for any other variant. */
export async function latchkeySessions(full = variant) {
  const [name, metricsMode] = full.split("+");
  if (!name.startsWith("latchkey-")) return null;
  const nearCache = name.endsWith("-nc");
  const store = name.replace(/-nc$/, "").slice("latchkey-".length);
  let backend;
  let migrateFrom;
  if (store === "redis" || store === "redis-migrate") {
    const client =
      process.env.BENCH_REDIS_CLUSTER === "1"
        ? createCluster({ rootNodes: [{ url: redisUrl }], defaults: { disableOfflineQueue: true } })
        : createClient({ url: redisUrl, disableOfflineQueue: true });
    await client.connect();
    backend = redisStore({ client, prefix, ...JSON.parse(process.env.BENCH_REDIS_OPTIONS ?? "{}") });
    if (store === "redis-migrate") migrateFrom = expressSessionMigration({ secret: "bench secret", source: { redis: client, prefix: `${prefix}sess:` } });
  } else if (store === "postgres") {
    // BENCH_PG_POOL_MAX: many processes on one database (bench:revoke --processes 16) stay under max_connections.
    const pool = new pg.Pool({
      connectionString: process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test",
      max: Number(process.env.BENCH_PG_POOL_MAX ?? 10),
      // BENCH_PG_APP names the pool's backends in pg_stat_activity (bench:revoke reads their CPU time);
      // idleTimeoutMillis 0 then keeps them for the whole run, so their counters are never lost mid-row.
      ...(process.env.BENCH_PG_APP ? { application_name: process.env.BENCH_PG_APP, idleTimeoutMillis: 0 } : {}),
    });
    const query = pool.query.bind(pool);
    pool.query = (...args) => {
      counters.statements += 1;
      return query(...args);
    };
    backend = postgresStore({ pool, table: process.env.BENCH_TABLE ?? "latchkey_bench" });
  } else if (store === "sqlite") {
    backend = sqliteStore({ path: process.env.BENCH_SQLITE ?? "bench/results/bench.db" });
  } else {
    throw new Error(`unknown BENCH_VARIANT ${name}`);
  }
  if (metricsMode === "otel-sdk") {
    const { metrics } = await import("@opentelemetry/api");
    const { InMemoryMetricExporter, AggregationTemporality, MeterProvider, PeriodicExportingMetricReader } = await import("@opentelemetry/sdk-metrics");
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 10_000 })] }));
  }
  const metricsOption = metricsMode === "otel" || metricsMode === "otel-sdk" ? { metrics: otelMetrics() } : {};
  if (metricsMode === "otel" && metricsOption.metrics !== undefined) throw new Error("+otel expects no SDK registered");
  if (metricsMode === "otel-sdk" && metricsOption.metrics === undefined) throw new Error("+otel-sdk expects an SDK registered");
  const extra = JSON.parse(process.env.BENCH_SESSIONS ?? "{}");
  return createSessions({
    store: backend,
    sweepInterval: false,
    ...(nearCache ? { nearCache: true } : {}),
    ...(migrateFrom ? { migrateFrom } : {}),
    ...metricsOption,
    ...extra,
  });
}

/** The page every variant answers to an authenticated read (the same bytes in every framework). */
export function page(user) {
  return `<!doctype html><title>page</title><p>Hello ${user}</p>`;
}

/** Prints the port line the runner waits for, and closes on SIGTERM. With an IPC channel (bench:cpu --inject), drives itself on request. */
export function announce(server, close) {
  if (process.send) process.on("message", (message) => void selfDrive(server, message).then((result) => process.send(result)));
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === "object" && address ? address.port : 0 })}\n`);
  process.on("SIGTERM", () => {
    server.close();
    void Promise.resolve()
      .then(close)
      .finally(() => process.exit(0));
  });
}

/**
 * Answers `requests` GET /page requests through the server's own request listener, `concurrency` at a time,
 * with light-my-request (no socket, no client process): the CPU time per request of the server's JavaScript
 * alone, which load on a shared machine disturbs far less than anything measured through sockets.
 */
async function selfDrive(server, { cookie, requests, concurrency }) {
  const { default: inject } = await import("light-my-request");
  const dispatch = server.listeners("request")[0];
  const headers = { cookie, host: "127.0.0.1" };
  let sent = 0;
  let failures = 0;
  const worker = async () => {
    while (sent++ < requests) {
      const response = await inject(dispatch, { method: "GET", url: "/page", headers });
      if (response.statusCode !== 200) failures++;
      // Without sockets nothing here waits for I/O: yield now and then, or the near-cache's lease renewals
      // (timers, a store round trip) never run, its lease lapses and the -nc rows read the store instead.
      if (sent % 256 === 0) await new Promise((resolve) => setImmediate(resolve));
    }
  };
  const before = process.cpuUsage();
  const started = performance.now();
  await Promise.all(Array.from({ length: concurrency }, worker));
  const used = process.cpuUsage(before);
  return { cpu: (used.user + used.system) / requests, seconds: (performance.now() - started) / 1000, failures };
}
