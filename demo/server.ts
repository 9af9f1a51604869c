// The demo: `npm start`. Two node cluster workers share one SQLite file; every
// response names the worker that rendered it, so you can watch a logout in one
// worker hold in the other. PORT (default 3000; 0 picks a free one) and
// DEMO_DB (default demo/data/sessions.db) override the defaults.
import cluster from "node:cluster";
import { mkdirSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { dirname } from "node:path";
import { fileURLToPath } from "node:url";
import express from "express";
import { WebSocketServer } from "ws";
import { readCookie } from "../src/core/cookie.js";
import { createSessions, SessionInputError, StoreUnavailableError, type Session, type SessionInfo } from "../src/core/index.js";
import { expressSessions } from "../src/adapters/express/index.js";
import { loadUpgradeSession } from "../src/adapters/node/index.js";
import { sqliteStore } from "../src/stores/sqlite/index.js";
import { page } from "./page.js";

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
  type Data = { note?: string };
  const sessions = createSessions<Data>({
    store: sqliteStore({ path: DB }),
    idleTimeout: 30 * 60_000,
    absoluteTimeout: 12 * 3_600_000,
    cookie: { name: "sid", sameSite: "lax" },
  });
  const worker = `worker ${cluster.worker!.id} (pid ${process.pid})`;
  const session = (req: express.Request) => req.session as unknown as Session<Data>;

  // Two small cookies of the demo's own, beside latchkey's "sid":
  // - FLASH carries what the last action did across its redirect, shown once;
  // - UNTIL holds when this device's session would end on its own (its expiry
  //   as last loaded, a lower bound). A dead "sid" that arrives before that
  //   time was ended by someone else: in this demo, another device (or an
  //   operator). After it, the session may simply have expired, and the page
  //   says so rather than guess.
  const FLASH = "demo_flash";
  const UNTIL = "demo_signed_in_until";
  const cookie = (name: string, value: string, maxAge: number) =>
    `${name}=${encodeURIComponent(value)}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}${maxAge === 0 ? "; Expires=Thu, 01 Jan 1970 00:00:00 GMT" : ""}`;
  const ENDED = {
    elsewhere: "This device was signed out from another device.",
    expired: "This device's session expired (30 minutes without activity, or 12 hours after signing in).",
  };

  /** A request the page refuses, with the sentence it shows. */
  class BadInput extends Error {
    constructor(
      readonly status: number,
      message: string,
    ) {
      super(message);
    }
  }

  /** One text field of the form: present once, at most `max` characters, no control characters. */
  function field(req: express.Request, name: string, label: string, max: number): string {
    const value: unknown = (req.body as Record<string, unknown> | undefined)?.[name];
    if (Array.isArray(value)) throw new BadInput(400, `Send ${label} once, not ${value.length} times.`);
    const text = typeof value === "string" ? value.trim() : "";
    const length = [...text].length;
    if (length > max) throw new BadInput(400, `${capital(label)} is at most ${max} characters; this one has ${length}.`);
    // NUL and other control characters: refused here, so they never reach the store.
    if (/[\u0000-\u001f\u007f-\u009f]/.test(text)) throw new BadInput(400, `${capital(label)} cannot contain control characters (such as NUL).`);
    return text;
  }
  const capital = (text: string) => text[0]!.toUpperCase() + text.slice(1);

  const app = express();
  app.disable("x-powered-by");
  // The session layer's own failures (store down, session ended mid-request) as a page, never a trace.
  const SESSION_FAILURES: Record<number, string> = {
    401: "This device was signed out while this request ran; nothing was saved.",
    409: "Another request changed your session first; nothing was saved.",
    500: "Something went wrong on our side; nothing was saved.",
    503: "The session store cannot be reached right now; try again in a moment.",
  };
  app.use(
    expressSessions(sessions, {
      onError: (failure, req, res) => void send(req, res, failure.status, { error: SESSION_FAILURES[failure.status], anonymous: true }),
    }),
  );
  app.use((req, res, next) => {
    const header = req.headers.cookie;
    const flash = readCookie(header, FLASH)[0];
    if (flash !== undefined) {
      res.locals.notice = safeDecode(flash).slice(0, 300);
      res.append("Set-Cookie", cookie(FLASH, "", 0));
    }
    const until = readCookie(header, UNTIL)[0];
    // A session cookie came in but named no live session (latchkey clears it in this response).
    if (until !== undefined && session(req).isNew && readCookie(header, sessions.cookie.name).length > 0) {
      res.locals.ended = Date.now() < Number(until) ? ENDED.elsewhere : ENDED.expired;
      res.append("Set-Cookie", cookie(UNTIL, "", 0));
    }
    next();
  });
  // Forms post application/x-www-form-urlencoded; anything else is refused before it is read.
  app.post("*splat", (req, _res, next) => {
    next(
      req.is("application/x-www-form-urlencoded") === false
        ? new BadInput(415, `This page takes form posts (application/x-www-form-urlencoded), not ${String(req.headers["content-type"]).slice(0, 60)}.`)
        : undefined,
    );
  });
  app.use(express.urlencoded({ extended: false, limit: "16kb" }));

  /** Renders the page for this request's session; `status` 4xx/5xx pages keep the user's place. */
  async function send(
    req: express.Request,
    res: express.Response,
    status: number,
    extra: { notice?: string; error?: string; anonymous?: boolean },
  ): Promise<void> {
    const s = extra.anonymous ? undefined : (req.session as Session<Data> | undefined);
    let list: SessionInfo[] = [];
    if (s?.userId) {
      try {
        list = await sessions.list(s.userId);
      } catch (error) {
        console.error(`${worker}: listing sessions failed: ${(error as Error).message}`);
      }
      if (s.expiresAt) res.append("Set-Cookie", cookie(UNTIL, String(s.expiresAt), 13 * 3600));
    }
    const html = page({ worker, userId: s?.userId ?? null, note: s?.get("note") ?? "", handle: s?.handle ?? null, sessions: list, now: Date.now(), ...extra });
    res.status(status).set("Cache-Control", "no-store").type("html").send(html);
  }

  app.get("/", async (req, res) => {
    await send(req, res, 200, { notice: (res.locals.ended as string | undefined) ?? (res.locals.notice as string | undefined) });
  });

  /** A form post: do it, then redirect to the page with a sentence saying what it did. */
  const action =
    (fn: (req: express.Request, res: express.Response, s: Session<Data>) => Promise<string>) => async (req: express.Request, res: express.Response) => {
      const s = session(req);
      // A page left open on a device that was signed out meanwhile: say so, change nothing.
      const notice = res.locals.ended && req.path !== "/login" ? `${res.locals.ended as string} Nothing was changed.` : await fn(req, res, s);
      res.append("Set-Cookie", cookie(FLASH, notice, 60));
      res.redirect(303, "/");
    };
  const signedIn = (s: Session<Data>): string => {
    if (!s.userId) throw new BadInput(401, "Log in first.");
    return s.userId;
  };

  app.post(
    "/login",
    action(async (req, res, s) => {
      const name = field(req, "name", "a name", 40);
      if (!name) throw new BadInput(400, "Enter a name to log in.");
      await s.login(name);
      res.append("Set-Cookie", cookie(UNTIL, String(s.expiresAt), 13 * 3600));
      return "Signed in on this device.";
    }),
  );
  app.post(
    "/note",
    action(async (req, _res, s) => {
      s.set("note", field(req, "note", "the value", 200));
      return "Saved.";
    }),
  );
  app.post(
    "/logout",
    action(async (_req, res, s) => {
      await s.logout();
      res.append("Set-Cookie", cookie(UNTIL, "", 0));
      return "Signed out on this device.";
    }),
  );
  app.post(
    "/logout-others",
    action(async (_req, _res, s) => {
      signedIn(s);
      const ended = await s.logoutOthers();
      return ended === 0 ? "There were no other sessions to end." : `Ended ${ended} other session${ended === 1 ? "" : "s"}.`;
    }),
  );
  app.post(
    "/logout-everywhere",
    action(async (_req, res, s) => {
      const ended = await sessions.revokeUser(signedIn(s));
      await s.logout(); // already ended by the revoke; this clears the cookie
      res.append("Set-Cookie", cookie(UNTIL, "", 0));
      return `Signed out everywhere: ended ${ended} session${ended === 1 ? "" : "s"}, this one included.`;
    }),
  );
  app.post(
    "/revoke",
    action(async (req, res, s) => {
      const userId = signedIn(s);
      const handle = field(req, "handle", "a handle", 100);
      // Only your own sessions: the handle must be in your list.
      const target = (await sessions.list(userId)).find((info) => info.handle === handle);
      if (!target) return "That session had already ended.";
      if (handle === s.handle) {
        await s.logout();
        res.append("Set-Cookie", cookie(UNTIL, "", 0));
        return "Signed out on this device.";
      }
      await sessions.revoke(handle);
      return `Signed out ${target.device}.`;
    }),
  );

  app.use((req, res) => void send(req, res, 404, { error: "There is no page at this address." }));
  // Every failure is a page with a sentence: 4xx for bad input, 503 for the store, 500 otherwise (logged, never shown).
  app.use((error: unknown, req: express.Request, res: express.Response, _next: express.NextFunction) => {
    const [status, sentence] = explain(error);
    if (status >= 500) console.error(`${worker}: ${req.method} ${req.originalUrl} failed:`, error);
    if (res.headersSent) return void res.destroy();
    void send(req, res, status, { error: sentence }).catch(() => res.destroy());
  });

  const server = app.listen(PORT, () => console.log(`${worker} listening on http://localhost:${(server.address() as AddressInfo).port}`));
  // The live "signed in" badge: a WebSocket per signed-in page, closed (4401) the moment its session
  // ends — in whichever worker it ends (SQLite has no feed: within watchInterval, 1 s).
  const live = new WebSocketServer({ noServer: true });
  server.on("upgrade", (req, socket, head) => {
    if (req.url !== "/live") return void socket.destroy();
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

  function explain(error: unknown): [number, string] {
    if (error instanceof BadInput) return [error.status, error.message];
    if (error instanceof StoreUnavailableError) return [503, "The session store cannot be reached right now; try again in a moment."];
    // latchkey refuses a bad user id or handle with a SessionInputError naming the field (the demo's own checks come first).
    if (error instanceof SessionInputError) return [400, capital(error.message.replace(/^latchkey: /, ""))];
    const type = (error as { type?: unknown }).type;
    if (type === "entity.too.large") return [413, "That form is too large: at most 16 KB."];
    if (type === "parameters.too.many") return [413, "That form has too many fields."];
    if (type === "charset.unsupported" || type === "encoding.unsupported") return [415, "That form's character set or encoding is not supported; send UTF-8."];
    const status = (error as { status?: unknown }).status;
    if (typeof status === "number" && status >= 400 && status < 500) return [status, "That request could not be read."];
    return [500, "Something went wrong on our side; it has been logged."];
  }
}

function safeDecode(value: string): string {
  try {
    return decodeURIComponent(value);
  } catch {
    return "";
  }
}
