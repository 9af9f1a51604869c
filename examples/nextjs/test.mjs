// Builds this app with `next build`, starts `next start` on a free port and
// drives it over HTTP as a browser without JavaScript would: route handlers
// (withSession) and server actions posted by their forms (withCookieSession).
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

const here = new URL(".", import.meta.url).pathname;
const next = join(here, "node_modules", "next", "dist", "bin", "next");
const env = { ...process.env, NEXT_TELEMETRY_DISABLED: "1" };

/** One browser: keeps the session cookie the server sets. */
class Browser {
  cookie = null;
  constructor(cookie = null) {
    this.cookie = cookie;
  }
  async request(url, init = {}) {
    const response = await fetch(url, { redirect: "manual", ...init, headers: { ...(init.headers ?? {}), ...(this.cookie ? { cookie: this.cookie } : {}) } });
    for (const line of response.headers.getSetCookie()) {
      const pair = line.split(";")[0];
      if (!pair.startsWith("sid=")) continue;
      this.cookie = /max-age=0/i.test(line) || pair === "sid=" ? null : pair;
    }
    return response;
  }
  async json(url, init) {
    return (await this.request(url, init)).json();
  }
  /** The page as HTML, and each form's server action id (the hidden $ACTION_ID_ input React renders for forms without JavaScript). */
  async page(url) {
    const html = await (await this.request(url)).text();
    const actions = [...html.matchAll(/name="(\$ACTION_ID_[0-9a-f]+)"/g)].map((match) => match[1]);
    return { html, user: /<p id="user">([^<]*)<\/p>/.exec(html)?.[1], actions };
  }
  /** Posts a form to its server action as a browser without JavaScript does. */
  async submit(url, action, fields = {}) {
    const form = new FormData();
    form.append(action, "");
    for (const [key, value] of Object.entries(fields)) form.append(key, value);
    return this.request(url, { method: "POST", body: form });
  }
}

async function freePort() {
  const server = createServer().listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

describe("Next.js App Router example", () => {
  let server;
  let url;
  const dir = mkdtempSync(join(tmpdir(), "latchkey-nextjs-"));

  before(async () => {
    const build = spawnSync(process.execPath, [next, "build"], { cwd: here, env, encoding: "utf8" });
    assert.equal(build.status, 0, `next build failed:\n${build.stdout}\n${build.stderr}`);
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    server = spawn(process.execPath, [next, "start", "-p", String(port), "-H", "127.0.0.1"], {
      cwd: here,
      env: { ...env, SESSIONS_DB: join(dir, "sessions.db") },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let output = "";
    server.stdout.on("data", (chunk) => (output += chunk));
    server.stderr.on("data", (chunk) => (output += chunk));
    const deadline = Date.now() + 60_000;
    for (;;) {
      try {
        if ((await fetch(`${url}/api/me`)).ok) break;
      } catch {}
      assert.ok(Date.now() < deadline && server.exitCode === null, `next start did not answer:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  });
  after(() => {
    server?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it("route handlers (withSession): log in, read, log out, log out everywhere", async () => {
    const phone = new Browser();
    assert.deepEqual(await phone.json(`${url}/api/me`), { userId: null, visits: 0 });
    assert.equal(phone.cookie, null, "an anonymous read sets no cookie");
    assert.deepEqual(await phone.json(`${url}/api/login?user=alice`, { method: "POST" }), { userId: "alice" });
    assert.ok(phone.cookie);
    assert.deepEqual(await phone.json(`${url}/api/me`), { userId: "alice", visits: 1 });
    assert.deepEqual(await phone.json(`${url}/api/me`), { userId: "alice", visits: 2 });
    assert.deepEqual(await phone.json(`${url}/api/logout`, { method: "POST" }), { userId: null });
    assert.equal(phone.cookie, null, "logout cleared the cookie");

    const laptop = new Browser();
    await phone.json(`${url}/api/login?user=alice`, { method: "POST" });
    await laptop.json(`${url}/api/login?user=alice`, { method: "POST" });
    const stale = new Browser(laptop.cookie);
    assert.deepEqual(await phone.json(`${url}/api/logout-everywhere`, { method: "POST" }), { ended: 2 });
    assert.equal((await stale.json(`${url}/api/me`)).userId, null, "the laptop's token is dead");
    assert.equal((await phone.json(`${url}/api/me`)).userId, null);
  });

  it("server actions (withCookieSession + cookies()): log in, read, log out, log out everywhere", async () => {
    const phone = new Browser();
    const home = await phone.page(`${url}/`);
    assert.equal(home.user, "Not signed in");
    const [login, logout, logoutEverywhere] = home.actions;
    assert.equal(home.actions.length, 3, `three forms with server actions:\n${home.html}`);

    const signedIn = await phone.submit(`${url}/`, login, { user: "bea" });
    assert.equal(signedIn.status, 303, "the action redirects");
    assert.ok(phone.cookie, "the action's cookies().set() reached the browser");
    assert.equal((await phone.page(`${url}/`)).user, "Signed in as bea");
    assert.equal((await phone.json(`${url}/api/me`)).userId, "bea", "route handlers see the same session");

    await phone.submit(`${url}/`, logout);
    assert.equal(phone.cookie, null);
    assert.equal((await phone.page(`${url}/`)).user, "Not signed in");

    const laptop = new Browser();
    await phone.submit(`${url}/`, login, { user: "bea" });
    await laptop.submit(`${url}/`, login, { user: "bea" });
    const stale = new Browser(laptop.cookie);
    await phone.submit(`${url}/`, logoutEverywhere);
    assert.equal((await stale.page(`${url}/`)).user, "Not signed in", "the laptop's token is dead");
    assert.equal((await phone.page(`${url}/`)).user, "Not signed in");
  });
});
