// The demo: `npm start`. Two node cluster workers share one SQLite file; every
// response names the worker that rendered it, so you can watch a logout in one
// worker hold in the other. PORT (default 3000; 0 picks a free one) and
// DEMO_DB (default demo/data/sessions.db) override the defaults. The Express
// app is demo/app.ts, its form handlers demo/routes.ts, the page demo/page.ts.
import cluster from "node:cluster";
import { mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { WebSocketServer } from "ws";
import { createSessions } from "../src/core/index.js";
import { loadUpgradeSession } from "../src/adapters/node/index.js";
import { sqliteStore } from "../src/stores/sqlite/index.js";
import { demoApp, type Data } from "./app.js";
import { MAX_DEVICES } from "./http.js";

const PORT = Number(process.env.PORT ?? 3000);
const WORKERS = 2;
const DB = process.env.DEMO_DB ?? fileURLToPath(new URL("./data/sessions.db", import.meta.url));

if (cluster.isPrimary) {
  mkdirSync(dirname(DB), { recursive: true });
  console.log(`latchkey demo: ${WORKERS} workers sharing ${DB}`);
  let stopping = false;
  for (let i = 0; i < WORKERS; i++) cluster.fork();
  cluster.on("exit", (worker, code) => {
    if (stopping) {
      if (Object.keys(cluster.workers ?? {}).length === 0) process.exit(0);
      return;
    }
    console.log(`worker ${worker.id} exited (${code}); starting another`);
    cluster.fork();
  });
  const stop = () => {
    stopping = true;
    for (const worker of Object.values(cluster.workers ?? {})) worker?.process.kill("SIGTERM");
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
} else {
  const sessions = createSessions<Data>({
    store: sqliteStore({ path: DB }),
    idleTimeout: 30 * 60_000,
    absoluteTimeout: 12 * 3_600_000,
    cookie: { name: "sid", sameSite: "lax" },
    // Every form carries session.csrfToken in its _csrf field; a form post's session stays locked until verifyCsrf() accepts it.
    csrf: true,
    // A 6th device's login signs out the one used longest ago, in the login's own atomic step.
    maxSessionsPerUser: MAX_DEVICES,
    onSessionLimit: "end-oldest",
  });
  const worker = `worker ${cluster.worker!.id} (pid ${process.pid})`;
  const app = demoApp(sessions, worker);

  const server = app.listen(PORT, () => console.log(`${worker} listening on http://localhost:${(server.address() as AddressInfo).port}`));
  // The live "signed in" badge: a WebSocket per signed-in page, closed (4401) the moment its session
  // ends — in whichever worker it ends (SQLite has no feed: within watchInterval, 1 s).
  const live = new WebSocketServer({ noServer: true });
  server.on("upgrade", (req, socket, head) => {
    if (req.url !== "/live") return void socket.destroy();
    // Only this page's own script: another site's page could open it with the visitor's cookie (cross-site WebSocket hijacking).
    if (req.headers.origin !== undefined && new URL(req.headers.origin).host !== req.headers.host)
      return void socket.end("HTTP/1.1 403 Forbidden\r\nconnection: close\r\n\r\n");
    loadUpgradeSession(sessions, req).then(
      (s) => {
        if (s.handle === null || s.userId === null) return void socket.end("HTTP/1.1 401 Unauthorized\r\nconnection: close\r\n\r\n");
        const handle = s.handle;
        live.handleUpgrade(req, socket, head, (ws) => {
          const stop = sessions.watch(handle, ({ reason }) => ws.close(4401, `session ended: ${reason}`));
          ws.on("close", stop);
        });
      },
      () => socket.end("HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\r\n"),
    );
  });
  process.on("SIGTERM", () => {
    server.close();
    void sessions.close().finally(() => process.exit(0));
  });
}
