// Signing in over HTTP, on every adapter (part of the HTTP suite): bearer tokens, CSRF tokens and
// locked form posts, flash messages, login options ("keep me signed in"), impersonation and a login
// refused by maxSessionsPerUser.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createSessions, type Sessions } from "../core/index.js";
import { memoryStore } from "../stores/memory/index.js";
import { Client } from "./client.js";
import type { MakeServer, TestServer } from "./servers.js";

const quiet = { warn: () => undefined, error: () => undefined };

export function runSignInSuite({ name, makeServer }: { name: string; makeServer: MakeServer }): void {
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
}
