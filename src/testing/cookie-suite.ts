// The session cookie as it behaves in production, on every adapter (part of
// the HTTP suite): Secure behind a TLS-terminating proxy, the __Host- name
// that a sibling subdomain cannot toss in, no-store on a token, and the client
// address from X-Forwarded-For only as far as the trusted proxy.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createSessions, type Sessions } from "../core/index.js";
import { memoryStore } from "../stores/memory/index.js";
import { Client } from "./client.js";
import { hostRequest } from "./raw.js";
import type { MakeServer, TestServer } from "./servers.js";

const quiet = { warn: () => undefined, error: () => undefined };
/** What a browser addressed behind a TLS proxy that forwards Host (and no X-Forwarded-Proto the app trusts). */
const PUBLIC = "app.example.com";
/** Well-formed tokens no session has: what an attacker tosses in. */
const junk = (n: number) => Array.from({ length: n }, (_, i) => `${"J".repeat(42)}${i}.JJJJ`);
const valueOf = (line: string) => line.slice(line.indexOf("=") + 1, line.indexOf(";"));

export function runCookieSuite({ name, makeServer }: { name: string; makeServer: MakeServer }): void {
  describe(`HTTP suite: ${name}, the cookie in production`, () => {
    let sessions: Sessions;
    let server: TestServer;
    const at = (host: string, method: string, path: string, cookie?: string, headers: Record<string, string> = {}) =>
      hostRequest(server.port, method, path, { host, ...(cookie ? { cookie } : {}), ...headers });

    before(async () => {
      sessions = createSessions({ store: memoryStore(), sweepInterval: false, logger: quiet });
      server = await makeServer(sessions);
    });
    after(async () => {
      await server.close();
      await sessions.close();
    });

    it("a public host over plain HTTP (a TLS proxy, no trust proxy) gets Secure and __Host-sid: host-only, Path=/", async () => {
      const login = await at(PUBLIC, "POST", "/login/ana");
      assert.equal(login.status, 200);
      assert.equal(login.setCookie.length, 1);
      assert.match(login.setCookie[0]!, /^__Host-sid=[A-Za-z0-9_-]{43}\.[A-Za-z0-9_-]{4}; Path=\/; HttpOnly; SameSite=Lax; Secure; Expires=/);
      assert.doesNotMatch(login.setCookie[0]!, /Domain=/i);
      assert.equal((await at(PUBLIC, "GET", "/whoami", `__Host-sid=${valueOf(login.setCookie[0]!)}`)).body.userId, "ana");
      const proxied = await at("localhost:3000", "POST", "/login/ana", undefined, { "x-forwarded-host": PUBLIC });
      assert.match(proxied.setCookie[0]!, /^__Host-sid=.*; Secure/, "a proxy's X-Forwarded-Host names the public host");
      assert.match((await at("localhost.example.com", "POST", "/login/ana")).setCookie[0]!, /^__Host-sid=.*; Secure/);
    });

    it("plain HTTP to this machine (localhost, *.localhost, 127.0.0.1, [::1]) gets the plain sid without Secure", async () => {
      for (const host of ["localhost:3000", "app.localhost", "127.0.0.1:8080", "[::1]:3000"]) {
        const [line] = (await at(host, "POST", "/login/ana")).setCookie;
        assert.match(line!, /^sid=[^;]+; Path=\/; HttpOnly; SameSite=Lax; Expires=/, host);
        assert.doesNotMatch(line!, /Secure/, host);
      }
    });

    it("cookie tossing: three junk sid values ahead of the real __Host-sid — still signed in, nothing cleared", async () => {
      const victim = valueOf((await at(PUBLIC, "POST", "/login/victim")).setCookie[0]!);
      const tossed = junk(3)
        .map((value) => `sid=${value}`)
        .join("; ");
      const response = await at(PUBLIC, "GET", "/whoami", `${tossed}; __Host-sid=${victim}`);
      assert.equal(response.body.userId, "victim");
      assert.deepEqual(response.setCookie, [], "nothing cleared");
    });

    it("cookie tossing: the attacker's own valid token in sid, ahead of the victim's __Host-sid, leaves the victim the victim", async () => {
      const victim = valueOf((await at(PUBLIC, "POST", "/login/victim")).setCookie[0]!);
      const attacker = valueOf((await at(PUBLIC, "POST", "/login/mallory")).setCookie[0]!);
      assert.equal((await at(PUBLIC, "GET", "/whoami", `sid=${attacker}; __Host-sid=${victim}`)).body.userId, "victim");
      const alone = await at(PUBLIC, "GET", "/whoami", `sid=${attacker}`);
      assert.equal(alone.body.userId, null, "the unprefixed twin is never read where __Host- is in use");
      assert.deepEqual(alone.setCookie, []);
    });

    it("where the plain name is read (localhost), a cookie is never cleared while candidates were left unchecked", async () => {
      const real = valueOf((await at("localhost", "POST", "/login/lee")).setCookie[0]!);
      const crowded = await at(
        "localhost",
        "GET",
        "/whoami",
        `${junk(3)
          .map((value) => `sid=${value}`)
          .join("; ")}; sid=${real}`,
      );
      assert.equal(crowded.status, 200);
      assert.deepEqual(crowded.setCookie, [], "the real cookie, unchecked, is not cleared");
      assert.equal((await at("localhost", "GET", "/whoami", `sid=${real}`)).body.userId, "lee");
      const checked = await at(
        "localhost",
        "GET",
        "/whoami",
        junk(3)
          .map((value) => `sid=${value}`)
          .join("; "),
      );
      assert.match(checked.setCookie[0] ?? "", /^sid=; .*Max-Age=0/, "every candidate checked and dead: cleared");
    });

    it("a response that sets or clears the session cookie is never storable, even when the app said public", async () => {
      const login = await at(PUBLIC, "POST", "/public/login/cy");
      assert.match(login.setCookie[0]!, /^__Host-sid=/);
      assert.equal(login.cacheControl, "no-store");
      const read = await at(PUBLIC, "GET", "/public/whoami", `__Host-sid=${valueOf(login.setCookie[0]!)}`);
      assert.equal(read.body.userId, "cy");
      assert.equal(read.cacheControl, "public, max-age=600", "a response without a session cookie keeps the app's caching");
      const cleared = await at(PUBLIC, "GET", "/public/whoami", `__Host-sid=${junk(1)[0]}`);
      assert.match(cleared.setCookie[0] ?? "", /^__Host-sid=; /);
      assert.equal(cleared.cacheControl, "no-store");
    });

    it("X-Forwarded-For: the address the trusted proxy appended, never the client-written entries to its left", async () => {
      const context = await new Client().get(`${server.url}/context`, { "x-forwarded-for": "198.51.100.66, 203.0.113.9" });
      assert.equal(context.body.ip, "203.0.113.9");
    });
  });
}
