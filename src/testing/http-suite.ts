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

  describe(`HTTP suite: ${name}, bearer tokens, CSRF and flash`, () => {
    let sessions: Sessions;
    let server: TestServer;
    let url: string;
    const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

    before(async () => {
      sessions = createSessions({ store: memoryStore(), sweepInterval: false, logger: quiet, bearer: true, csrf: true });
      server = await makeServer(sessions);
      url = server.url;
    });
    after(async () => {
      await server.close();
      await sessions.close();
    });

    it("bearer: login answers the token in its body and sets no cookie; reads and writes work with it; logout ends it", async () => {
      const api = new Client();
      const login = await api.post(`${url}/login-bearer/ivy`);
      assert.equal(login.status, 200, login.text);
      assert.deepEqual(api.lastSetCookie, [], "a bearer login sets no cookie");
      assert.equal(login.headers.get("cache-control"), "no-store", "a response carrying a token is never cached");
      const token = login.body.token as string;
      assert.match(token, /^[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{4}$/);
      const read = await api.get(`${url}/whoami`, bearer(token));
      assert.equal(read.body.userId, "ivy");
      const write = await api.post(`${url}/set/theme?value=%22dark%22`, bearer(token));
      assert.equal(write.status, 200, "a bearer write needs no CSRF token");
      assert.deepEqual(api.lastSetCookie, [], "a bearer-authenticated request never gets a Set-Cookie");
      assert.equal((await api.get(`${url}/whoami`, bearer(token))).body.data.theme, "dark");
      assert.equal((await api.post(`${url}/logout`, bearer(token))).status, 200);
      assert.deepEqual(api.lastSetCookie, []);
      assert.equal((await api.get(`${url}/whoami`, bearer(token))).body.userId, null, "the token is dead");
      assert.equal((await sessions.list("ivy")).length, 0);
    });

    it("bearer: the Authorization header wins over a cookie; a forged or malformed token is anonymous, never 5xx", async () => {
      const browser = new Client();
      await browser.get(`${url}/csrf`);
      const csrf = (await browser.get(`${url}/csrf`)).body.csrfToken as string;
      await browser.post(`${url}/login/jon`, { "x-csrf-token": csrf });
      const api = new Client();
      const token = (await api.post(`${url}/login-bearer/kim`)).body.token as string;
      const both = await new Client(browser.cookie).get(`${url}/whoami`, bearer(token));
      assert.equal(both.body.userId, "kim");
      for (const header of [`Bearer ${"C".repeat(43)}.CCCC`, "Bearer", "Bearer x y", "bearer   "]) {
        const mixed = new Client(browser.cookie);
        const response = await mixed.get(`${url}/whoami`, { authorization: header });
        assert.equal(response.status, 200, header);
        assert.equal(response.body.userId, null, `${header}: anonymous, the cookie is not read`);
        assert.deepEqual(mixed.lastSetCookie, [], `${header}: the cookie is left alone`);
      }
      assert.equal(
        (await new Client(browser.cookie).get(`${url}/whoami`, { authorization: "Basic eDp5" })).body.userId,
        "jon",
        "another scheme: the cookie decides",
      );
    });

    it("CSRF: 403 to a cookie-carrying POST without the header or with a wrong one; 200 with it; no cookie passes", async () => {
      const browser = new Client();
      const csrf = (await browser.get(`${url}/csrf`)).body.csrfToken as string;
      assert.ok(browser.cookie, "reading the token stored the session");
      const missing = await browser.post(`${url}/set/cart?value=1`);
      assert.equal(missing.status, 403);
      assert.match(missing.text, /CSRF token/);
      assert.equal(missing.headers.get("cache-control"), "no-store", "a refusal is never cached");
      const wrong = await browser.post(`${url}/set/cart?value=1`, { "x-csrf-token": `${csrf.slice(1)}x` });
      assert.equal(wrong.status, 403);
      assert.equal((await browser.get(`${url}/whoami`)).body.data.cart, undefined, "a refused request changed nothing");
      assert.equal((await browser.post(`${url}/set/cart?value=1`, { "x-csrf-token": csrf })).status, 200);
      assert.equal((await browser.get(`${url}/whoami`)).body.data.cart, 1);
      assert.equal((await new Client().post(`${url}/set/cart?value=2`)).status, 200, "no session cookie at all: nothing to forge");
      const stale = await new Client(`sid=${"D".repeat(43)}.DDDD`).post(`${url}/set/cart?value=3`);
      assert.equal(stale.status, 403, "a cookie without a live session has no token to match");
    });

    it("CSRF: login CSRF is refused, and login replaces the token", async () => {
      const browser = new Client();
      const csrf = (await browser.get(`${url}/csrf`)).body.csrfToken as string;
      assert.equal((await browser.post(`${url}/login/mallory`)).status, 403, "an anonymous session holding a cookie: login needs the token");
      assert.equal((await browser.post(`${url}/login/lea`, { "x-csrf-token": csrf })).status, 200);
      assert.equal((await browser.post(`${url}/set/x?value=1`, { "x-csrf-token": csrf })).status, 403, "the pre-login token is dead");
      const fresh = (await browser.get(`${url}/csrf`)).body.csrfToken as string;
      assert.notEqual(fresh, csrf);
      assert.equal((await browser.post(`${url}/set/x?value=1`, { "x-csrf-token": fresh })).status, 200);
    });

    it("CSRF: an HTML form post without the header runs locked (anonymous) until verifyCsrf accepts its field", async () => {
      const browser = new Client();
      const csrf = (await browser.get(`${url}/csrf`)).body.csrfToken as string;
      await browser.post(`${url}/login/max`, { "x-csrf-token": csrf });
      const token = (await browser.get(`${url}/csrf`)).body.csrfToken as string;
      const form = { "content-type": "application/x-www-form-urlencoded" };
      const forged = await browser.post(`${url}/form/${"E".repeat(43)}`, form);
      assert.equal(forged.status, 200);
      assert.deepEqual(forged.body, { before: null, verified: false, userId: null }, "a forged form acts as nobody");
      const posted = await browser.post(`${url}/form/${token}`, { "content-type": "multipart/form-data; boundary=x" });
      assert.deepEqual(posted.body, { before: null, verified: true, userId: "max" });
      assert.equal((await browser.get(`${url}/whoami`)).body.data.formed, true, "the verified form's change was committed");
      assert.equal((await browser.post(`${url}/form/${token}`, { "content-type": "application/json" })).status, 403, "only what a form can send is admitted");
    });

    it("CSRF: a cross-site form post to a logout route (SameSite kept the cookie back) clears no cookie", async () => {
      const browser = new Client();
      const csrf = (await browser.get(`${url}/csrf`)).body.csrfToken as string;
      await browser.post(`${url}/login/noa`, { "x-csrf-token": csrf });
      // What the browser sends for a form on another site: no session cookie. A Set-Cookie clearing it would be obeyed.
      const crossSite = new Client();
      const response = await crossSite.post(`${url}/logout`, { "content-type": "application/x-www-form-urlencoded" });
      assert.equal(response.status, 200);
      assert.deepEqual(crossSite.lastSetCookie, [], "no cookie was presented, so none is cleared");
      assert.equal((await browser.get(`${url}/whoami`)).body.userId, "noa");
    });

    it("flash: a message set before a redirect is shown once, on the next request", async () => {
      const browser = new Client();
      const csrf = (await browser.get(`${url}/csrf`)).body.csrfToken as string;
      assert.equal((await browser.post(`${url}/flash/Saved`, { "x-csrf-token": csrf })).status, 200);
      assert.deepEqual((await browser.get(`${url}/flashes`)).body, { notice: ["Saved"] });
      assert.deepEqual((await browser.get(`${url}/flashes`)).body, {});
    });
  });

  describe(`HTTP suite: ${name}, sign-in features`, () => {
    it("login options: persistent: false sets a cookie without Expires; a 30-day login one that expires in 30 days; impersonation and a refused login over HTTP", async () => {
      const sessions = createSessions({ store: memoryStore(), sweepInterval: false, logger: quiet, maxSessionsPerUser: 2, onSessionLimit: "refuse" });
      const server = await makeServer(sessions);
      try {
        const browser = new Client();
        assert.equal((await browser.post(`${server.url}/login/ivy?options=${encodeURIComponent('{"persistent":false}')}`)).status, 200);
        assert.match(browser.lastSetCookie[0]!, /^sid=[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{4}; /);
        assert.doesNotMatch(browser.lastSetCookie[0]!, /Expires=|Max-Age=/i, "a browser-session cookie");
        const remembered = new Client();
        const days30 = 30 * 24 * 3_600_000;
        await remembered.post(
          `${server.url}/login/ivy?options=${encodeURIComponent(JSON.stringify({ persistent: true, idleTimeout: days30, absoluteTimeout: days30 }))}`,
        );
        const expires = Date.parse(/Expires=([^;]+)/.exec(remembered.lastSetCookie[0]!)![1]!);
        assert.ok(Math.abs(expires - (Date.now() + days30)) < 60_000, `Expires ${new Date(expires).toISOString()} is 30 days out`);
        // A third login of ivy is refused (409, a sentence naming the limit); the client keeps no new cookie.
        const third = new Client();
        const refused = await third.post(`${server.url}/login/ivy`);
        assert.equal(refused.status, 409);
        assert.match(refused.body.message, /maxSessionsPerUser: 2/);
        assert.equal(third.cookie, null);
        // Impersonation rotates the cookie both ways and keeps the browser-session cookie.
        const before = browser.cookie;
        const viewing = await browser.post(`${server.url}/impersonate/jude`);
        assert.deepEqual([viewing.status, viewing.body.userId, viewing.body.impersonator], [200, "jude", "ivy"]);
        assert.notEqual(browser.cookie, before);
        assert.doesNotMatch(browser.lastSetCookie[0]!, /Expires=/i);
        assert.equal((await new Client(before).get(`${server.url}/whoami`)).body.userId, null, "the old token is dead");
        assert.equal((await browser.post(`${server.url}/impersonate/kai`)).status, 409, "no nested impersonation");
        const back = await browser.post(`${server.url}/stop-impersonating`);
        assert.deepEqual([back.body.userId, back.body.impersonator], ["ivy", null]);
        assert.equal((await browser.get(`${server.url}/fresh?ms=60000`)).body.fresh, true);
      } finally {
        await server.close();
        await sessions.close();
      }
    });
  });

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
