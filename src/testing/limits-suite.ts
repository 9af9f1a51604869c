// maxDataBytes with real OS processes sharing one real store: requests that
// overlap across processes can never together grow a session past the limit,
// and the ones refused answer 413, never 500. Every shared store runs it.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Client, startServer, waitFor, type ServerProcess } from "./client.js";
import type { MultiProcessOptions } from "./multiprocess-suite.js";

const LIMIT = 1024;

export function runDataLimitSuite(options: MultiProcessOptions): void {
  describe(`maxDataBytes across processes: ${options.name}`, () => {
    let a: ServerProcess;
    let b: ServerProcess;

    before(async () => {
      const spec = await options.storeSpec();
      const env = { LATCHKEY_STORE: spec, LATCHKEY_FRAMEWORK: options.framework ?? "express", LATCHKEY_OPTIONS: JSON.stringify({ maxDataBytes: LIMIT }) };
      [a, b] = await Promise.all([startServer(env), startServer(env)]);
    });
    after(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      await options.cleanup?.();
    });

    const waiting = async (server: ServerProcess, count: number) =>
      waitFor(async () => (await new Client().get(`${server.url}/waiting`)).body.waiting === count, `${count} slow request(s) on ${server.pid}`);
    const bytesOf = (data: unknown) => Buffer.byteLength(JSON.stringify(data));

    it(`20 overlapping requests over two processes, each adding a 900-byte key under a ${LIMIT}-byte limit: one is stored, 19 answer 413, later small sets work`, async () => {
      const tab = new Client();
      assert.equal((await tab.post(`${a.url}/login/zoe`)).status, 200);
      const value = encodeURIComponent(JSON.stringify("z".repeat(900)));
      // Every request loads the session (small) before any of them commits.
      const requests = Array.from({ length: 20 }, (_, i) => tab.fork().post(`${(i % 2 ? a : b).url}/slow/set/k${i}?value=${value}`));
      await Promise.all([waiting(a, 10), waiting(b, 10)]);
      await Promise.all([new Client().post(`${a.url}/release`), new Client().post(`${b.url}/release`)]);
      const answers = await Promise.all(requests);
      const statuses = answers.map((answer) => answer.status);
      assert.deepEqual(
        statuses.filter((status) => status !== 200 && status !== 413),
        [],
        `every answer is 200 or 413 (got ${statuses.join(" ")})`,
      );
      assert.equal(statuses.filter((status) => status === 200).length, 1, `exactly one 900-byte key fits (got ${statuses.join(" ")})`);
      for (const refused of answers.filter((answer) => answer.status === 413)) assert.match(refused.text, /over its limit of 1024 bytes/);

      for (const server of [a, b]) {
        const data = (await tab.fork().get(`${server.url}/whoami`)).body.data as Record<string, unknown>;
        assert.ok(bytesOf(data) <= LIMIT, `stored ${bytesOf(data)} bytes under a ${LIMIT}-byte limit`);
        assert.equal(Object.keys(data).length, 1);
      }
      // The session is not stuck: small changes still fit, from either process.
      assert.equal((await tab.post(`${a.url}/set/theme?value=%22dark%22`)).status, 200);
      assert.equal((await tab.post(`${b.url}/set/count?value=3`)).status, 200);
      const data = (await tab.fork().get(`${a.url}/whoami`)).body.data as Record<string, unknown>;
      assert.equal(data.theme, "dark");
      assert.equal(data.count, 3);
      assert.ok(bytesOf(data) <= LIMIT);
      assert.equal((await tab.get(`${b.url}/whoami`)).body.userId, "zoe");
    });
  });
}
