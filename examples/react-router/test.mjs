// Type-checks and builds this app (`react-router typegen`, `tsc`, `react-router build`),
// starts `react-router-serve` on a free port and drives it over HTTP as a
// browser without JavaScript would: the middleware gives loaders and actions
// the session, and commits before the response leaves.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";

const here = new URL(".", import.meta.url).pathname;
const bin = (path) => join(here, "node_modules", ...path.split("/"));

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
  async json(url) {
    return (await this.request(url)).json();
  }
  async user(url) {
    return /<p id="user">([^<]*)<\/p>/.exec(await (await this.request(url)).text())?.[1];
  }
  /** Posts the home page's form as a browser without JavaScript does (an index route's action is at ?index). */
  async submit(url, fields) {
    return this.request(`${url}/?index`, { method: "POST", body: new URLSearchParams(fields) });
  }
}

async function freePort() {
  const server = createServer().listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function run(args) {
  const result = spawnSync(process.execPath, args, { cwd: here, encoding: "utf8" });
  assert.equal(result.status, 0, `${args.join(" ")} failed:\n${result.stdout}\n${result.stderr}`);
}

describe("React Router 7 example", () => {
  let server;
  let url;
  const dir = mkdtempSync(join(tmpdir(), "latchkey-react-router-"));

  before(async () => {
    run([bin("@react-router/dev/bin.js"), "typegen"]);
    run([bin("typescript/bin/tsc"), "-p", "tsconfig.json"]);
    run([bin("@react-router/dev/bin.js"), "build"]);
    const port = await freePort();
    url = `http://127.0.0.1:${port}`;
    server = spawn(process.execPath, [bin("@react-router/serve/bin.js"), "./build/server/index.js"], {
      cwd: here,
      env: { ...process.env, PORT: String(port), HOST: "127.0.0.1", NODE_ENV: "production", SESSIONS_DB: join(dir, "sessions.db") },
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
      assert.ok(Date.now() < deadline && server.exitCode === null, `react-router-serve did not answer:\n${output}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  });
  after(() => {
    server?.kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it("log in, read, log out, log out everywhere", async () => {
    const phone = new Browser();
    assert.equal(await phone.user(`${url}/`), "Not signed in");
    assert.deepEqual(await phone.json(`${url}/api/me`), { userId: null, visits: 0 });
    assert.equal(phone.cookie, null, "an anonymous read sets no cookie");

    const login = await phone.submit(url, { intent: "login", user: "bea" });
    assert.equal(login.status, 302, "the action redirects");
    assert.ok(phone.cookie, "the cookie rides on the redirect");
    assert.equal(await phone.user(`${url}/`), "Signed in as bea");
    assert.deepEqual(await phone.json(`${url}/api/me`), { userId: "bea", visits: 1 });
    assert.deepEqual(await phone.json(`${url}/api/me`), { userId: "bea", visits: 2 }, "a loader's change was committed");

    await phone.submit(url, { intent: "logout" });
    assert.equal(phone.cookie, null, "logout cleared the cookie");
    assert.equal(await phone.user(`${url}/`), "Not signed in");

    const laptop = new Browser();
    await phone.submit(url, { intent: "login", user: "bea" });
    await laptop.submit(url, { intent: "login", user: "bea" });
    const stale = new Browser(laptop.cookie);
    assert.equal(await stale.user(`${url}/`), "Signed in as bea");
    await phone.submit(url, { intent: "logout-everywhere" });
    assert.equal(await stale.user(`${url}/`), "Not signed in", "the laptop's token is dead");
    assert.equal(await phone.user(`${url}/`), "Not signed in");
  });
});
