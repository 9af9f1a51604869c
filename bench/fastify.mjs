// The Fastify benchmark server. BENCH_VARIANT: baseline | empty-hooks | fastify-session |
// fastify-session-norolling | latchkey-redis | latchkey-redis-nc | latchkey-postgres(-nc) | latchkey-sqlite.
// fastify-session: @fastify/session + @fastify/cookie + connect-redis as their READMEs advise (a 32+ char
// secret, `cookie: { secure: false }` for plain HTTP, the defaults otherwise: rolling, so every read also
// saves). -norolling: the same with `rolling: false` (no save on an unchanged read). Prints {"port": N}.
import Fastify from "fastify";
import { announce, counters, latchkeySessions, page, prefix, redisUrl, variant } from "./common.mjs";

const app = Fastify({ logger: false });
let sessions = null;
let login = async () => undefined;
let userId = () => "baseline";

if (variant === "empty-hooks") {
  // The floor for any session plugin on Fastify: the two hooks one needs (onRequest, onSend), both empty.
  const session = { userId: "bench-user" };
  app.decorateRequest("session", null);
  app.addHook("onRequest", (request, _reply, done) => {
    request.session = session;
    done();
  });
  app.addHook("onSend", (_request, _reply, payload, done) => done(null, payload));
  userId = (request) => request.session.userId;
} else if (variant === "fastify-session" || variant === "fastify-session-norolling") {
  const { default: fastifyCookie } = await import("@fastify/cookie");
  const { default: fastifySession } = await import("@fastify/session");
  const { RedisStore } = await import("connect-redis");
  const { createClient } = await import("redis");
  const client = createClient({ url: redisUrl });
  await client.connect();
  await app.register(fastifyCookie);
  await app.register(fastifySession, {
    secret: "a secret with minimum length of 32 characters",
    store: new RedisStore({ client, prefix }),
    cookie: { secure: false },
    ...(variant === "fastify-session-norolling" ? { rolling: false } : {}),
  });
  login = async (request, user) => {
    await request.session.regenerate();
    request.session.set("userId", user);
  };
  userId = (request) => request.session.get("userId") ?? null;
  app.addHook("onClose", async () => void (await client.quit()));
} else if (variant !== "baseline") {
  sessions = await latchkeySessions();
  if (!sessions) throw new Error(`unknown BENCH_VARIANT ${variant}`);
  const { fastifySessions } = await import("../dist/adapters/fastify/index.js");
  await app.register(fastifySessions, { sessions });
  login = (request, user) => request.session.login(user);
  userId = (request) => request.session.userId;
}

app.get("/__statements", async () => ({ statements: counters.statements }));
app.get("/__stats", async () => (sessions ? sessions.stats() : null));
app.post("/login", async (request) => {
  await login(request, String(request.query.user ?? "bench-user"));
  return "ok";
});
app.get("/page", (request, reply) => {
  const user = userId(request);
  if (!user) {
    reply.code(401).send("not signed in");
    return;
  }
  reply.type("text/html; charset=utf-8").send(page(user));
});
await app.listen({ port: 0, host: "127.0.0.1" });
announce(app.server, async () => {
  await app.close();
  await sessions?.close();
});
