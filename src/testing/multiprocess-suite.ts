// Concurrency guarantees proven with real OS processes sharing one real store.
// Every store runs this suite unchanged (SQLite here; Redis and PostgreSQL too).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Client, startServer, waitFor, type ServerProcess } from "./client.js";

export interface MultiProcessOptions {
  name: string;
  /** The store spec the server processes open (see stores.ts). */
  storeSpec: () => string | Promise<string>;
  cleanup?: () => void | Promise<void>;
  /** The framework the server processes run (see server.ts); default Express. */
  framework?: "express" | "fastify" | "koa" | "node" | "hono" | "web";
}

export function runMultiProcessSuite(options: MultiProcessOptions): void {
  describe(`multi-process guarantees: ${options.name}`, () => {
    let a: ServerProcess;
    let b: ServerProcess;

    before(async () => {
      const spec = await options.storeSpec();
      const env = { LATCHKEY_STORE: spec, LATCHKEY_FRAMEWORK: options.framework ?? "express", LATCHKEY_OPTIONS: JSON.stringify({ bearer: true }) };
      [a, b] = await Promise.all([startServer(env), startServer(env)]);
      assert.notEqual(a.pid, b.pid);
    });
    after(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      await options.cleanup?.();
    });

    const waiting = async (server: ServerProcess, count: number) =>
      waitFor(async () => (await new Client().get(`${server.url}/waiting`)).body.waiting === count, `${count} slow request(s) on ${server.pid}`);

    it("a logout in one process is not undone by another process's slow request (G1)", async () => {
      for (let round = 0; round < 5; round++) {
        const tab1 = new Client();
        assert.equal((await tab1.post(`${a.url}/login/alice`)).status, 200);
        const tab2 = tab1.fork();
        const slow = tab2.post(`${a.url}/slow/set/cart?value=${encodeURIComponent('["late"]')}`);
        await waiting(a, 1);
        const logout = await tab1.post(`${b.url}/logout`);
        assert.equal(logout.status, 200);
        assert.equal(logout.body.userId, null);
        await new Client().post(`${a.url}/release`);
        const late = await slow;
        assert.equal(late.status, 401, "the slow request's write is refused, not stored");
        for (const server of [a, b]) {
          const check = await tab2.fork().get(`${server.url}/whoami`);
          assert.equal(check.body.userId, null, `round ${round}: the session stays dead in process ${server.pid}`);
        }
        assert.equal((await tab1.get(`${b.url}/list/alice`)).body.length, 0);
      }
    });

    it("overlapping writes to different keys from two processes are both kept (G2)", async () => {
      const tab = new Client();
      await tab.post(`${a.url}/login/bob`);
      const first = tab.fork().post(`${a.url}/slow/set/theme?value=%22dark%22`);
      const second = tab.fork().post(`${b.url}/slow/set/cart?value=%5B1%2C2%5D`);
      await Promise.all([waiting(a, 1), waiting(b, 1)]);
      await Promise.all([new Client().post(`${a.url}/release`), new Client().post(`${b.url}/release`)]);
      assert.equal((await first).status, 200);
      assert.equal((await second).status, 200);
      const burst = await Promise.all(Array.from({ length: 20 }, (_, i) => tab.fork().post(`${(i % 2 ? a : b).url}/set/k${i}?value=${i}`)));
      assert.ok(burst.every((r) => r.status === 200));
      const data = (await tab.get(`${b.url}/whoami`)).body.data;
      assert.equal(data.theme, "dark");
      assert.deepEqual(data.cart, [1, 2]);
      for (let i = 0; i < 20; i++) assert.equal(data[`k${i}`], i, `k${i} survived`);
    });

    it("revokeUser in one process: the next request in the other is refused", async () => {
      const devices = [new Client(), new Client(), new Client()];
      for (const [i, device] of devices.entries()) await device.post(`${(i % 2 ? a : b).url}/login/carol`);
      const bystander = new Client();
      await bystander.post(`${a.url}/login/dan`);
      const revoked = await new Client().post(`${a.url}/revoke-user/carol`);
      assert.equal(revoked.body.count, 3);
      for (const device of devices) {
        assert.equal((await device.fork().get(`${b.url}/whoami`)).body.userId, null);
        assert.equal((await device.fork().get(`${a.url}/whoami`)).body.userId, null);
      }
      assert.equal((await bystander.get(`${b.url}/whoami`)).body.userId, "dan");
    });

    it("logoutOthers in one process: the user's other devices are refused in every process, this one stays signed in", async () => {
      const devices = [new Client(), new Client(), new Client()];
      for (const [i, device] of devices.entries()) await device.post(`${(i % 2 ? a : b).url}/login/greta`);
      const bystander = new Client();
      await bystander.post(`${b.url}/login/hugo`);
      const [current, ...others] = devices;
      const ended = await current!.post(`${a.url}/logout-others`);
      assert.equal(ended.status, 200, ended.text);
      assert.equal(ended.body.count, 2);
      for (const device of others) {
        for (const server of [a, b]) assert.equal((await device.fork().get(`${server.url}/whoami`)).body.userId, null);
      }
      for (const server of [a, b]) assert.equal((await current!.fork().get(`${server.url}/whoami`)).body.userId, "greta");
      assert.equal((await bystander.get(`${a.url}/whoami`)).body.userId, "hugo");
      assert.equal(((await new Client().get(`${b.url}/list/greta`)).body as unknown[]).length, 1);
    });

    it("login rotates the token: the old one is dead in every process, the data is kept", async () => {
      const tab = new Client();
      await tab.post(`${a.url}/set/cart?value=%5B%22x%22%5D`);
      const anonymousCookie = tab.cookie;
      assert.ok(anonymousCookie);
      const login = await tab.post(`${b.url}/login/erin`);
      assert.equal(login.body.userId, "erin");
      assert.deepEqual(login.body.data.cart, ["x"]);
      assert.notEqual(tab.cookie, anonymousCookie);
      for (const server of [a, b]) {
        const stale = await new Client(anonymousCookie).get(`${server.url}/whoami`);
        assert.equal(stale.body.userId, null);
        assert.deepEqual(stale.body.data, {});
        assert.equal((await tab.fork().get(`${server.url}/whoami`)).body.userId, "erin");
      }
    });

    it("a bearer token issued by one process works in the other and dies everywhere after a logout", async () => {
      const api = new Client();
      const login = await api.post(`${a.url}/login-bearer/ines`);
      assert.equal(login.status, 200, login.text);
      assert.deepEqual(api.lastSetCookie, []);
      const auth = { authorization: `Bearer ${login.body.token as string}` };
      assert.equal((await api.get(`${b.url}/whoami`, auth)).body.userId, "ines");
      assert.equal((await api.post(`${b.url}/set/cart?value=%5B7%5D`, auth)).status, 200);
      assert.deepEqual((await api.get(`${a.url}/whoami`, auth)).body.data.cart, [7]);
      assert.equal((await api.post(`${a.url}/logout`, auth)).status, 200);
      for (const server of [a, b]) assert.equal((await api.get(`${server.url}/whoami`, auth)).body.userId, null, `dead in process ${server === a ? "A" : "B"}`);
      const again = await api.post(`${b.url}/login-bearer/ines`);
      const revoked = { authorization: `Bearer ${again.body.token as string}` };
      assert.equal((await new Client().post(`${a.url}/revoke-user/ines`)).body.count, 1);
      assert.equal((await api.get(`${b.url}/whoami`, revoked)).body.userId, null, "revokeUser ends bearer sessions too");
    });

    it("list shows handles (never tokens) and revoke(handle) ends that session everywhere", async () => {
      const phone = new Client();
      const laptop = new Client();
      await phone.post(`${a.url}/login/fay`);
      const laptopLogin = await laptop.post(`${b.url}/login/fay`);
      const listed = (await new Client().get(`${a.url}/list/fay`)).body as Array<{ handle: string }>;
      assert.equal(listed.length, 2);
      const token = laptop.cookie!.split("=")[1]!;
      for (const entry of listed) assert.ok(!JSON.stringify(entry).includes(token.slice(0, 20)), "no token in listings");
      assert.equal((await new Client().post(`${b.url}/revoke/${encodeURIComponent(laptopLogin.body.handle)}`)).body.revoked, true);
      assert.equal((await laptop.fork().get(`${a.url}/whoami`)).body.userId, null);
      assert.equal((await phone.get(`${b.url}/whoami`)).body.userId, "fay");
    });
  });
}
