// A WatchNode in its own OS process: POST / with one WatchOp as JSON, answer
// { result, resolvedAt } (or { error } with status 500). Prints {"port": N}.
// LATCHKEY_STORE: a store spec (stores.ts); LATCHKEY_OPTIONS: createSessions options as JSON.
import { createServer } from "node:http";
import { storeFromSpec } from "./stores.js";
import { WatchNode, type WatchOp } from "./watch-node.js";

const store = await storeFromSpec(process.env.LATCHKEY_STORE ?? "memory");
const node = new WatchNode(store, JSON.parse(process.env.LATCHKEY_OPTIONS ?? "{}"));
const server = createServer((req, res) => {
  let body = "";
  req.on("data", (chunk: Buffer) => (body += chunk.toString()));
  req.on("end", () => {
    node.run(JSON.parse(body) as WatchOp).then(
      (answer) => res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer)),
      (error: Error) => res.writeHead(500, { "content-type": "application/json" }).end(JSON.stringify({ error: error.stack ?? String(error) })),
    );
  });
});
server.listen(0, "127.0.0.1", () => console.log(JSON.stringify({ port: (server.address() as { port: number }).port })));
process.on("SIGTERM", () => {
  server.close();
  void node.sessions.close().finally(() => process.exit(0));
});
