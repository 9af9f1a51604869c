// Recipe: Express with a `ws` WebSocket server on the same node:http server,
// and server-sent events — each closed the moment its session ends, in
// whichever process it ends.
import { createServer } from "node:http";
import express from "express";
import { WebSocketServer } from "ws";
import { expressSessions } from "../../adapters/express/index.js";
import { loadUpgradeSession } from "../../adapters/node/index.js";
import { announce, recipeSessions } from "./sessions.js";

const sessions = await recipeSessions();
const app = express();
app.use(expressSessions(sessions));
app.post("/login/:user", async (req, res) => {
  await req.session.login(req.params.user);
  res.json({ userId: req.session.userId });
});
app.post("/logout", async (req, res) => {
  await req.session.logout();
  res.json({ userId: null });
});

// --- recipe: server-sent events -------------------------------------------------
app.get("/events", (req, res) => {
  const { handle, userId } = req.session;
  if (handle === null || userId === null) return void res.status(401).end();
  res.writeHead(200, { "content-type": "text/event-stream", "cache-control": "no-store" });
  res.write(`event: hello\ndata: ${JSON.stringify({ userId })}\n\n`);
  const stop = sessions.watch(handle, ({ reason }) => {
    res.end(`event: session-ended\ndata: ${JSON.stringify({ reason })}\n\n`);
  });
  req.on("close", stop);
});

// --- recipe: WebSocket (ws) ----------------------------------------------------
const server = createServer(app);
const wss = new WebSocketServer({ noServer: true });
server.on("upgrade", (req, socket, head) => {
  loadUpgradeSession(sessions, req).then(
    (session) => {
      if (session.handle === null || session.userId === null) return void socket.end("HTTP/1.1 401 Unauthorized\r\nconnection: close\r\n\r\n");
      const handle = session.handle;
      wss.handleUpgrade(req, socket, head, (ws) => {
        const stop = sessions.watch(handle, ({ reason }) => ws.close(4401, `session ended: ${reason}`));
        ws.on("close", stop);
        // Activity keeps the session alive, like a request (at most one write per touchInterval).
        ws.on("message", (message) => {
          void sessions.touch(handle).then(
            (live) => live && ws.send(`echo ${String(message)}`),
            () => ws.send(`echo ${String(message)}`),
          );
        });
        ws.send(JSON.stringify({ userId: session.userId }));
      });
    },
    () => socket.end("HTTP/1.1 503 Service Unavailable\r\nconnection: close\r\n\r\n"), // the store is down: fail closed (G6)
  );
});
server.listen(0, "127.0.0.1", () => announce((server.address() as { port: number }).port, sessions, () => wss.close()));
