// The HTTP-level guarantees every framework adapter keeps, defined once.
// Run it on an adapter with a "make a server" function (see servers.ts):
//   runHttpSuite({ name: "Fastify 5", makeServer: fastifyServer });
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createSessions, type Sessions } from "../core/index.js";
import type { SessionStore } from "../store/index.js";
import { memoryStore } from "../stores/memory/index.js";
import { Client, waitFor } from "./client.js";
import { runCookieSuite } from "./cookie-suite.js";
import { runSignInSuite } from "./sign-in-suite.js";
import { rawRequest } from "./raw.js";
import type { MakeServer, TestServer } from "./servers.js";

export interface HttpSuiteOptions {
  name: string;
  makeServer: MakeServer;
}

const quiet = { warn: () => undefined, error: () => undefined };

/** Waits until `count` slow requests are parked on the server. */
const parked = (url: string, count: number) =>
  waitFor(async () => (await new Client().get(`${url}/waiting`)).body.waiting === count, `${count} slow request(s)`);

export function runHttpSuite({ name, makeServer }: HttpSuiteOptions): void {
  runCookieSuite({ name, makeServer });
  describe(`HTTP suite: ${name}`, () => {
    let store: SessionStore;
    let sessions: Sessions;
    let server: TestServer;
    let url: string;

    before(async () => {
      store = memoryStore();
      sessions = createSessions({ store, sweepInterval: false, logger: quiet });
      server = await makeServer(sessions);
      url = server.url;
    });
    after(async () => {
      await server.close();
      await sessions.close();
    });

    it("sets an HttpOnly, SameSite=Lax, Path=/ cookie with Expires, Secure only over https", async () => {
      const client = new Client();
      const response = await client.post(`${url}/set/theme?value=%22dark%22`);
      assert.equal(response.status, 200);
      const [line] = client.lastSetCookie;
      assert.match(line!, /^sid=[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{4}; Path=\/; HttpOnly; SameSite=Lax; Expires=/);
      assert.doesNotMatch(line!, /Secure/);
      assert.equal(response.headers.get("cache-control"), "no-store", "a response that sets a token is never cached");
      const https = new Client();
      await https.post(`${url}/set/theme?value=1`, { "x-forwarded-proto": "https" });
      assert.match(https.lastSetCookie[0]!, /; Secure/, "the proxy's https is honoured");
    });

    it("a cookie the app sets itself is kept beside the session cookie, each once", async () => {
      const client = new Client();
      await client.post(`${url}/login/ida`);
      const again = new Client(client.cookie); // the test client keeps one cookie: the session's
      await client.post(`${url}/own-cookie/x`);
      const login = new Client();
      await login.post(`${url}/own-cookie/y`);
      assert.deepEqual(login.lastSetCookie.map((line) => line.split("=")[0]).sort(), ["own", "sid"]);
      assert.equal(client.lastSetCookie.filter((line) => line.startsWith("own=")).length, 1);
      assert.equal((await again.get(`${url}/whoami`)).body.data.own, "x");
    });

    it("the session's RequestContext: the Cookie header, the User-Agent, and the client address through the framework's trust-proxy rules", async () => {
      const context = await new Client("sid=abc; other=1").get(`${url}/context`, { "user-agent": "suite/1", "x-forwarded-for": "203.0.113.9" });
      assert.deepEqual(context.body, { ip: "203.0.113.9", userAgent: "suite/1", cookieHeader: "sid=abc; other=1" });
    });

    it("an empty anonymous session is never stored and sets no cookie", async () => {
      const client = new Client();
      const response = await client.get(`${url}/whoami`);
      assert.equal(response.status, 200);
      assert.deepEqual(client.lastSetCookie, []);
      assert.equal(response.body.handle, null);
    });

    it("commits before the status line (G8): the store has the change when the response arrives", async () => {
      const client = new Client();
      await client.post(`${url}/login/alice`);
      const response = await client.post(`${url}/set/cart?value=%5B%22a%22%5D`);
      assert.equal(response.status, 200);
      assert.deepEqual((await store.get(response.body.handle))?.data.cart, ["a"]);
    });

    it("a streamed response carries the cookie: the commit happened before the first byte", async () => {
      const client = new Client();
      const response = await client.get(`${url}/stream/note`);
      assert.equal(response.text, "one\ntwo\nthree\n");
      assert.equal(client.lastSetCookie.length, 1);
      assert.equal((await client.get(`${url}/whoami`)).body.data.note, "streamed");
    });

    it("a response the app writes itself (hijacked, respond = false) still commits first and carries the cookie", async () => {
      const client = new Client();
      await client.post(`${url}/login/hana`);
      const before = client.cookie;
      const response = await client.get(`${url}/raw/note`);
      assert.equal(response.text, "raw answer\n");
      assert.equal(client.cookie, before, "no new cookie for a stored session");
      assert.equal((await client.get(`${url}/whoami`)).body.data.note, "raw");
      const anonymous = new Client();
      assert.equal((await anonymous.get(`${url}/raw/note`)).text, "raw answer\n");
      assert.ok(anonymous.cookie, "a new session's cookie is set on the raw response");
      assert.equal((await anonymous.get(`${url}/whoami`)).body.data.note, "raw");
      assert.equal((await client.get(`${url}/raw-read`)).text, "hana\n");
    });

    it("login rotates the token and keeps the data; logout clears the cookie", async () => {
      const client = new Client();
      await client.post(`${url}/set/cart?value=%5B1%5D`);
      const anonymous = client.cookie;
      const login = await client.post(`${url}/login/bob`);
      assert.notEqual(client.cookie, anonymous);
      assert.deepEqual(login.body.data.cart, [1]);
      assert.equal((await new Client(anonymous).get(`${url}/whoami`)).body.userId, null, "the old token is dead");
      const logout = await client.post(`${url}/logout`);
      assert.equal(logout.body.userId, null);
      assert.match(client.lastSetCookie[0]!, /^sid=; .*Max-Age=0/);
      assert.equal(client.cookie, null);
    });

    for (const [label, value] of [
      ["empty", ""],
      ["8 KB", "a".repeat(8192)],
      ["wrong length", "abc.defg"],
      ["forged but well-formed", `${"A".repeat(43)}.AAAA`],
      ["express-session signed format", "s:3j8kJ5Qd2vQYxw0b1n8Zq9b4cT.f8Kz9WcPqS0yqvXr3cD1aBc2dE3fG4hI5jK6lM7nO8p"],
      ["quoted", '"abc"'],
      ["percent-encoded", "%41%42%43"],
    ] as const) {
      it(`a ${label} cookie is anonymous, never a 5xx`, async () => {
        const response = await new Client(`sid=${value}`).get(`${url}/whoami`);
        assert.equal(response.status, 200);
        assert.equal(response.body.userId, null);
      });
    }

    it("non-ASCII and control characters in the cookie are anonymous or 400, never a 5xx", async () => {
      const nonAscii = await rawRequest(
        server.port,
        Buffer.concat([
          Buffer.from("GET /whoami HTTP/1.1\r\nHost: x\r\nCookie: sid="),
          Buffer.from("çé☃ü", "utf8"),
          Buffer.from("\r\nConnection: close\r\n\r\n"),
        ]),
      );
      assert.equal(nonAscii.status, 200);
      assert.match(nonAscii.text, /"userId":null/);
      const control = await rawRequest(server.port, "GET /whoami HTTP/1.1\r\nHost: x\r\nCookie: sid=a\x01b\x7fc\r\nConnection: close\r\n\r\n");
      assert.ok(control.status === 400 || (control.status === 200 && /"userId":null/.test(control.text)), `status ${control.status}`);
    });

    it("a valid session survives a second, garbage cookie of the same name", async () => {
      const client = new Client();
      await client.post(`${url}/login/carol`);
      assert.equal((await new Client(`sid=garbage; ${client.cookie}`).get(`${url}/whoami`)).body.userId, "carol");
    });

    it("a forged token answers anonymous and clears the cookie", async () => {
      const client = new Client(`sid=${"B".repeat(43)}.BBBB`);
      assert.equal((await client.get(`${url}/whoami`)).status, 200);
      assert.match(client.lastSetCookie[0] ?? "", /^sid=; /);
    });

    it("an error thrown after the response started keeps the answer and the session", async () => {
      const client = new Client();
      const response = await client.get(`${url}/send-then-throw`);
      assert.equal(response.status, 200);
      assert.equal(response.text, "sent");
      assert.equal((await client.get(`${url}/whoami`)).body.data.sent, true);
    });

    it("changing the session after the response started throws SessionSealedError", async () => {
      assert.equal((await new Client().get(`${url}/late-set`)).text, "done");
      await waitFor(async () => ((await new Client().get(`${url}/late-errors`)).body as string[]).includes("SessionSealedError"), "the late change to throw");
    });

    it("a connection cut mid-request loses nothing: the handler's change is still committed", async () => {
      const client = new Client();
      await client.post(`${url}/login/eve`);
      const controller = new AbortController();
      const cut = fetch(`${url}/slow/set/draft?value=%22kept%22`, { method: "POST", headers: { cookie: client.cookie! }, signal: controller.signal }).catch(
        (error: Error) => error,
      );
      await parked(url, 1);
      controller.abort();
      assert.ok((await cut) instanceof Error, "the client went away");
      await new Client().post(`${url}/release`);
      await waitFor(async () => (await client.get(`${url}/whoami`)).body.data.draft === "kept", "the cut request's change");
      assert.equal((await client.get(`${url}/whoami`)).body.userId, "eve", "the session is intact");
    });

    it("a logout racing a slow write: the write answers 401, is not stored, and the session stays dead (G1)", async () => {
      const tab1 = new Client();
      await tab1.post(`${url}/login/fred`);
      const slow = tab1.fork().post(`${url}/slow/set/cart?value=%5B%22late%22%5D`);
      await parked(url, 1);
      assert.equal((await tab1.post(`${url}/logout`)).status, 200);
      await new Client().post(`${url}/release`);
      const late = await slow;
      assert.equal(late.status, 401);
      assert.doesNotMatch(late.text, /fred/);
      assert.equal((await sessions.list("fred")).length, 0);
    });
  });

  runSignInSuite({ name, makeServer });

  describe(`HTTP suite: ${name}, conflicts: "reject"`, () => {
    it("two overlapping writes of one key: the second answers 409 and is not stored", async () => {
      const sessions = createSessions({ store: memoryStore(), sweepInterval: false, logger: quiet, conflicts: "reject" });
      const server = await makeServer(sessions);
      try {
        const tab = new Client();
        await tab.post(`${server.url}/login/gus`);
        const first = tab.fork().post(`${server.url}/slow/set/theme?value=%22dark%22`);
        const second = tab.fork().post(`${server.url}/slow/set/theme?value=%22light%22`);
        await parked(server.url, 2);
        await new Client().post(`${server.url}/release`);
        const statuses = [(await first).status, (await second).status].sort();
        assert.deepEqual(statuses, [200, 409]);
        const kept = (await tab.get(`${server.url}/whoami`)).body.data.theme;
        assert.ok(kept === "dark" || kept === "light");
      } finally {
        await server.close();
        await sessions.close();
      }
    });
  });

  describe(`HTTP suite: ${name}, maxDataBytes`, () => {
    it("a commit over maxDataBytes answers 413 with a sentence and stores nothing, also when overlapping requests together pass it", async () => {
      const sessions = createSessions({ store: memoryStore(), sweepInterval: false, logger: quiet, maxDataBytes: 1024 });
      const server = await makeServer(sessions);
      const big = encodeURIComponent(JSON.stringify("x".repeat(600)));
      const stored = async (client: Client) =>
        (await client.fork().get(`${server.url}/whoami`)).body as { userId: string | null; data: Record<string, unknown> };
      try {
        const tab = new Client();
        await tab.post(`${server.url}/login/ivan`);
        // Each adds 600 bytes: under the limit alone, over it together; both loaded the session before either commits.
        const first = tab.fork().post(`${server.url}/slow/set/a?value=${big}`);
        const second = tab.fork().post(`${server.url}/slow/set/b?value=${big}`);
        await parked(server.url, 2);
        await new Client().post(`${server.url}/release`);
        const answers = [await first, await second];
        assert.deepEqual(answers.map((answer) => answer.status).sort(), [200, 413]);
        const refused = answers.find((answer) => answer.status === 413)!;
        assert.match(refused.text, /over its limit of 1024 bytes.*nothing was saved/);
        assert.doesNotMatch(refused.text, /ivan/);
        let data = (await stored(tab)).data;
        assert.equal(Object.keys(data).filter((key) => key === "a" || key === "b").length, 1, "exactly one of the two was stored");
        // This request's own data is over the limit: refused before the store is asked.
        const alone = await tab.fork().post(`${server.url}/set/c?value=${encodeURIComponent(JSON.stringify("y".repeat(1100)))}`);
        assert.equal(alone.status, 413);
        assert.match(alone.text, /over its limit of 1024 bytes/);
        // A login() (a new token for ivan, data kept) over the limit, its error left to the framework: 413 (never 500), nothing stored.
        const login = await tab.fork().post(`${server.url}/set-and-login/ivan?key=c&value=${big}`);
        assert.equal(login.status, 413, login.text);
        assert.match(login.text, /over (its limit of |maxDataBytes \()1024/);
        const after = await stored(tab);
        assert.equal(after.userId, "ivan");
        assert.equal(after.data.c, undefined);
        // Small changes still fit.
        assert.equal((await tab.post(`${server.url}/set/small?value=1`)).status, 200);
        data = (await stored(tab)).data;
        assert.equal(data.small, 1);
      } finally {
        await server.close();
        await sessions.close();
      }
    });
  });

  describe(`HTTP suite: ${name}, when the store fails (G6)`, () => {
    it("answers 503 on load and commit failures, and is never signed in; the body never describes the store", async () => {
      // The store's description (here a file path) goes to the log, never into a response body.
      const store = memoryStore({ name: "memory(/srv/app/private/sessions.db)" });
      const logged: string[] = [];
      const sessions = createSessions({ store, sweepInterval: false, logger: { warn: () => undefined, error: (line: string) => logged.push(line) } });
      const server = await makeServer(sessions);
      try {
        const client = new Client();
        await client.post(`${server.url}/login/dora`);
        const slow = client.fork().post(`${server.url}/slow/set/cart?value=1`);
        await parked(server.url, 1);
        await store.close(); // the store goes down mid-request
        await new Client().post(`${server.url}/release`);
        const commitFailure = await slow;
        assert.equal(commitFailure.status, 503);
        assert.equal(commitFailure.headers.get("cache-control"), "no-store", "an outage answer is never cached");
        assert.doesNotMatch(commitFailure.text, /dora|private|memory/);
        assert.match(commitFailure.text, /session store cannot be reached/);
        assert.ok(
          logged.some((line) => line.includes("/srv/app/private/sessions.db")),
          `the log has the details:\n${logged.join("\n")}`,
        );
        const loadFailure = await client.fork().get(`${server.url}/whoami`);
        assert.equal(loadFailure.status, 503);
        assert.equal(loadFailure.headers.get("retry-after"), "1");
        assert.equal(loadFailure.headers.get("cache-control"), "no-store");
        assert.doesNotMatch(loadFailure.text, /dora|private|memory/);
        const raw = await client.fork().get(`${server.url}/raw-read`);
        assert.equal(raw.status, 503, "a route that writes the response itself never runs either");
      } finally {
        await server.close();
        await sessions.close().catch(() => undefined);
      }
    });
  });
}
