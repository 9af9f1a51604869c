// One benchmark server process. BENCH_VARIANT: baseline | empty-middleware | express-session | latchkey-redis |
// latchkey-postgres | latchkey-sqlite | latchkey-redis-nc | latchkey-postgres-nc (nc: with the near-cache)
// | latchkey-redis-migrate (latchkey-redis with migrateFrom: expressSessionMigration, to show it costs latchkey requests nothing).
// BENCH_SESSIONS (JSON) adds createSessions options, e.g. {"revocation":"strict"}.
// A "+otel" suffix (latchkey-redis-nc+otel) passes metrics: otelMetrics() with no SDK registered;
// "+otel-sdk" registers an OpenTelemetry SDK MeterProvider (collected every 10 s) first.
// Prints {"port": N} when listening. GET /page reads the session and answers a small page.
// Plain JS on the compiled dist/ (as an app would run latchkey), not on the TypeScript sources.
import express from "express";
import pg from "pg";
import { createClient, createCluster } from "redis";
import { createSessions } from "../dist/core/index.js";
import { expressSessions } from "../dist/express/index.js";
import { postgresStore } from "../dist/postgres/index.js";
import { redisStore } from "../dist/redis/index.js";
import { sqliteStore } from "../dist/sqlite/index.js";
import { expressSessionMigration } from "../dist/migrate/index.js";
import { otelMetrics } from "../dist/otel/index.js";
import { anchorMiddleware } from "./anchor.mjs";

const [variant, metricsMode] = (process.env.BENCH_VARIANT ?? "baseline").split("+");
const redisUrl = process.env.BENCH_REDIS_URL ?? "redis://127.0.0.1:6379";
const prefix = process.env.BENCH_PREFIX ?? `latchkey-bench:${process.pid}:`;

let statements = 0;

async function setup() {
  if (variant === "empty-middleware") {
    // The floor for any session middleware: one Express layer that sets req.session and calls next().
    const session = { userId: "bench-user" };
    const middleware = (req, _res, next) => {
      req.session = session;
      next();
    };
    return { middleware, adapter: { login: async () => undefined, userId: (req) => req.session.userId, close: async () => undefined } };
  }
  if (variant === "baseline") {
    return { middleware: null, adapter: { login: async () => undefined, userId: () => "baseline", close: async () => undefined } };
  }
  if (variant === "express-session") {
    return anchorMiddleware(redisUrl, prefix);
  }
  let store;
  const nearCache = variant.endsWith("-nc");
  let migrateFrom;
  if (variant === "latchkey-redis" || variant === "latchkey-redis-nc" || variant === "latchkey-redis-migrate") {
    // BENCH_REDIS_CLUSTER=1: BENCH_REDIS_URL is one node of a Redis Cluster.
    const client =
      process.env.BENCH_REDIS_CLUSTER === "1"
        ? createCluster({ rootNodes: [{ url: redisUrl }], defaults: { disableOfflineQueue: true } })
        : createClient({ url: redisUrl, disableOfflineQueue: true });
    await client.connect();
    // BENCH_REDIS_OPTIONS (JSON): more redisStore options, e.g. {"durability":{"replicas":1,"timeout":250}}.
    store = redisStore({ client, prefix, ...JSON.parse(process.env.BENCH_REDIS_OPTIONS ?? "{}") });
    if (variant === "latchkey-redis-migrate") {
      migrateFrom = expressSessionMigration({ secret: "bench secret", source: { redis: client, prefix: `${prefix}sess:` } });
    }
  } else if (variant === "latchkey-postgres" || variant === "latchkey-postgres-nc") {
    const pool = new pg.Pool({ connectionString: process.env.BENCH_DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test" });
    // Count statements at the client: PostgreSQL's own counters lag by seconds.
    const query = pool.query.bind(pool);
    pool.query = (...args) => {
      statements += 1;
      return query(...args);
    };
    store = postgresStore({ pool, table: process.env.BENCH_TABLE ?? "latchkey_bench" });
  } else if (variant === "latchkey-sqlite") {
    store = sqliteStore({ path: process.env.BENCH_SQLITE ?? "bench/results/bench.db" });
  } else {
    throw new Error(`unknown BENCH_VARIANT ${variant}`);
  }
  const extra = JSON.parse(process.env.BENCH_SESSIONS ?? "{}");
  if (metricsMode === "otel-sdk") {
    const { metrics } = await import("@opentelemetry/api");
    const { InMemoryMetricExporter, AggregationTemporality, MeterProvider, PeriodicExportingMetricReader } = await import("@opentelemetry/sdk-metrics");
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 10_000 })] }));
  }
  const metricsOption = metricsMode === "otel" || metricsMode === "otel-sdk" ? { metrics: otelMetrics() } : {};
  if (metricsMode === "otel" && metricsOption.metrics !== undefined) throw new Error("+otel expects no SDK registered");
  if (metricsMode === "otel-sdk" && metricsOption.metrics === undefined) throw new Error("+otel-sdk expects an SDK registered");
  const sessions = createSessions({ store, sweepInterval: false, ...(nearCache ? { nearCache: true } : {}), ...(migrateFrom ? { migrateFrom } : {}), ...metricsOption, ...extra });
  return {
    middleware: expressSessions(sessions),
    adapter: { login: (req, user) => req.session.login(user), userId: (req) => req.session.userId, close: () => sessions.close() },
    sessions,
  };
}

const { middleware, adapter, sessions } = await setup();
const app = express();
app.disable("x-powered-by");
app.disable("etag");
if (middleware) app.use(middleware);
app.get("/__statements", (_req, res) => {
  res.json({ statements });
});
app.get("/__stats", (_req, res) => {
  res.json(sessions ? sessions.stats() : null);
});
app.post("/login", (req, res, next) => {
  adapter.login(req, String(req.query.user ?? "bench-user")).then(() => res.send("ok"), next);
});
// How long the revocation took inside this process (what a strict logout costs the request).
app.post("/logout", (req, res, next) => {
  const started = performance.now();
  req.session.logout().then(() => res.json({ ms: performance.now() - started }), next);
});
app.get("/page", (req, res) => {
  const user = adapter.userId(req);
  if (!user) {
    res.status(401).send("not signed in");
    return;
  }
  res.send(`<!doctype html><title>page</title><p>Hello ${user}</p>`);
});
const server = app.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === "object" && address ? address.port : 0 })}\n`);
});
process.on("SIGTERM", () => {
  server.close();
  void adapter.close().finally(() => process.exit(0));
});
