import assert from "node:assert/strict";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { describe, it } from "node:test";
import Koa3 from "koa";
import Koa2 from "koa2";
import { createSessions } from "../../core/index.js";
import { memoryStore } from "../../stores/memory/index.js";
import { Client } from "../../testing/client.js";
import { runHttpSuite } from "../../testing/http-suite.js";
import { koaServer } from "../../testing/servers.js";
import { koaSessions } from "./index.js";

const quiet = { warn: () => undefined, error: () => undefined };

for (const [version, Koa] of [
  ["2", Koa2],
  ["3", Koa3],
] as const) {
  runHttpSuite({ name: `Koa ${version}`, makeServer: koaServer(Koa) });

  describe(`koaSessions on Koa ${version}`, () => {
    it("rejects a non-sessions argument with a clear TypeError", () => {
      assert.throws(() => koaSessions({} as never), /koaSessions\(sessions\) needs the object returned by createSessions/);
    });

    it("failures are errors with status, expose and headers, for the app's error middleware; the downstream never runs as signed in", async () => {
      const store = memoryStore();
      const sessions = createSessions({ store, sweepInterval: false, logger: quiet });
      const app = new Koa();
      const seen: Array<{ name: string; status: number; expose: boolean; retryAfter: unknown }> = [];
      let ran = 0;
      app.use(async (ctx, next) => {
        try {
          await next();
        } catch (error) {
          const { name, status, expose, headers } = error as Error & { status: number; expose: boolean; headers: Record<string, string> };
          seen.push({ name, status, expose, retryAfter: headers["retry-after"] });
          ctx.status = status;
          ctx.body = { failed: name };
        }
      });
      app.use(koaSessions(sessions));
      app.use(async (ctx) => {
        ran++;
        if (ctx.path === "/login") await ctx.session.login("jo");
        ctx.body = { userId: ctx.session.userId };
      });
      // eslint-disable-next-line @typescript-eslint/no-misused-promises -- Koa's callback catches its own rejections
      const server = createServer(app.callback()).listen(0, "127.0.0.1");
      await new Promise((resolve) => server.once("listening", resolve));
      try {
        const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
        const client = new Client();
        assert.deepEqual((await client.get(`${url}/login`)).body, { userId: "jo" });
        await store.close();
        const response = await client.get(`${url}/`);
        assert.equal(response.status, 503);
        assert.deepEqual(response.body, { failed: "SessionFailureError" });
        assert.deepEqual(seen, [{ name: "SessionFailureError", status: 503, expose: true, retryAfter: "1" }]);
        assert.equal(ran, 1, "only the login ran");
      } finally {
        server.close();
        server.closeAllConnections();
        await sessions.close().catch(() => undefined);
      }
    });
  });
}
