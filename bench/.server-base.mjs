// One benchmark server process. BENCH_VARIANT: baseline | empty-middleware | express-session | latchkey-redis |
// latchkey-postgres | latchkey-sqlite | latchkey-redis-nc | latchkey-postgres-nc (nc: with the near-cache).
// BENCH_SESSIONS (JSON) adds createSessions options, e.g. {"revocation":"strict"}.
// Prints {"port": N} when listening. GET /page reads the session and answers a small page.
// Plain JS on the compiled dist/ (as an app would run latchkey), not on the TypeScript sources.
import express from "express";
import pg from "pg";
import { createClient } from "redis";
import { createSessions } from "/tmp/p8prof/base/dist/core/index.js";
import { expressSessions } from "/tmp/p8prof/base/dist/express/index.js";
import { postgresStore } from "/tmp/p8prof/base/dist/postgres/index.js";
import { redisStore } from "/tmp/p8prof/base/dist/redis/index.js";
import { sqliteStore } from "/tmp/p8prof/base/dist/sqlite/index.js";
import { anchorMiddleware } from "/work/wt8/bench/anchor.mjs";

const variant = process.env.BENCH_VARIANT ?? "baseline";
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
  if (variant === "latchkey-redis" || variant === "latchkey-redis-nc") {
    const client = createClient({ url: redisUrl, disableOfflineQueue: true });
    await client.connect();
    store = redisStore({ client, prefix });
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
  const sessions = createSessions({ store, sweepInterval: false, ...(nearCache ? { nearCache: true } : {}), ...extra });
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
