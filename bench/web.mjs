// The fetch-handler benchmark server (latchkey/web's withSession, served by @hono/node-server, as a
// Bun/Deno/Next.js route handler would be). BENCH_VARIANT: baseline | latchkey-redis | latchkey-redis-nc |
// latchkey-postgres(-nc) | latchkey-sqlite. Prints {"port": N}. GET /page reads the session and answers a small page.
import { serve } from "@hono/node-server";
import { announce, counters, latchkeySessions, page, variant } from "./common.mjs";

const sessions = await latchkeySessions();
if (!sessions && variant !== "baseline") throw new Error(`unknown BENCH_VARIANT ${variant}`);

const html = { "content-type": "text/html; charset=utf-8" };

/** The app: the same code with or without a session (`session` is null on the baseline). */
async function app(request, session) {
  const path = new URL(request.url).pathname;
  if (request.method === "GET" && path === "/page") {
    const user = session ? session.userId : "baseline";
    return user ? new Response(page(user), { headers: html }) : new Response("not signed in", { status: 401 });
  }
  if (request.method === "POST" && path === "/login") {
    if (session) await session.login(new URL(request.url).searchParams.get("user") ?? "bench-user");
    return new Response("ok");
  }
  if (path === "/__stats") return Response.json(sessions ? sessions.stats() : null);
  if (path === "/__statements") return Response.json({ statements: counters.statements });
  return new Response("not found", { status: 404 });
}

const { withSession } = sessions ? await import("../dist/adapters/web/index.js") : {};
const fetchHandler = sessions ? withSession(sessions, (request, { session }) => app(request, session)) : (request) => app(request, null);
const server = serve({ fetch: fetchHandler, port: 0, hostname: "127.0.0.1" }, () => announce(server, () => sessions?.close()));
