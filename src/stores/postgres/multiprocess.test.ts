// The multi-process guarantees with two server processes sharing one PostgreSQL table.
// The table is fresh (created by the servers' first use, concurrently) and dropped at the end.
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import pg from "pg";
import { runMultiProcessSuite } from "../../testing/multiprocess-suite.js";
import { runSessionLimitSuite } from "../../testing/limit-suite.js";
import { databaseUrl, requirePostgres } from "../../testing/postgres.js";

const url = databaseUrl;
const { skip } = await requirePostgres();

if (skip) {
  test("multi-process guarantees on PostgreSQL", { skip }, () => undefined);
} else {
  const table = `latchkey_test_${process.pid}_${randomBytes(3).toString("hex")}_mp`;
  runMultiProcessSuite({
    name: "two processes, one PostgreSQL table",
    storeSpec: () => `postgres:${url}|${table}`,
    cleanup: async () => {
      const client = new pg.Client(url);
      await client.connect();
      try {
        await client.query(`DROP TABLE IF EXISTS ${table}, ${table}_leases`);
      } finally {
        await client.end();
      }
    },
  });
  const limitTable = `${table}_limit`;
  runSessionLimitSuite({
    name: "two processes, one PostgreSQL table, near-cache and strict revocation",
    storeSpec: () => `postgres:${url}|${limitTable}`,
    options: { nearCache: true, revocation: "strict" },
    cleanup: async () => {
      const client = new pg.Client(url);
      await client.connect();
      try {
        await client.query(`DROP TABLE IF EXISTS ${limitTable}, ${limitTable}_leases`);
      } finally {
        await client.end();
      }
    },
  });
}
