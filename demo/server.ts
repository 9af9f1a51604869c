// The demo: `npm start`. Two node cluster workers share one SQLite file; every
// page says which worker answered, so you can watch a logout in one worker hold
// in the other.
import cluster from "node:cluster";
import { mkdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import express from "express";
import { createSessions } from "../src/core/index.js";
import { expressSessions } from "../src/express/index.js";
import { sqliteStore } from "../src/sqlite/index.js";
import { page } from "./page.js";

const PORT = Number(process.env.PORT ?? 3000);
const WORKERS = 2;
const dataDir = fileURLToPath(new URL("./data/", import.meta.url));

if (cluster.isPrimary) {
  mkdirSync(dataDir, { recursive: true });
  console.log(`latchkey demo: ${WORKERS} workers sharing ${dataDir}sessions.db`);
  for (let i = 0; i < WORKERS; i++) cluster.fork();
  cluster.on("exit", (worker, code) => {
    console.log(`worker ${worker.process.pid} exited (${code}); starting another`);
    cluster.fork();
  });
  console.log(`open http://localhost:${PORT}`);
} else {
  type Data = { note?: string; visits?: number };
  const sessions = createSessions<Data>({
    store: sqliteStore({ path: `${dataDir}sessions.db` }),
    idleTimeout: 30 * 60_000,
    absoluteTimeout: 12 * 3_600_000,
    cookie: { name: "sid", sameSite: "lax" },
  });
  const app = express();
  app.use(express.urlencoded({ extended: false, limit: "4kb" }));
  app.use(expressSessions(sessions));
  const worker = `worker ${cluster.worker!.id} (pid ${process.pid})`;

  const session = (req: express.Request) => req.session as unknown as import("../src/core/index.js").Session<Data>;

  app.get("/", async (req, res, next) => {
    try {
      const s = session(req);
      const list = s.userId ? await sessions.list(s.userId) : [];
      res.type("html").send(page({ worker, userId: s.userId, note: s.get("note") ?? "", handle: s.handle, sessions: list }));
    } catch (error) {
      next(error);
    }
  });
  const action = (fn: (req: express.Request) => Promise<unknown> | unknown) =>
    async (req: express.Request, res: express.Response, next: express.NextFunction) => {
      try {
        await fn(req);
        res.redirect(303, "/");
      } catch (error) {
        next(error);
      }
    };
  app.post("/login", action(async (req) => {
    const name = String(req.body.name ?? "").trim().slice(0, 40);
    if (name) await session(req).login(name);
  }));
  app.post("/note", action((req) => session(req).set("note", String(req.body.note ?? "").slice(0, 200))));
  app.post("/logout", action((req) => session(req).logout()));
  app.post("/logout-everywhere", action(async (req) => {
    const userId = session(req).userId;
    if (userId) await sessions.revokeUser(userId);
  }));
  app.post("/revoke", action(async (req) => {
    const userId = session(req).userId;
    const handle = String(req.body.handle ?? "");
    // Only your own sessions: the handle must be in your list.
    if (userId && (await sessions.list(userId)).some((s) => s.handle === handle)) await sessions.revoke(handle);
  }));
  app.listen(PORT, () => console.log(`${worker} listening on :${PORT}`));
  process.on("SIGTERM", () => void sessions.close().finally(() => process.exit(0)));
}
