// G6 with a real PostgreSQL failure: the store's connections are killed from an
// admin connection (pg_terminate_backend), once in the middle of a write and then
// over and over while requests run. Requests answer 503 or succeed as the right
// user (never signed in as someone else, never another 5xx), the process does not
// crash on the dead idle connections, and it recovers without a restart.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import express from "express";
import pg from "pg";
import { createSessions } from "../../core/index.js";
import { buildApp } from "../../testing/app.js";
import { Client, waitFor } from "../../testing/client.js";
import { databaseUrl, requirePostgres } from "../../testing/postgres.js";
import { postgresStore } from "./index.js";

const url = databaseUrl;
const { skip } = await requirePostgres();

test("PostgreSQL connections killed under the store: 503 or the right answer, and recovery without a restart", { skip }, async () => {
  const suffix = `${process.pid}_${randomBytes(3).toString("hex")}`;
  const table = `latchkey_test_${suffix}_faults`;
  const appName = `latchkey_faults_${suffix}`;
  const storeUrl = new URL(url);
  storeUrl.searchParams.set("application_name", appName);

  const admin = new pg.Client(url);
  admin.on("error", () => undefined);
  await admin.connect();
  const errors: string[] = [];
  const sessions = createSessions({
    store: postgresStore({ connectionString: storeUrl.href, table }),
    sweepInterval: false,
    logger: { warn: () => undefined, error: (message) => errors.push(message) },
  });
  const server = buildApp(express as never, sessions).listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const terminate = async (): Promise<number> =>
    (await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [appName])).rowCount ?? 0;

  try {
    const alice = new Client();
    assert.equal((await alice.post(`${base}/login/alice`)).status, 200);
    assert.equal((await alice.post(`${base}/set/theme?value=%22dark%22`)).status, 200);
    const bob = new Client();
    assert.equal((await bob.post(`${base}/login/bob`)).status, 200);

    // 1. A write blocked on a row lock when its connection is killed: 503, and nothing stored.
    await admin.query("BEGIN");
    await admin.query(`SELECT id FROM ${table} FOR UPDATE`);
    const blocked = alice.fork().post(`${base}/set/theme?value=%22lost%22`);
    await waitFor(
      async () => (await admin.query("SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'", [appName])).rowCount === 1,
      "the store's UPDATE to wait for the row lock",
    );
    assert.ok((await terminate()) >= 1, "the store's connections were found by application_name");
    const write = await blocked;
    await admin.query("ROLLBACK");
    assert.equal(write.status, 503, `a write whose connection died answers 503 (got ${write.status}: ${write.text})`);
    assert.doesNotMatch(write.text, /alice/);
    assert.ok(
      errors.some((line) =>
        /postgres\(127\.0\.0\.1:\d+\/\w+ latchkey_test_\w+_faults\) is unavailable: terminating connection due to administrator command/.test(line),
      ),
      errors.join("\n"),
    );

    // 2. Connections killed every few ms while three users keep making requests.
    const seen = new Map<number, number>();
    let chaos = true;
    const killer = (async () => {
      let kills = 0;
      while (chaos) {
        kills += await terminate();
        await new Promise((resolve) => setTimeout(resolve, 15));
      }
      return kills;
    })();
    const user = async (client: Client, expected: string | null, i: number) => {
      for (let round = 0; chaos; round++) {
        const response = round % 2 ? await client.fork().post(`${base}/set/k${i}?value=${round}`) : await client.fork().get(`${base}/whoami`);
        seen.set(response.status, (seen.get(response.status) ?? 0) + 1);
        assert.ok(response.status === 200 || response.status === 503, `only 200 or 503 (got ${response.status}: ${response.text})`);
        if (response.status === 200) assert.equal(response.body.userId, expected, "never signed in as someone else");
      }
    };
    const users = [user(alice, "alice", 1), user(bob, "bob", 2), user(new Client(), null, 3)];
    await new Promise((resolve) => setTimeout(resolve, 1500));
    chaos = false;
    const [kills] = await Promise.all([killer, ...users]);
    assert.ok(kills >= 1, `connections were killed during the run (${kills}); statuses ${JSON.stringify([...seen])}`);

    // 3. No restart: the next requests are served, and the session is as it was.
    await waitFor(async () => (await alice.fork().get(`${base}/whoami`)).status === 200, "the first request served after the outage");
    for (let i = 0; i < 20; i++) assert.equal((await alice.fork().get(`${base}/whoami`)).status, 200, "recovered for good");
    const back = await alice.get(`${base}/whoami`);
    assert.equal(back.body.userId, "alice", "the session survived the outage");
    assert.equal(back.body.data.theme, "dark", "the write refused with 503 was not stored");
    assert.equal((await alice.post(`${base}/set/theme?value=%22ok%22`)).status, 200);
    assert.equal((await alice.get(`${base}/whoami`)).body.data.theme, "ok");
    assert.equal((await bob.get(`${base}/whoami`)).body.userId, "bob");
  } finally {
    server.close();
    await sessions.close();
    await admin.query("ROLLBACK").catch(() => undefined);
    await admin.query(`DROP TABLE IF EXISTS ${table}, ${table}_leases`);
    await admin.end();
  }
});
