// The node:http benchmark server. BENCH_VARIANT: baseline | latchkey-redis | latchkey-redis-nc |
// latchkey-postgres(-nc) | latchkey-sqlite. Prints {"port": N}. GET /page reads the session and answers a small page.
import { createServer } from "node:http";
import { announce, counters, latchkeySessions, page, variant } from "./common.mjs";

const sessions = await latchkeySessions();
if (!sessions && variant !== "baseline") throw new Error(`unknown BENCH_VARIANT ${variant}`);

function send(res, status, type, body) {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

function handler(req, res) {
  const path = req.url.split("?")[0];
  if (req.method === "GET" && path === "/page") {
    const user = sessions ? req.session.userId : "baseline";
    if (!user) send(res, 401, "text/plain; charset=utf-8", "not signed in");
    else send(res, 200, "text/html; charset=utf-8", page(user));
  } else if (req.method === "POST" && path === "/login") {
    const user = new URL(req.url, "http://x").searchParams.get("user") ?? "bench-user";
    Promise.resolve(sessions ? req.session.login(user) : undefined).then(
      () => send(res, 200, "text/plain; charset=utf-8", "ok"),
      () => send(res, 500, "text/plain; charset=utf-8", "login failed"),
    );
  } else if (path === "/__stats") {
    send(res, 200, "application/json", JSON.stringify(sessions ? sessions.stats() : null));
  } else if (path === "/__statements") {
    send(res, 200, "application/json", JSON.stringify({ statements: counters.statements }));
  } else {
    send(res, 404, "text/plain; charset=utf-8", "not found");
  }
}

const listener = sessions ? (await import("../dist/adapters/node/index.js")).nodeSessions(sessions, handler) : handler;
const server = createServer(listener);
server.listen(0, "127.0.0.1", () => announce(server, () => sessions?.close()));
