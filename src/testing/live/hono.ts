// Recipe: server-sent events on Hono (streamSSE), on @hono/node-server.
import { serve } from "@hono/node-server";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { honoSessions, type SessionEnv } from "../../adapters/hono/index.js";
import { announce, recipeSessions } from "./sessions.js";

const sessions = await recipeSessions();
const app = new Hono<SessionEnv>();
app.use(honoSessions(sessions));
app.post("/login/:user", async (c) => {
  await c.var.session.login(c.req.param("user"));
  return c.json({ userId: c.var.session.userId });
});
app.post("/logout", async (c) => {
  await c.var.session.logout();
  return c.json({ userId: null });
});

// --- recipe ------------------------------------------------------------------------
app.get("/events", (c) => {
  const { handle, userId } = c.var.session;
  if (handle === null || userId === null) return c.body(null, 401);
  return streamSSE(c, async (stream) => {
    await stream.writeSSE({ event: "hello", data: JSON.stringify({ userId }) });
    await new Promise<void>((resolve) => {
      const stop = sessions.watch(handle, ({ reason }) => {
        void stream.writeSSE({ event: "session-ended", data: JSON.stringify({ reason }) }).finally(resolve);
      });
      stream.onAbort(() => {
        stop();
        resolve();
      });
    }); // returning ends the stream
  });
});
const server = serve({ fetch: app.fetch, port: 0, hostname: "127.0.0.1" }, (info) => announce(info.port, sessions, () => server.close()));
