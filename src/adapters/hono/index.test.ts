import assert from "node:assert/strict";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import { describe, it } from "node:test";
import { createAdaptorServer } from "@hono/node-server";
import { Hono } from "hono";
import { HTTPException } from "hono/http-exception";
import { stream } from "hono/streaming";
import { createSessions, type Sessions } from "../../core/index.js";
import { memoryStore } from "../../stores/memory/index.js";
import { Client, waitFor } from "../../testing/client.js";
import { runHttpSuite } from "../../testing/http-suite.js";
import { honoServer } from "../../testing/servers.js";
import { honoSessions, type SessionEnv } from "./index.js";

runHttpSuite({ name: "Hono 4 (@hono/node-server)", makeServer: honoServer });

const quiet = { warn: () => undefined, error: () => undefined };
type Data = { cart?: string[] };

async function serve(app: Hono<SessionEnv<Data>>): Promise<{ url: string; close(): void }> {
  const server = createAdaptorServer({ fetch: app.fetch, hostname: "127.0.0.1" }) as Server;
  server.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => (server.close(), server.closeAllConnections()) };
}

function appWith(sessions: Sessions<Data>, lateErrors: string[] = []): Hono<SessionEnv<Data>> {
  const app = new Hono<SessionEnv<Data>>();
  app.use(honoSessions(sessions));
  app.post("/login/:user", async (c) => (await c.var.session.login(c.req.param("user")), Response.redirect(new URL("/cart", c.req.url), 303)));
  app.get("/cart", (c) => c.json({ userId: c.get("session").userId, cart: c.var.session.get("cart") ?? [] }));
  app.post("/add-then-throw", (c) => {
    c.var.session.set("cart", ["lost"]);
    throw new Error("boom");
  });
  app.post("/add", (c) => (c.var.session.set("cart", [...(c.var.session.get("cart") ?? []), c.req.query("item")!]), c.text("added")));
  app.get("/context", (c) => c.json({ ip: c.var.session.request?.ip() }));
  app.get("/stream-then-set", (c) =>
    stream(c, async (body) => {
      await body.write("streaming\n");
      try {
        c.var.session.set("cart", ["late"]);
      } catch (error) {
        lateErrors.push((error as Error).name);
      }
    }),
  );
  return app;
}

describe("honoSessions", () => {
  it("rejects a bad argument with a clear TypeError", () => {
    assert.throws(() => honoSessions({} as never), /honoSessions\(sessions\) needs the object returned by createSessions/);
    const sessions = createSessions({ store: memoryStore(), sweepInterval: false });
    assert.throws(() => honoSessions(sessions, { ip: "127.0.0.1" as never }), /option ip must be a function/);
    return sessions.close();
  });

  it("a Response.redirect() after login is copied with the cookie (never a 500); c.get and c.var give the session", async () => {
    const sessions = createSessions<Data>({ store: memoryStore(), sweepInterval: false, logger: quiet });
    const server = await serve(appWith(sessions));
    try {
      const client = new Client();
      const login = await client.post(`${server.url}/login/ana`);
      assert.equal(login.status, 303);
      assert.equal(login.headers.get("location"), `${server.url}/cart`);
      assert.ok(client.cookie, "the redirect carries the session cookie");
      assert.equal(login.headers.get("cache-control"), "no-store");
      await client.post(`${server.url}/add?item=pear`);
      assert.deepEqual((await client.get(`${server.url}/cart`)).body, { userId: "ana", cart: ["pear"] });
    } finally {
      server.close();
      await sessions.close();
    }
  });

  it("a handler that throws commits none of its changes; Hono's onError answers", async () => {
    const sessions = createSessions<Data>({ store: memoryStore(), sweepInterval: false, logger: quiet });
    const app = appWith(sessions);
    app.onError((error, c) => c.json({ error: error.message }, 500));
    const server = await serve(app);
    try {
      const client = new Client();
      await client.post(`${server.url}/login/ben`);
      await client.post(`${server.url}/add?item=fig`);
      const failed = await client.post(`${server.url}/add-then-throw`);
      assert.deepEqual([failed.status, failed.body], [500, { error: "boom" }]);
      assert.deepEqual((await client.get(`${server.url}/cart`)).body, { userId: "ben", cart: ["fig"] });
    } finally {
      server.close();
      await sessions.close();
    }
  });

  it("a change inside a stream() callback, after the response left, throws SessionSealedError", async () => {
    const sessions = createSessions<Data>({ store: memoryStore(), sweepInterval: false, logger: quiet });
    const lateErrors: string[] = [];
    const server = await serve(appWith(sessions, lateErrors));
    try {
      assert.equal((await new Client().get(`${server.url}/stream-then-set`)).text, "streaming\n");
      await waitFor(async () => lateErrors.includes("SessionSealedError"), "the late change to throw");
    } finally {
      server.close();
      await sessions.close();
    }
  });

  it("the client address is the socket's on @hono/node-server; X-Forwarded-For only with trustProxy", async () => {
    const sessions = createSessions<Data>({ store: memoryStore(), sweepInterval: false, logger: quiet });
    const server = await serve(appWith(sessions));
    try {
      assert.deepEqual((await new Client().get(`${server.url}/context`, { "x-forwarded-for": "203.0.113.9" })).body, { ip: "127.0.0.1" });
    } finally {
      server.close();
      await sessions.close();
    }
  });

  it("a store outage is an HTTPException(503) that app.onError sees; the handler never runs", async () => {
    const store = memoryStore();
    const sessions = createSessions<Data>({ store, sweepInterval: false, logger: quiet });
    const app = appWith(sessions);
    const seen: number[] = [];
    app.onError((error, c) => {
      if (error instanceof HTTPException) return (seen.push(error.status), error.getResponse());
      return c.text("unexpected", 500);
    });
    const server = await serve(app);
    try {
      const client = new Client();
      await client.post(`${server.url}/login/cat`);
      await store.close();
      const down = await client.get(`${server.url}/cart`);
      assert.equal(down.status, 503);
      assert.equal(down.headers.get("retry-after"), "1");
      assert.doesNotMatch(down.text, /cat/);
      assert.deepEqual(seen, [503]);
    } finally {
      server.close();
      await sessions.close().catch(() => undefined);
    }
  });
});
