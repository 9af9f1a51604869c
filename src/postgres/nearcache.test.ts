// Near-cache guarantees with real server processes sharing one PostgreSQL
// table, and the fault of the feed's listener connections being terminated
// (pg_terminate_backend) under load. Fresh tables, dropped at the end.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, it, test } from "node:test";
import pg from "pg";
import { lateAcceptances, probe, revokeAll, runNearCacheSuite, signIn, startFleet, stats, waitServing } from "../testing/nearcache-suite.js";
import { databaseUrl, requirePostgres } from "../testing/postgres.js";
import type { ServerProcess } from "../testing/client.js";
import { broadcastChannel } from "./feed.js";

const { skip } = await requirePostgres();
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

if (skip) {
  test("near-cache across processes: PostgreSQL", { skip }, () => undefined);
} else {
  const tables: string[] = [];
  const freshTable = () => {
    const table = `latchkey_test_${process.pid}_${randomBytes(3).toString("hex")}_nc`;
    tables.push(table);
    return table;
  };
  const dropTables = async () => {
    const client = new pg.Client(databaseUrl);
    await client.connect();
    try {
      for (const table of tables) await client.query(`DROP TABLE IF EXISTS ${table}, ${table}_leases`);
    } finally {
      await client.end();
    }
  };
  const suiteTable = freshTable();
  runNearCacheSuite({ name: "three processes, one PostgreSQL table", storeSpec: () => `postgres:${databaseUrl}|${suiteTable}` });

  describe("near-cache faults on PostgreSQL", () => {
    const fleet: ServerProcess[] = [];
    after(async () => {
      await Promise.all(fleet.map((server) => server.stop()));
      await dropTables();
    });

    it("feed listeners terminated (pg_terminate_backend) under load: caches flush, bypass, listen again; revocations meanwhile hold everywhere", async () => {
      const table = freshTable();
      const apps = await startFleet(3, `postgres:${databaseUrl}|${table}`, { nearCache: { lease: 1000 }, revocation: "strict" });
      fleet.push(...apps);
      const users = Array.from({ length: 12 }, (_, i) => `pg-killed-${i}`);
      const clients = await signIn(apps, users);
      const admin = new pg.Client(databaseUrl);
      await admin.connect();
      try {
        const run = probe(apps, clients);
        await sleep(200);
        const hitsBefore = (await Promise.all(apps.map(stats))).reduce((n, s) => n + s.hits, 0);
        const { rowCount } = await admin.query(
          "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'latchkey-feed' AND query LIKE $1",
          [`%${broadcastChannel(`"${table}"`)}%`],
        );
        assert.equal(rowCount, apps.length, "one listener per process");
        const resolvedAt = await revokeAll(apps, new Map([...clients].slice(0, 6)), 0);
        await Promise.all(apps.map((app) => waitServing(app)));
        for (const [user, at] of await revokeAll(apps, new Map([...clients].slice(6)))) resolvedAt.set(user, at);
        await sleep(200);
        const probes = await run.stop();
        assert.deepEqual(lateAcceptances(probes, resolvedAt), [], "no acceptance after a revocation resolved");
        const after = await Promise.all(apps.map(stats));
        for (const s of after) assert.ok(s.flushes.feedLost >= 1, `each process flushed when its listener died: ${JSON.stringify(s.flushes)}`);
        assert.ok(after.reduce((n, s) => n + s.hits, 0) > hitsBefore, "the caches serve again after listening again");
      } finally {
        await admin.end();
      }
    });
  });
}
