// The Hono benchmark server (on @hono/node-server). BENCH_VARIANT: baseline | empty-middleware | latchkey-redis |
// latchkey-redis-nc | latchkey-postgres(-nc) | latchkey-sqlite. Prints {"port": N}. GET /page reads the session and answers a small page.
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { announce, counters, latchkeySessions, page, variant } from "./common.mjs";

const app = new Hono();
let sessions = null;
let userId = () => "baseline";

if (variant === "empty-middleware") {
  // The floor for any session middleware on Hono: one middleware that sets the session and awaits next().
  const session = { userId: "bench-user" };
  app.use(async (c, next) => {
    c.set("session", session);
    await next();
  });
  userId = (c) => c.get("session").userId;
} else if (variant !== "baseline") {
  sessions = await latchkeySessions();
  if (!sessions) throw new Error(`unknown BENCH_VARIANT ${variant}`);
  const { honoSessions } = await import("../dist/adapters/hono/index.js");
  app.use(honoSessions(sessions));
  userId = (c) => c.get("session").userId;
}

app.get("/page", (c) => {
  const user = userId(c);
  return user ? c.html(page(user)) : c.text("not signed in", 401);
});
app.post("/login", async (c) => {
  if (sessions) await c.get("session").login(c.req.query("user") ?? "bench-user");
  return c.text("ok");
});
app.get("/__stats", (c) => c.json(sessions ? sessions.stats() : null));
app.get("/__statements", (c) => c.json({ statements: counters.statements }));

const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, () => announce(server, () => sessions?.close()));
