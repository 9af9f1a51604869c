// A server process running the OLD stack an app switches from: real
// express-session (+ connect-redis or connect-pg-simple) or real @fastify/session
// (+ connect-redis). `node --import tsx src/testing/legacy-app.ts`.
// Env: LEGACY_KIND ("express-redis" | "express-pg" | "fastify-redis"), LEGACY_SECRET,
// LEGACY_REDIS_URL + LEGACY_PREFIX, or DATABASE_URL + LEGACY_TABLE.
// Routes: POST /login/:user (Passport's layout: passport.user), POST /set/:key?value=JSON, GET /whoami.
// Prints one JSON line {"port": N} when listening.
import type { AddressInfo } from "node:net";

const kind = process.env.LEGACY_KIND ?? "express-redis";
const secret = process.env.LEGACY_SECRET ?? "legacy-secret-legacy-secret-legacy-secret";
const maxAge = Number(process.env.LEGACY_MAX_AGE ?? 86_400_000);

async function redisStore(): Promise<{ store: object; close(): Promise<void> }> {
  const { createClient } = await import("redis");
  const { RedisStore } = await import("connect-redis");
  const client = createClient({ url: process.env.LEGACY_REDIS_URL });
  await client.connect();
  return { store: new RedisStore({ client, prefix: process.env.LEGACY_PREFIX ?? "sess:" }), close: async () => void client.destroy() };
}

async function pgStore(session: unknown): Promise<{ store: object; close(): Promise<void> }> {
  const pg = (await import("pg")).default;
  const connectPgSimple = (await import("connect-pg-simple")).default;
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 });
  const PgStore = connectPgSimple(session as never);
  const store = new PgStore({ pool, tableName: process.env.LEGACY_TABLE ?? "session", createTableIfMissing: true, pruneSessionInterval: false });
  return { store, close: () => pool.end() };
}

let port: number;
let close: () => Promise<void>;

if (kind === "fastify-redis") {
  const Fastify = (await import("fastify")).default;
  const cookie = (await import("@fastify/cookie")).default;
  const session = (await import("@fastify/session")).default;
  const { store, close: closeStore } = await redisStore();
  const app = Fastify();
  await app.register(cookie);
  await app.register(session, { secret, store: store as never, saveUninitialized: false, cookie: { secure: false, maxAge } });
  const view = (request: any) => ({ pid: process.pid, user: request.session.get("passport")?.user ?? null, cart: request.session.get("cart") ?? null });
  app.post("/login/:user", async (request: any) => {
    request.session.set("passport", { user: request.params.user });
    request.session.set("cart", [`${request.params.user}-item`]);
    return view(request);
  });
  app.post("/set/:key", async (request: any) => {
    request.session.set(request.params.key, JSON.parse(String(request.query.value ?? "null")));
    return view(request);
  });
  app.get("/whoami", async (request: any) => view(request));
  await app.listen({ port: 0, host: "127.0.0.1" });
  port = (app.server.address() as AddressInfo).port;
  close = async () => {
    await app.close();
    await closeStore();
  };
} else {
  const express = (await import("express")).default;
  const session = (await import("express-session")).default;
  const { store, close: closeStore } = kind === "express-pg" ? await pgStore(session) : await redisStore();
  const app = express();
  app.use(session({ secret, store: store as never, resave: false, saveUninitialized: false, cookie: { maxAge } }));
  const view = (req: any) => ({ pid: process.pid, user: req.session.passport?.user ?? null, cart: req.session.cart ?? null });
  app.post("/login/:user", (req: any, res) => {
    req.session.passport = { user: req.params.user };
    req.session.cart = [`${req.params.user}-item`];
    res.json(view(req));
  });
  app.post("/set/:key", (req: any, res) => {
    req.session[req.params.key] = JSON.parse(String(req.query.value ?? "null"));
    res.json(view(req));
  });
  app.get("/whoami", (req, res) => {
    res.json(view(req));
  });
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  port = (server.address() as AddressInfo).port;
  close = async () => {
    server.close();
    await closeStore();
  };
}

process.stdout.write(`${JSON.stringify({ port })}\n`);
const stop = () => void close().finally(() => process.exit(0));
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
