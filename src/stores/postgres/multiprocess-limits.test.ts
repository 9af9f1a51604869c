import { randomBytes } from "node:crypto";
import { test } from "node:test";
import pg from "pg";
import { runDataLimitSuite } from "../../testing/limits-suite.js";
import { databaseUrl, requirePostgres } from "../../testing/postgres.js";

const { skip } = await requirePostgres();
if (skip) {
  test("maxDataBytes across processes: one PostgreSQL table", { skip }, () => undefined);
} else {
  const table = `latchkey_test_${process.pid}_${randomBytes(3).toString("hex")}_limits`;
  runDataLimitSuite({
    name: "two node:http processes, one PostgreSQL table",
    framework: "node",
    storeSpec: () => `postgres:${databaseUrl}|${table}`,
    cleanup: async () => {
      const client = new pg.Client(databaseUrl);
      await client.connect();
      try {
        await client.query(`DROP TABLE IF EXISTS ${table}, ${table}_leases`);
      } finally {
        await client.end();
      }
    },
  });
}
