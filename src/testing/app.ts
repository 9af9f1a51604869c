// The HTTP app every adapter test and multi-process test drives. Routes use
// query strings only, so no body parser is involved.
import { writeFileSync } from "node:fs";
import type { Express, Request, Response } from "express";
import type { Sessions } from "../core/index.js";
import { expressSessions, type ExpressSessionsOptions } from "../express/index.js";

type ExpressFactory = () => Express;

export function buildApp(express: ExpressFactory, sessions: Sessions, options: ExpressSessionsOptions = {}): Express {
  const app = express();
  app.set("trust proxy", "loopback");
  // When the request reached this process, on CLOCK_MONOTONIC: the same clock in
  // every process of the machine, so tests can order events across processes.
  app.use((req, _res, next) => {
    (req as Request & { arrivedAt?: bigint }).arrivedAt = process.hrtime.bigint();
    next();
  });
  app.use(expressSessions(sessions, options));

  const waiting: Array<() => void> = [];
  const arrivedAt = (req: Request) => String((req as Request & { arrivedAt?: bigint }).arrivedAt ?? 0n);
  const resolvedAt = () => String(process.hrtime.bigint());
  const view = (req: Request) => ({
    pid: process.pid,
    userId: req.session.userId,
    handle: req.session.handle,
    data: req.session.toJSON(),
    arrivedAt: arrivedAt(req),
  });
  const wrap = (handler: (req: Request, res: Response) => Promise<void> | void) => (req: Request, res: Response) => {
    Promise.resolve(handler(req, res)).catch((error: Error & { status?: number }) => {
      res.status(error.status ?? 500).json({ error: error.name, message: error.message });
    });
  };

  app.get("/whoami", (req, res) => {
    res.json(view(req));
  });
  app.post("/login/:user", wrap(async (req, res) => {
    await req.session.login(String(req.params.user));
    res.json({ ...view(req), resolvedAt: resolvedAt() });
  }));
  app.post("/logout", wrap(async (req, res) => {
    await req.session.logout();
    res.json({ ...view(req), resolvedAt: resolvedAt() });
  }));
  // `delay` (ms): the request has loaded the session, and waits that long before writing (an overlapping request).
  app.post("/set/:key", wrap(async (req, res) => {
    const delay = Number(req.query.delay ?? 0);
    if (delay > 0) await new Promise((resolve) => setTimeout(resolve, delay));
    req.session.set(String(req.params.key), JSON.parse(String(req.query.value ?? "null")));
    res.json(view(req));
  }));
  app.post("/unset/:key", (req, res) => {
    req.session.unset(String(req.params.key));
    res.json(view(req));
  });
  app.post("/logout-others", wrap(async (req, res) => {
    const count = await req.session.logoutOthers();
    res.json({ count, resolvedAt: resolvedAt() });
  }));
  app.post("/revoke-user/:user", wrap(async (req, res) => {
    const count = await sessions.revokeUser(String(req.params.user));
    res.json({ count, resolvedAt: resolvedAt() });
  }));
  app.get("/list/:user", wrap(async (req, res) => {
    res.json(await sessions.list(String(req.params.user)));
  }));
  app.post("/revoke/:handle", wrap(async (req, res) => {
    const revoked = await sessions.revoke(String(req.params.handle));
    res.json({ revoked, resolvedAt: resolvedAt() });
  }));
  // Blocks this process's event loop, as a long synchronous task would; `marker`: a file written first, so a test knows it started.
  app.get("/busy", (req, res) => {
    if (typeof req.query.marker === "string") writeFileSync(req.query.marker, "busy");
    const until = Date.now() + Number(req.query.ms ?? 100);
    while (Date.now() < until);
    res.json({ busy: true });
  });
  app.get("/stats", (_req, res) => {
    res.json(sessions.stats());
  });
  // A slow request: it has loaded the session, then waits for /release before writing.
  app.post("/slow/set/:key", wrap(async (req, res) => {
    await new Promise<void>((resolve) => waiting.push(resolve));
    req.session.set(String(req.params.key), JSON.parse(String(req.query.value ?? "null")));
    res.json(view(req));
  }));
  app.get("/waiting", (_req, res) => {
    res.json({ waiting: waiting.length });
  });
  app.post("/release", (_req, res) => {
    const count = waiting.length;
    for (const resolve of waiting.splice(0)) resolve();
    res.json({ released: count });
  });
  // Streams its body: the session must be committed before the first byte.
  app.get("/stream/:key", (req, res) => {
    req.session.set(String(req.params.key), "streamed");
    res.writeHead(200, { "Content-Type": "text/plain" });
    res.write("one\n");
    res.write("two\n");
    res.end("three\n");
  });
  // The handler answers, then fails: the answer stands, the process survives.
  app.get("/send-then-throw", (req, res) => {
    req.session.set("sent", true);
    res.send("sent");
    throw new Error("after send");
  });
  // Changing the session after the response started cannot reach the client: it throws.
  app.get("/late-set", (req, res) => {
    res.send("done");
    try {
      req.session.set("late", true);
    } catch (error) {
      lateErrors.push((error as Error).name);
    }
  });
  app.get("/late-errors", (_req, res) => {
    res.json(lateErrors);
  });
  return app;
}

const lateErrors: string[] = [];
