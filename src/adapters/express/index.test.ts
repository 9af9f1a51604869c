import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { AddressInfo } from "node:net";
import type { Server } from "node:http";
import express5 from "express";
import express4 from "express4";
import { createSessions, SessionSealedError } from "../../core/index.js";
import { memoryStore } from "../../stores/memory/index.js";
import { buildApp } from "../../testing/app.js";
import { Client } from "../../testing/client.js";
import { expressSessions } from "./index.js";

const quiet = { warn: () => undefined, error: () => undefined };

/** Like an async logger or ETag middleware mounted after expressSessions: calls the real end() a little later. */
function deferringEnd(_req: unknown, res: { end: unknown }, next: () => void): void {
  const end = res.end as (...args: unknown[]) => unknown;
  res.end = function (...args: unknown[]) {
    setImmediate(() => end.apply(res, args));
    return res;
  };
  next();
}

/** Listens on a spare loopback port. */
async function serve(app: { listen: (port: number, host: string) => Server }): Promise<{ base: string; close: () => void }> {
  const server = app.listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  return {
    base: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => {
      server.close();
      server.closeAllConnections();
    },
  };
}

for (const [version, express] of [
  ["4", express4],
  ["5", express5],
] as const) {
  describe(`expressSessions on Express ${version}`, () => {
    it("a middleware mounted after it that defers res.end still goes through the hold: a change made before the response really started is committed", async () => {
      const store = memoryStore();
      const local = createSessions({ store, sweepInterval: false, logger: quiet });
      const app = express();
      app.use(expressSessions(local));
      app.use(deferringEnd);
      app.get("/late", (req, res) => {
        res.send("ok");
        req.session.set("late", 1);
      });
      app.get("/read", (req, res) => {
        res.json(req.session.toJSON());
      });
      const { base, close } = await serve(app);
      try {
        const client = new Client();
        const response = await client.get(`${base}/late`);
        assert.equal(response.status, 200);
        assert.equal(response.text, "ok");
        assert.ok(client.cookie, "the session was committed and its cookie sent");
        assert.deepEqual((await client.get(`${base}/read`)).body, { late: 1 });
      } finally {
        close();
        await local.close();
      }
    });

    it("a mounted sub-app (which re-prototypes the response) still commits before the response, also behind a deferring middleware", async () => {
      const store = memoryStore();
      const local = createSessions({ store, sweepInterval: false, logger: quiet });
      const app = express();
      app.use(expressSessions(local));
      const sub = express();
      sub.use(deferringEnd);
      sub.get("/set", (req, res) => {
        req.session.set("from", "sub-app");
        res.send("set");
      });
      sub.get("/late", (req, res) => {
        res.send("late");
        req.session.set("late", true);
      });
      app.use("/sub", sub);
      app.get("/read", (req, res) => {
        res.json(req.session.toJSON());
      });
      const { base, close } = await serve(app);
      try {
        const client = new Client();
        const set = await client.get(`${base}/sub/set`);
        assert.equal(set.status, 200);
        assert.equal(set.text, "set");
        assert.deepEqual((await client.get(`${base}/read`)).body, { from: "sub-app" });
        const late = await client.get(`${base}/sub/late`);
        assert.equal(late.text, "late");
        assert.deepEqual((await client.get(`${base}/read`)).body, { from: "sub-app", late: true });
      } finally {
        close();
        await local.close();
      }
    });

    it("mounted twice on one request (two managers, or the same one twice): both commit before the response", async () => {
      const users = createSessions({ store: memoryStore(), sweepInterval: false, logger: quiet, cookie: { name: "uid" } });
      const admins = createSessions({ store: memoryStore(), sweepInterval: false, logger: quiet, cookie: { name: "aid" } });
      const twice = expressSessions(users);
      const app = express();
      app.use(twice);
      app.use("/admin", expressSessions(admins));
      app.use("/again", twice);
      app.get("/admin/login", async (req, res) => {
        await req.session.login("root");
        res.send("admin");
      });
      app.get("/again/set", (req, res) => {
        req.session.set("again", true);
        res.send("again");
      });
      app.get("/whoami", (req, res) => {
        res.json({ userId: req.session.userId, data: req.session.toJSON() });
      });
      const { base, close } = await serve(app);
      try {
        const adminClient = new Client();
        const admin = await adminClient.get(`${base}/admin/login`);
        assert.equal(admin.status, 200);
        assert.equal(admin.text, "admin");
        assert.match(adminClient.lastSetCookie.join(), /aid=/);
        const client = new Client();
        const again = await client.get(`${base}/again/set`);
        assert.equal(again.text, "again");
        assert.deepEqual((await client.get(`${base}/whoami`)).body.data, { again: true });
      } finally {
        close();
        await users.close();
        await admins.close();
      }
    });

    it("mounted twice with a deferring middleware between the layers: both commit before the response, a late change reaches the outer one only, and nothing loops", async () => {
      const users = createSessions({ store: memoryStore(), sweepInterval: false, logger: quiet, cookie: { name: "uid" } });
      const admins = createSessions({ store: memoryStore(), sweepInterval: false, logger: quiet, cookie: { name: "aid" } });
      const app = express();
      app.use(expressSessions(users));
      let outer: { set(key: string, value: unknown): void } | undefined;
      let innerSealed = false;
      app.use((req, _res, next) => {
        outer = req.session;
        next();
      });
      app.use(deferringEnd);
      app.use(expressSessions(admins));
      app.get("/both", (req, res) => {
        outer!.set("user", 1);
        req.session.set("admin", 2);
        res.send("both");
      });
      app.get("/late", (req, res) => {
        res.send("late");
        outer!.set("late", true);
        // This layer already passed the end on (to the deferring middleware): for it the response has started.
        try {
          req.session.set("late", true);
        } catch (error) {
          innerSealed = error instanceof SessionSealedError;
        }
      });
      const { base, close } = await serve(app);
      try {
        const client = new Client();
        const both = await client.get(`${base}/both`);
        assert.equal(both.text, "both");
        assert.match(client.lastSetCookie.join("\n"), /uid=/);
        assert.match(client.lastSetCookie.join("\n"), /aid=/);
        const lateClient = new Client();
        const late = await lateClient.get(`${base}/late`);
        assert.equal(late.text, "late");
        assert.match(lateClient.lastSetCookie.join("\n"), /uid=/, "the outer layer's late change was committed before the deferred end");
        assert.doesNotMatch(lateClient.lastSetCookie.join("\n"), /aid=/);
        assert.ok(innerSealed, "the inner layer's late change threw SessionSealedError");
      } finally {
        close();
        await users.close();
        await admins.close();
      }
    });

    it("a changed session still holds the response when the app replaces req.session afterwards", async () => {
      const store = memoryStore();
      const local = createSessions({ store, sweepInterval: false, logger: quiet });
      const app = express();
      app.use(expressSessions(local));
      app.use(deferringEnd);
      app.get("/replace", (req, res) => {
        req.session.set("kept", 1);
        (req as { session: unknown }).session = { replaced: true };
        res.send("replaced");
      });
      app.get("/read", (req, res) => {
        res.json(req.session.toJSON());
      });
      const { base, close } = await serve(app);
      try {
        const client = new Client();
        assert.equal((await client.get(`${base}/replace`)).text, "replaced");
        assert.ok(client.cookie, "committed, and its cookie sent with the response");
        assert.deepEqual((await client.get(`${base}/read`)).body, { kept: 1 });
      } finally {
        close();
        await local.close();
      }
    });

    it("rejects a non-sessions argument with a clear TypeError", () => {
      assert.throws(() => expressSessions({} as never), /needs the object returned by createSessions/);
    });
  });
}

describe("expressSessions: devices", () => {
  for (const [version, express] of [
    ["4", express4],
    ["5", express5],
  ] as const) {
    it(`Express ${version}: records the user agent, and the client IP through trust proxy only with recordIp`, async () => {
      for (const recordIp of [false, true]) {
        const sessions = createSessions({ store: memoryStore(), sweepInterval: false, logger: quiet, recordIp });
        const { base, close } = await serve(buildApp(express as never, sessions)); // trust proxy: loopback
        try {
          const phone = new Client();
          await phone.post(`${base}/login/ann`, { "user-agent": "curl/8.5.0" });
          // Signing in again on the same browser (a rotation) records the device of that login.
          const login = await phone.post(`${base}/login/ann`, {
            "user-agent":
              "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "x-forwarded-for": "198.51.100.23",
          });
          assert.equal(login.status, 200);
          const other = new Client();
          await other.post(`${base}/login/ann`, { "user-agent": "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0" });
          const listed = (await new Client().get(`${base}/list/ann`)).body as Array<{ device: string; ip?: string }>;
          assert.deepEqual(listed.map((s) => s.device).sort(), ["Firefox on Linux", "Safari on iOS"]);
          assert.equal(listed.find((s) => s.device === "Safari on iOS")!.ip, recordIp ? "198.51.100.23" : undefined, "the address behind the trusted proxy");
          assert.equal(listed.find((s) => s.device === "Firefox on Linux")!.ip, recordIp ? "127.0.0.1" : undefined);
          const ended = await other.post(`${base}/logout-others`);
          assert.equal(ended.body.count, 1);
          assert.equal((await phone.get(`${base}/whoami`)).body.userId, null);
          assert.equal((await other.get(`${base}/whoami`)).body.userId, "ann");
          const bad = await new Client().post(`${base}/login/${encodeURIComponent("a\u0000b")}`);
          assert.equal(bad.status, 400, "bad input is a 400 (err.status), never a 503 that looks like an outage");
          assert.equal(bad.body.error, "SessionInputError");
          assert.match(bad.body.message, /userId must not contain control characters/);
        } finally {
          close();
          await sessions.close();
        }
      }
    });
  }
});

describe("expressSessions: express.static", () => {
  for (const [version, express] of [
    ["4", express4],
    ["5", express5],
  ] as const) {
    it(`Express ${version}: a static file answered with the session cookie cleared is no-store, though express.static said public`, async () => {
      const { mkdtempSync, writeFileSync, rmSync } = await import("node:fs");
      const { tmpdir } = await import("node:os");
      const { join } = await import("node:path");
      const dir = mkdtempSync(join(tmpdir(), "latchkey-static-"));
      writeFileSync(join(dir, "app.css"), "body{}");
      const sessions = createSessions({ store: memoryStore(), sweepInterval: false, logger: quiet });
      const app = (express as unknown as () => import("express").Express)();
      app.use(expressSessions(sessions));
      app.use((express as unknown as { static: typeof express5.static }).static(dir));
      const server = await serve(app);
      try {
        const plain = await fetch(`${server.base}/app.css`);
        assert.match(plain.headers.get("cache-control") ?? "", /public/, "no session cookie: express.static's caching stands");
        const dead = await fetch(`${server.base}/app.css`, { headers: { cookie: `sid=${"D".repeat(43)}.DDDD` } });
        assert.equal(dead.status, 200);
        assert.match(dead.headers.getSetCookie()[0] ?? "", /^sid=; /);
        assert.equal(dead.headers.get("cache-control"), "no-store");
      } finally {
        server.close();
        rmSync(dir, { recursive: true, force: true });
        await sessions.close();
      }
    });
  }
});
