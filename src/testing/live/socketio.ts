// Recipe: Socket.IO. The handshake loads the session (io.engine.use), anonymous
// sockets are refused (io.use), and a socket whose session ends is told why and
// disconnected.
import { createServer, type IncomingMessage } from "node:http";
import { Server } from "socket.io";
import type { Session } from "../../core/index.js";
import { loadUpgradeSession, nodeSessions } from "../../adapters/node/index.js";
import { announce, recipeSessions } from "./sessions.js";

const sessions = await recipeSessions();
const server = createServer(
  nodeSessions(sessions, async (req, res) => {
    const login = /^\/login\/([^/]+)$/.exec(req.url ?? "");
    if (req.method === "POST" && login) await req.session.login(decodeURIComponent(login[1]!));
    else if (req.method === "POST" && req.url === "/logout") await req.session.logout();
    else return void res.writeHead(404).end();
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ userId: req.session.userId }));
  }),
);

// --- recipe ------------------------------------------------------------------------
const io = new Server(server);
// Runs for each HTTP request of Engine.IO; only the handshake (no sid yet) loads the session.
io.engine.use((req: IncomingMessage & { session?: Session; _query?: Record<string, string> }, _res: unknown, next: (error?: Error) => void) => {
  if (req._query?.sid !== undefined) return next();
  loadUpgradeSession(sessions, req).then(
    (session) => {
      req.session = session;
      next();
    },
    (error: Error) => next(error),
  );
});
io.use((socket, next) => {
  const session = (socket.request as IncomingMessage & { session?: Session }).session;
  next(session?.userId ? undefined : new Error("unauthorized"));
});
io.on("connection", (socket) => {
  const session = (socket.request as IncomingMessage & { session: Session }).session;
  const stop = sessions.watch(session.handle!, ({ reason }) => {
    socket.emit("session-ended", { reason });
    socket.disconnect(true);
  });
  socket.on("disconnect", stop);
  socket.on("ping", async (ack: (live: boolean) => void) => ack(await sessions.touch(session.handle!).catch(() => true)));
  socket.emit("hello", { userId: session.userId });
});
server.listen(0, "127.0.0.1", () => announce((server.address() as { port: number }).port, sessions, () => io.close()));
