// Recipe: Fastify with @fastify/websocket. The upgrade request goes through
// the latchkey plugin like any request, so request.session is there.
import Fastify from "fastify";
import websocket from "@fastify/websocket";
import { fastifySessions } from "../../adapters/fastify/index.js";
import { announce, recipeSessions } from "./sessions.js";

const sessions = await recipeSessions();
const app = Fastify();
await app.register(fastifySessions, { sessions });
await app.register(websocket);
app.post("/login/:user", async (request) => {
  await request.session.login((request.params as { user: string }).user);
  return { userId: request.session.userId };
});
app.post("/logout", async (request) => {
  await request.session.logout();
  return { userId: null };
});

// --- recipe ------------------------------------------------------------------------
app.get(
  "/live",
  {
    websocket: true,
    // Refuse anonymous upgrades with a plain 401, before the handshake.
    preValidation: async (request, reply) => {
      if (request.session.userId === null) await reply.code(401).send({ error: "sign in first" });
    },
  },
  (socket, request) => {
    const handle = request.session.handle!;
    const stop = sessions.watch(handle, ({ reason }) => socket.close(4401, `session ended: ${reason}`));
    socket.on("close", stop);
    socket.on("message", (message: Buffer) => {
      void sessions.touch(handle).then(
        (live) => live && socket.send(`echo ${message.toString()}`),
        () => socket.send(`echo ${message.toString()}`),
      );
    });
    socket.send(JSON.stringify({ userId: request.session.userId }));
  },
);
await app.listen({ port: 0, host: "127.0.0.1" });
announce((app.server.address() as { port: number }).port, sessions, () => app.close());
