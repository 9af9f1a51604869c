import assert from "node:assert/strict";
import { describe, it } from "node:test";
import Fastify from "fastify";
import { createSessions } from "../../core/index.js";
import { memoryStore } from "../../stores/memory/index.js";
import { Client } from "../../testing/client.js";
import { runHttpSuite } from "../../testing/http-suite.js";
import { fastifyServer } from "../../testing/servers.js";
import { fastifySessions } from "./index.js";

runHttpSuite({ name: "Fastify 5", makeServer: fastifyServer });

describe("fastifySessions", () => {
  it("rejects a missing or wrong sessions option with a clear TypeError", async () => {
    const app = Fastify();
    await assert.rejects(async () => {
      await app.register(fastifySessions, {} as never);
    }, /fastifySessions\(sessions\) needs the object returned by createSessions/);
  });

  it("a store failure at load goes through the app's error handler as a 503 error", async () => {
    const store = memoryStore();
    const sessions = createSessions({ store, sweepInterval: false, logger: { warn: () => undefined, error: () => undefined } });
    const app = Fastify();
    await app.register(fastifySessions, { sessions });
    app.setErrorHandler((error: Error & { statusCode?: number; status?: number }, _request, reply) => {
      void reply.code(error.status ?? 500).send({ failed: error.name });
    });
    let ran = false;
    app.post("/login", async (request) => {
      await request.session.login("ivy");
      return "ok";
    });
    app.get("/", async (request) => {
      ran = true;
      return request.session.userId;
    });
    await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
      const client = new Client();
      await client.post(`${url}/login`);
      await store.close();
      const response = await client.get(url);
      assert.equal(response.status, 503);
      assert.deepEqual(response.body, { failed: "SessionFailureError" });
      assert.equal(ran, false, "the route never ran");
    } finally {
      await app.close();
      await sessions.close().catch(() => undefined);
    }
  });

  it("Fastify knows the plugin by name without fastify-plugin installed (apps install only fastify)", async () => {
    const sessions = createSessions({ store: memoryStore(), sweepInterval: false });
    const app = Fastify();
    try {
      await app.register(fastifySessions, { sessions });
      assert.equal(app.hasPlugin("latchkey"), true);
    } finally {
      await app.close();
      await sessions.close();
    }
  });

  it("is visible in sibling and child scopes (not encapsulated), and a hijacked reply's change made after the hijack is committed first", async () => {
    const store = memoryStore();
    const sessions = createSessions({ store, sweepInterval: false });
    const app = Fastify();
    await app.register(fastifySessions, { sessions });
    await app.register(async (child) => {
      child.get("/child/hijack", (request, reply) => {
        reply.hijack();
        request.session.set("after", "hijack");
        reply.raw.writeHead(200, { "content-type": "text/plain" });
        reply.raw.end("hijacked");
      });
    });
    app.get("/read", async (request) => request.session.toJSON());
    await app.listen({ port: 0, host: "127.0.0.1" });
    try {
      const url = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`;
      const client = new Client();
      const response = await client.get(`${url}/child/hijack`);
      assert.equal(response.text, "hijacked");
      assert.ok(client.cookie, "the new session's cookie is on the hijacked response");
      assert.deepEqual((await client.get(`${url}/read`)).body, { after: "hijack" });
    } finally {
      await app.close();
      await sessions.close();
    }
  });
});
