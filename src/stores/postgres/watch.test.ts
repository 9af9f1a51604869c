// sessions.watch and hooks.ended with two OS processes on one PostgreSQL table (notices by NOTIFY).
import { randomBytes } from "node:crypto";
import { test } from "node:test";
import pg from "pg";
import { databaseUrl, requirePostgres } from "../../testing/postgres.js";
import { remoteNode } from "../../testing/watch-node.js";
import { runWatchSuite } from "../../testing/watch-suite.js";

const { skip } = await requirePostgres();
if (skip) {
  test("sessions.watch across processes: PostgreSQL", { skip }, () => undefined);
} else {
  const table = `latchkey_test_${process.pid}_${randomBytes(3).toString("hex")}_watch`;
  runWatchSuite({
    name: "two processes, one PostgreSQL table",
    feed: true,
    start: (options) => remoteNode(`postgres:${databaseUrl}|${table}`, options),
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
