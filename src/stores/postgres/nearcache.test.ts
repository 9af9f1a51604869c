// Near-cache guarantees with real server processes sharing one PostgreSQL
// table, and the fault of the feed's listener connections being terminated
// (pg_terminate_backend) under load. Fresh tables, dropped at the end.
import { randomBytes } from "node:crypto";
import { after, describe, it, test } from "node:test";
import pg from "pg";
import { cutFeedsUnderLoad, runNearCacheSuite, startFleet } from "../../testing/nearcache-suite.js";
import { databaseUrl, requirePostgres } from "../../testing/postgres.js";
import type { ServerProcess } from "../../testing/client.js";
import { broadcastChannel } from "./feed.js";

const { skip } = await requirePostgres();

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
      const admin = new pg.Client(databaseUrl);
      await admin.connect();
      try {
        await cutFeedsUnderLoad(apps, "pg-killed", async () => {
          const { rowCount } = await admin.query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'latchkey-feed' AND query LIKE $1",
            [`%${broadcastChannel(`"${table}"`)}%`],
          );
          return rowCount ?? 0;
        });
      } finally {
        await admin.end();
      }
    });
  });
}
