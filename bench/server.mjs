// The Express benchmark server. BENCH_VARIANT: baseline | empty-middleware | express-session |
// latchkey-redis | latchkey-postgres | latchkey-sqlite | latchkey-redis-nc | latchkey-postgres-nc (nc: near-cache).
// BENCH_SESSIONS (JSON) adds createSessions options, e.g. {"revocation":"strict"}.
// Prints {"port": N} when listening. GET /page reads the session and answers a small page.
import express from "express";
import { expressSessions } from "../dist/adapters/express/index.js";
import { anchorMiddleware } from "./anchor.mjs";
import { announce, counters, latchkeySessions, page, prefix, redisUrl, variant } from "./common.mjs";

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
  const sessions = await latchkeySessions();
  if (!sessions) throw new Error(`unknown BENCH_VARIANT ${variant}`);
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
  res.json({ statements: counters.statements });
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
  res.send(page(user));
});
const server = app.listen(0, "127.0.0.1", () => announce(server, () => adapter.close()));
