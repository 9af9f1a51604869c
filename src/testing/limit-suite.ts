// maxSessionsPerUser across real processes: parallel logins of one user through
// two server processes never leave more than the limit live, and every session
// the limit ended is refused at once by both processes (near-cache included).
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { Client, startServer, type ServerProcess } from "./client.js";

export interface SessionLimitSuiteOptions {
  name: string;
  /** The store spec the server processes open (see stores.ts). */
  storeSpec: () => string | Promise<string>;
  /** More createSessions options for the servers, e.g. { nearCache: true, revocation: "strict" }. */
  options?: Record<string, unknown>;
  cleanup?: () => void | Promise<void>;
}

const LIMIT = 3;

export function runSessionLimitSuite(options: SessionLimitSuiteOptions): void {
  describe(`session limit across processes: ${options.name}`, () => {
    let a: ServerProcess;
    let b: ServerProcess;

    before(async () => {
      const spec = await options.storeSpec();
      const settings = { maxSessionsPerUser: LIMIT, onSessionLimit: "end-oldest", ...options.options };
      const env = { LATCHKEY_STORE: spec, LATCHKEY_OPTIONS: JSON.stringify(settings) };
      [a, b] = await Promise.all([startServer(env), startServer(env)]);
    });
    after(async () => {
      await Promise.all([a?.stop(), b?.stop()]);
      await options.cleanup?.();
    });

    const whoami = async (client: Client, server: ServerProcess) => (await client.fork().get(`${server.url}/whoami`)).body.userId as string | null;

    it(`20 parallel logins of one user over two processes leave at most ${LIMIT} live, and every ended token is refused at once by both`, async () => {
      const user = `limited-${process.pid}`;
      // Three sessions first, read through both processes (so a near-cache holds them).
      const first = Array.from({ length: LIMIT }, () => new Client());
      for (const [i, client] of first.entries()) assert.equal((await client.post(`${(i % 2 ? a : b).url}/login/${user}`)).status, 200);
      for (const client of first) for (const server of [a, b]) assert.equal(await whoami(client, server), user);

      const burst = Array.from({ length: 20 }, () => new Client());
      let maxListed = 0;
      let polling = true;
      const poll = (async () => {
        while (polling) {
          maxListed = Math.max(maxListed, ((await new Client().get(`${a.url}/list/${user}`)).body as unknown[]).length);
        }
      })();
      const logins = await Promise.all(burst.map((client, i) => client.post(`${(i % 2 ? a : b).url}/login/${user}`)));
      polling = false;
      await poll;
      assert.ok(
        logins.every((response) => response.status === 200),
        logins.map((r) => r.status).join(","),
      );

      // Checked at once after the logins resolved, with no waiting: the ended tokens are refused everywhere.
      const everyone = [...first, ...burst];
      const alive: number[] = [];
      for (const [i, client] of everyone.entries()) {
        const [inA, inB] = [await whoami(client, a), await whoami(client, b)];
        assert.equal(inA, inB, `client ${i}: both processes agree`);
        if (inA === user) alive.push(i);
      }
      assert.ok(alive.length <= LIMIT, `${alive.length} sessions still accepted: ${alive.join(",")}`);
      assert.equal(alive.length, LIMIT, "the newest ones stay signed in");
      assert.ok(
        alive.every((i) => i >= LIMIT),
        "the three sessions from before the burst were the least recently used",
      );
      const listed = (await new Client().get(`${b.url}/list/${user}`)).body as Array<{ handle: string }>;
      assert.equal(listed.length, LIMIT);
      assert.ok(maxListed <= LIMIT, `list showed ${maxListed} sessions during the burst`);
    });
  });
}
