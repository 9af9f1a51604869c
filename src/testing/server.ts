// A test server process: `node --import tsx src/testing/server.ts`.
// Env: LATCHKEY_STORE (store spec), LATCHKEY_FRAMEWORK ("express" (default) | "fastify" | "koa" | "node" | "hono" | "web"),
// LATCHKEY_EXPRESS ("4" | "5"), LATCHKEY_OPTIONS (JSON of createSessions options).
// Prints one JSON line {"port": N} when listening.
import { createSessions } from "../core/index.js";
import { buildApp } from "./app.js";
import { fastifyServer, honoServer, koaServer, nodeServer, webServer } from "./servers.js";
import { storeFromSpec } from "./stores.js";
import type { MakeServer } from "./servers.js";

const framework = process.env.LATCHKEY_FRAMEWORK ?? "express";
const store = await storeFromSpec(process.env.LATCHKEY_STORE ?? "memory");
const extra = JSON.parse(process.env.LATCHKEY_OPTIONS ?? "{}") as Record<string, unknown>;
const sessions = createSessions({ store, sweepInterval: false, ...extra });
let close: () => unknown;
if (framework === "express") {
  const express = process.env.LATCHKEY_EXPRESS === "4" ? (await import("express4")).default : (await import("express")).default;
  const app = buildApp(express as never, sessions);
  const server = app.listen(0, "127.0.0.1", () => {
    const address = server.address();
    process.stdout.write(`${JSON.stringify({ port: typeof address === "object" && address ? address.port : 0 })}\n`);
  });
  close = () => server.close();
} else {
  const makers: Record<string, () => Promise<MakeServer>> = {
    fastify: async () => fastifyServer,
    koa: async () => koaServer((await import("koa")).default),
    node: async () => nodeServer,
    hono: async () => honoServer,
    web: async () => webServer,
  };
  const make = await makers[framework]?.();
  if (!make) throw new Error(`unknown LATCHKEY_FRAMEWORK ${framework}`);
  const server = await make(sessions);
  process.stdout.write(`${JSON.stringify({ port: server.port })}\n`);
  close = () => server.close();
}
const stop = () => {
  void Promise.resolve(close()).catch(() => undefined);
  void sessions.close().finally(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
