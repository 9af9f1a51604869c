// The Koa benchmark server. BENCH_VARIANT: baseline | empty-middleware | latchkey-redis | latchkey-redis-nc |
// latchkey-postgres(-nc) | latchkey-sqlite. Prints {"port": N}. GET /page reads the session and answers a small page.
import Koa from "koa";
import { announce, counters, latchkeySessions, page, variant } from "./common.mjs";

const app = new Koa();
let sessions = null;
let userId = () => "baseline";

if (variant === "empty-middleware") {
  // The floor for any session middleware on Koa: one middleware that sets ctx.session and awaits next().
  const session = { userId: "bench-user" };
  app.use((ctx, next) => {
    ctx.session = session;
    return next();
  });
  userId = (ctx) => ctx.session.userId;
} else if (variant !== "baseline") {
  sessions = await latchkeySessions();
  if (!sessions) throw new Error(`unknown BENCH_VARIANT ${variant}`);
  const { koaSessions } = await import("../dist/adapters/koa/index.js");
  app.use(koaSessions(sessions));
  userId = (ctx) => ctx.session.userId;
}

app.use(async (ctx) => {
  if (ctx.method === "GET" && ctx.path === "/page") {
    const user = userId(ctx);
    if (!user) {
      ctx.status = 401;
      ctx.body = "not signed in";
      return;
    }
    ctx.type = "text/html; charset=utf-8";
    ctx.body = page(user);
  } else if (ctx.method === "POST" && ctx.path === "/login") {
    if (sessions) await ctx.session.login(String(ctx.query.user ?? "bench-user"));
    ctx.body = "ok";
  } else if (ctx.path === "/__stats") {
    ctx.body = JSON.stringify(sessions ? sessions.stats() : null);
  } else if (ctx.path === "/__statements") {
    ctx.body = { statements: counters.statements };
  }
});
const server = app.listen(0, "127.0.0.1", () => announce(server, () => sessions?.close()));
