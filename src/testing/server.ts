// A test server process: `node --import tsx src/testing/server.ts`.
// Env: LATCHKEY_STORE (store spec), LATCHKEY_EXPRESS ("4" | "5"), LATCHKEY_OPTIONS (JSON of createSessions options).
// Prints one JSON line {"port": N} when listening.
import { createSessions } from "../core/index.js";
import { buildApp } from "./app.js";
import { storeFromSpec } from "./stores.js";

const express = process.env.LATCHKEY_EXPRESS === "4" ? (await import("express4")).default : (await import("express")).default;
const store = await storeFromSpec(process.env.LATCHKEY_STORE ?? "memory");
const extra = JSON.parse(process.env.LATCHKEY_OPTIONS ?? "{}") as Record<string, unknown>;
const sessions = createSessions({ store, sweepInterval: false, ...extra });
const app = buildApp(express as never, sessions);
const server = app.listen(0, "127.0.0.1", () => {
  const address = server.address();
  process.stdout.write(`${JSON.stringify({ port: typeof address === "object" && address ? address.port : 0 })}\n`);
});
const stop = () => {
  server.close();
  void sessions.close().finally(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
