// "Make a server": each adapter serves the framework-neutral test routes
// (routes.ts) on 127.0.0.1 with a few lines of its framework's own code.
// An adapter for another framework needs one more function of this shape to
// run the HTTP suite (http-suite.ts) and the multi-process suite.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Readable } from "node:stream";
import type { Session, Sessions } from "../core/index.js";
import { fastifySessions } from "../adapters/fastify/index.js";
import { honoSessions, type SessionEnv } from "../adapters/hono/index.js";
import { koaSessions } from "../adapters/koa/index.js";
import { nodeSessions } from "../adapters/node/index.js";
import { withSession } from "../adapters/web/index.js";
import { buildApp, match } from "./app.js";
import { runRoute, testRoutes, type Outcome, type Route } from "./routes.js";

export interface TestServer {
  port: number;
  url: string;
  close(): Promise<void>;
}

/** Starts a server serving testRoutes(sessions), trusting X-Forwarded-* from loopback. */
export type MakeServer = (sessions: Sessions) => Promise<TestServer>;

async function run(routes: Route[], session: Session, method: string | undefined, url: string, arrivedAt: bigint): Promise<Outcome | undefined> {
  const parsed = new URL(url, "http://x");
  const found = match(routes, method, parsed.pathname);
  if (!found) return undefined;
  return runRoute(found.route, { session, param: found.param, query: parsed.searchParams, arrivedAt });
}

/** Writes an outcome on a plain node:http response (Express, node:http, and the hand-over cases). */
function writeRaw(res: ServerResponse, outcome: Outcome): void {
  if (outcome.kind === "json") {
    if (outcome.setCookie) res.setHeader("set-cookie", [outcome.setCookie]);
    if (outcome.cacheControl) res.setHeader("cache-control", outcome.cacheControl);
    res.writeHead(outcome.status, { "content-type": "application/json" }).end(JSON.stringify(outcome.body));
  } else if (outcome.kind === "then") {
    res.writeHead(200, { "content-type": "text/plain" }).end(outcome.text);
    outcome.after();
  } else {
    res.writeHead(200, { "content-type": "text/plain" });
    for (const chunk of outcome.chunks.slice(0, -1)) res.write(chunk);
    res.end(outcome.chunks.at(-1));
  }
}

async function listen(server: Server): Promise<TestServer> {
  server.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

export function expressServer(express: () => import("express").Express): MakeServer {
  return async (sessions) => listen(createServer(buildApp(express, sessions)));
}

export const nodeServer: MakeServer = async (sessions) => {
  const routes = testRoutes(sessions);
  const handler = nodeSessions(
    sessions,
    async (req, res) => {
      const outcome = await run(routes, req.session as Session, req.method, req.url!, (req as { arrivedAt?: bigint }).arrivedAt!);
      if (!outcome) return void res.writeHead(404).end();
      if (outcome.kind === "stream") Readable.from(outcome.chunks).pipe(res.writeHead(200, { "content-type": "text/plain" }));
      else writeRaw(res, outcome);
    },
    { trustProxy: 1 },
  );
  return listen(createServer((req, res) => (((req as { arrivedAt?: bigint }).arrivedAt = process.hrtime.bigint()), handler(req, res))));
};

export const fastifyServer: MakeServer = async (sessions) => {
  const { default: Fastify } = await import("fastify");
  const routes = testRoutes(sessions);
  const app = Fastify({ trustProxy: "127.0.0.1" });
  app.addHook("onRequest", (request, _reply, done) => (((request as { arrivedAt?: bigint }).arrivedAt = process.hrtime.bigint()), done()));
  await app.register(fastifySessions, { sessions });
  // Routes read no body: accept what an HTML form sends (Fastify answers 415 to a type it cannot parse).
  app.addContentTypeParser("*", (_request, _payload, done) => done(null));
  app.all("/*", async (request, reply) => {
    const outcome = await run(routes, request.session as Session, request.method, request.url, (request as { arrivedAt?: bigint }).arrivedAt!);
    if (!outcome) return reply.code(404).send();
    if (outcome.kind === "json") {
      if (outcome.setCookie) reply.header("set-cookie", outcome.setCookie);
      if (outcome.cacheControl) reply.header("cache-control", outcome.cacheControl);
      return reply.code(outcome.status).send(outcome.body);
    }
    if (outcome.kind === "stream") return reply.type("text/plain").send(Readable.from(outcome.chunks));
    if (outcome.kind === "raw") {
      reply.hijack();
      writeRaw(reply.raw, outcome);
      return;
    }
    // Fastify's "the response started": the reply is on its way (its onSend hooks have run).
    await reply.type("text/plain").send(outcome.text);
    outcome.after();
  });
  await app.listen({ port: 0, host: "127.0.0.1" });
  const port = (app.server.address() as AddressInfo).port;
  return { port, url: `http://127.0.0.1:${port}`, close: () => app.close() };
};

export function koaServer(Koa: new () => import("koa")): MakeServer {
  return async (sessions) => {
    const routes = testRoutes(sessions);
    const app = new Koa();
    app.proxy = true;
    app.maxIpsCount = 1; // one proxy: Koa's ctx.ip is then X-Forwarded-For's last entry, not the client-written first
    app.silent = true;
    app.use((ctx, next) => ((ctx.state.arrivedAt = process.hrtime.bigint()), next()));
    app.use(koaSessions(sessions));
    app.use(async (ctx) => {
      const outcome = await run(routes, ctx.session as Session, ctx.method, ctx.url, ctx.state.arrivedAt as bigint);
      if (!outcome) return;
      if (outcome.kind === "json") {
        if (outcome.setCookie) ctx.append("set-cookie", outcome.setCookie);
        if (outcome.cacheControl) ctx.set("cache-control", outcome.cacheControl);
        ctx.status = outcome.status;
        ctx.body = outcome.body;
      } else if (outcome.kind === "stream") {
        ctx.type = "text/plain";
        ctx.body = Readable.from(outcome.chunks);
      } else {
        // Koa's "the response started": the app writes ctx.res itself.
        ctx.respond = false;
        writeRaw(ctx.res, outcome);
      }
    });
    return listen(createServer(app.callback() as (req: IncomingMessage, res: ServerResponse) => void));
  };
}

/** An answer that runs after the web response was handed on: nothing in a fetch handler receives an error thrown then. */
function afterward(after: () => void): void {
  setTimeout(() => {
    try {
      after();
    } catch {
      // The answer stands; there is no framework left to tell.
    }
  });
}

/** A Response built outside the framework, with immutable headers (a passed-through fetch()). */
const passedThrough = (text: string) => fetch(`data:text/plain,${encodeURIComponent(text)}`);

/** Hono 4 on @hono/node-server, trusting X-Forwarded-* from one proxy (trustProxy: 1). */
export const honoServer: MakeServer = async (sessions) => {
  const { Hono } = await import("hono");
  const { stream } = await import("hono/streaming");
  const { createAdaptorServer } = await import("@hono/node-server");
  const routes = testRoutes(sessions);
  const app = new Hono<SessionEnv & { Variables: { arrivedAt: bigint } }>();
  app.use((c, next) => (c.set("arrivedAt", process.hrtime.bigint()), next()));
  app.use(honoSessions(sessions, { trustProxy: 1 }));
  app.all("*", async (c) => {
    const outcome = await run(routes, c.var.session as Session, c.req.method, c.req.url, c.var.arrivedAt);
    if (!outcome) return c.notFound();
    if (outcome.kind === "json") {
      if (outcome.setCookie) c.header("set-cookie", outcome.setCookie, { append: true });
      if (outcome.cacheControl) c.header("cache-control", outcome.cacheControl);
      return c.json(outcome.body as object, outcome.status as 200);
    }
    if (outcome.kind === "stream") {
      c.header("content-type", "text/plain");
      return stream(c, async (body) => {
        for (const chunk of outcome.chunks) await body.write(chunk);
      });
    }
    if (outcome.kind === "raw") return passedThrough(outcome.chunks.join(""));
    afterward(outcome.after);
    return c.text(outcome.text);
  });
  return listen(createAdaptorServer({ fetch: app.fetch, hostname: "127.0.0.1" }) as Server);
};

/** A fetch handler wrapped by withSession (latchkey/web), served by @hono/node-server's request listener. */
export const webServer: MakeServer = async (sessions) => {
  const { createAdaptorServer } = await import("@hono/node-server");
  const routes = testRoutes(sessions);
  const handler = withSession(
    sessions,
    async (request, { session }, arrivedAt: bigint) => {
      const outcome = await run(routes, session as Session, request.method, request.url, arrivedAt);
      if (!outcome) return new Response(null, { status: 404 });
      if (outcome.kind === "json") {
        const response = Response.json(outcome.body, { status: outcome.status });
        if (outcome.setCookie) response.headers.append("set-cookie", outcome.setCookie);
        if (outcome.cacheControl) response.headers.set("cache-control", outcome.cacheControl);
        return response;
      }
      if (outcome.kind === "stream")
        return new Response(Readable.toWeb(Readable.from(outcome.chunks)) as ReadableStream, { headers: { "content-type": "text/plain" } });
      if (outcome.kind === "raw") return passedThrough(outcome.chunks.join(""));
      afterward(outcome.after);
      return new Response(outcome.text, { headers: { "content-type": "text/plain" } });
    },
    { trustProxy: 1 },
  );
  return listen(createAdaptorServer({ fetch: (request: Request) => handler(request, process.hrtime.bigint()), hostname: "127.0.0.1" }) as Server);
};
