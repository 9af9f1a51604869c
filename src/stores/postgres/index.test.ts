// The PostgreSQL store against a real server: DATABASE_URL, default postgres://postgres@127.0.0.1:5432/test.
// Every table (and schema) this file creates has a unique name and is dropped at the end; nothing else is touched.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, it, test } from "node:test";
import pg from "pg";
import { runSessionsConformance, runStoreConformance, sampleRecord } from "../../conformance/index.js";
import { databaseUrl, requirePostgres } from "../../testing/postgres.js";
import { assertStepWaits, type StepTiming } from "../../testing/step-waits.js";
import { createSchemaSQL, upgradeSchema, postgresStore } from "./index.js";

const url = databaseUrl;
const { skip } = await requirePostgres();

const prefix = `latchkey_test_${process.pid}_${randomBytes(3).toString("hex")}`;
const tables: string[] = [];
const schemas: string[] = [];
const newTable = (): string => {
  const table = `${prefix}_${tables.length}`;
  tables.push(table);
  return table;
};

if (skip) {
  test("postgresStore against PostgreSQL", { skip }, () => undefined);
} else {
  const admin = new pg.Pool({ connectionString: url, max: 2 });
  const cleanup = async (): Promise<void> => {
    // Each store also creates its feed's <table>_leases.
    for (const table of tables.splice(0)) await admin.query(`DROP TABLE IF EXISTS ${table}, ${table}_leases`);
    for (const schema of schemas.splice(0)) await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
  };
  after(async () => {
    await cleanup();
    await admin.end();
  });

  // Half the stores open their own pool from the URL, half share one pool passed in.
  const shared = new pg.Pool({ connectionString: url });
  let n = 0;
  runStoreConformance({
    name: "postgresStore",
    createStore: () => (n++ % 2 ? postgresStore({ pool: shared, table: newTable() }) : postgresStore({ connectionString: url, table: newTable() })),
    cleanup: async () => {
      await shared.end();
      await cleanup();
    },
  });

  runSessionsConformance({ name: "postgresStore", createStore: () => postgresStore({ connectionString: url, table: newTable() }) });

  const exists = async (name: string): Promise<boolean> =>
    (await admin.query<{ found: string | null }>("SELECT to_regclass($1)::text AS found", [name])).rows[0]!.found !== null;

  describe("postgresStore", () => {
    it("validates its options with errors that say what to do", async () => {
      assert.throws(() => postgresStore(undefined as never), /needs \{ pool \} or \{ connectionString \}/);
      assert.throws(() => postgresStore({}), /needs \{ pool \} or \{ connectionString \}, e\.g\./);
      const pool = new pg.Pool({ connectionString: url });
      try {
        assert.throws(() => postgresStore({ pool, connectionString: url }), /not both/);
        assert.throws(() => postgresStore({ pool: new pg.Client(url) as never }), /must be a pg Pool/);
        assert.throws(() => postgresStore({ connectionString: "" }), /non-empty string/);
        assert.throws(() => postgresStore({ pool, table: "bad name; drop table users" }), /lowercase SQL identifier/);
        assert.throws(() => postgresStore({ pool, table: "Sessions" }), /lowercase SQL identifier/);
        assert.throws(() => postgresStore({ pool, table: "x".repeat(49) }), /at most 48/);
        assert.throws(() => postgresStore({ pool, schema: "my-schema" }), /schema "my-schema" must be/);
        assert.throws(() => postgresStore({ pool, createSchema: "no" as never }), /createSchema must be true or false/);
        for (const revokeUserYield of [-1, Number.NaN, 101, "2" as never]) {
          assert.throws(() => postgresStore({ pool, revokeUserYield }), /revokeUserYield must be a number from 0 to 100/);
        }
        assert.throws(() => createSchemaSQL("users; --"), /lowercase SQL identifier/);
        await assert.rejects(upgradeSchema({} as never), /needs \{ pool \} or \{ connectionString \}/);
      } finally {
        await pool.end();
      }
    });

    it("revokeUserYield: before each batch of revokeUser after the first the store waits that many times the previous batch's time; 0 goes straight on", async () => {
      for (const revokeUserYield of [2, 0]) {
        // Each of the user's batch DELETEs answers 25 ms late, so each batch takes at least that long as the store times it.
        const pool = new pg.Pool({ connectionString: url, max: 2 });
        const batches: StepTiming[] = [];
        pool.on("connect", (client) => {
          const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
          (client as { query: unknown }).query = async (...args: unknown[]) => {
            const start = performance.now();
            const result = await query(...args);
            if (typeof args[0] === "string" && args[0].startsWith("WITH batch AS MATERIALIZED")) {
              await new Promise((resolve) => setTimeout(resolve, 25));
              batches.push({ start, end: performance.now() });
            }
            return result;
          };
        });
        const store = postgresStore({ pool, table: newTable(), revokeUserYield });
        try {
          // Two full batches of 200 and one of 1: two waits.
          const records = Array.from({ length: 401 }, () => sampleRecord({ userId: "paced" }));
          for (const record of records) await store.create(record);
          assert.equal((await store.destroyUser("paced")).length, records.length);
          assert.equal(batches.length, 3);
          assertStepWaits(batches, revokeUserYield);
        } finally {
          await store.close();
          await pool.end();
        }
      }
    });

    it("revokeUser of a user whose sessions other requests keep touching ends them all in one transaction, not one per retry", async () => {
      const pool = new pg.Pool({ connectionString: url, max: 4 });
      let transactions = 0;
      pool.on("connect", (client) => {
        const query = client.query.bind(client) as (...args: unknown[]) => Promise<unknown>;
        (client as { query: unknown }).query = (...args: unknown[]) => {
          if (typeof args[0] === "string" && args[0].startsWith("BEGIN")) transactions++;
          return query(...args);
        };
      });
      const store = postgresStore({ pool, table: newTable() });
      let touching = true;
      try {
        const records = Array.from({ length: 2000 }, () => sampleRecord({ userId: "busy" }));
        for (let i = 0; i < records.length; i += 100) await Promise.all(records.slice(i, i + 100).map((record) => store.create(record)));
        // Under REPEATABLE READ each touch that committed before its row was deleted failed the whole revoke (40001), which started again.
        let touches = 0;
        const toucher = (async () => {
          while (touching) {
            const record = records[Math.floor(Math.random() * records.length)]!;
            if (await store.touch(record.id, Date.now(), Date.now() + 3_600_000)) touches++;
            await new Promise((resolve) => setTimeout(resolve, 2));
          }
        })();
        await new Promise((resolve) => setTimeout(resolve, 50));
        transactions = 0;
        const ended = await store.destroyUser("busy");
        touching = false;
        await toucher;
        assert.equal(ended.length, records.length);
        assert.equal(transactions, 1, `revokeUser ran ${transactions} transactions`);
        assert.ok(touches > 0, "the sessions were touched meanwhile");
        assert.deepEqual(await store.listUser("busy"), []);
      } finally {
        touching = false;
        await store.close();
        await pool.end();
      }
    });

    it("is shared across processes and names the server, database and table", async () => {
      const store = postgresStore({ connectionString: "postgres://someone@db.internal:6543/app", table: "sessions", schema: "auth" });
      assert.equal(store.processLocal, false);
      assert.equal(store.name, "postgres(db.internal:6543/app auth.sessions)");
      await store.close();
    });

    it("an unreachable server rejects with a message naming host and port", async () => {
      const store = postgresStore({ connectionString: "postgres://postgres@127.0.0.1:1/test" });
      try {
        await assert.rejects(store.get(sampleRecord().id), /latchkey: cannot reach PostgreSQL at 127\.0\.0\.1:1: .*ECONNREFUSED/);
        await assert.rejects(store.create(sampleRecord()), /cannot reach PostgreSQL at 127\.0\.0\.1:1\b/, "retried, not cached as failed");
      } finally {
        await store.close();
      }
      await assert.rejects(upgradeSchema({ connectionString: "postgres://postgres@127.0.0.1:1/test" }), /cannot reach PostgreSQL at 127\.0\.0\.1:1\b/);
    });

    it("creates the table with its indexes on first use, and the DDL is the one createSchemaSQL returns", async () => {
      const table = newTable();
      const store = postgresStore({ connectionString: url, table });
      try {
        assert.equal(await exists(table), false, "nothing happens before the first use");
        await store.create(sampleRecord({ userId: "ann" }));
        const columns = await admin.query<{ column_name: string; data_type: string }>(
          "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = $1 ORDER BY ordinal_position",
          [table],
        );
        assert.deepEqual(
          columns.rows.map((c) => `${c.column_name} ${c.data_type}`),
          [
            "id text",
            "user_id text",
            "data jsonb",
            "created_at bigint",
            "last_seen_at bigint",
            "expires_at bigint",
            "absolute_expires_at bigint",
            "version integer",
            "device text",
            "meta jsonb",
          ],
        );
        const indexes = await admin.query<{ indexname: string }>("SELECT indexname FROM pg_indexes WHERE tablename = $1 ORDER BY indexname", [table]);
        assert.deepEqual(
          indexes.rows.map((i) => i.indexname),
          [`${table}_expires_at_idx`, `${table}_impersonator_idx`, `${table}_pkey`, `${table}_user_id_idx`],
        );
      } finally {
        await store.close();
      }
      const sql = createSchemaSQL(table);
      assert.match(sql, new RegExp(`CREATE TABLE IF NOT EXISTS "${table}" \\(`));
      assert.doesNotMatch(sql, /CREATE SCHEMA/);
      assert.match(createSchemaSQL("s", "auth"), /CREATE SCHEMA IF NOT EXISTS "auth";\nCREATE TABLE IF NOT EXISTS "auth"\."s" /);
    });

    it("a table from before device recording gets its device column on first use, or a clear error with createSchema: false", async () => {
      const table = newTable();
      await admin.query(`CREATE TABLE ${table} (id text PRIMARY KEY, user_id text, data jsonb NOT NULL, created_at bigint NOT NULL,
        last_seen_at bigint NOT NULL, expires_at bigint NOT NULL, absolute_expires_at bigint NOT NULL, version integer NOT NULL)`);
      const old = sampleRecord({ userId: "olaf" });
      await admin.query(`INSERT INTO ${table} VALUES ($1, $2, $3::jsonb, $4, $5, $6, $7, $8)`, [
        old.id,
        old.userId,
        JSON.stringify(old.data),
        old.createdAt,
        old.lastSeenAt,
        old.expiresAt,
        old.absoluteExpiresAt,
        old.version,
      ]);
      const strict = postgresStore({ connectionString: url, table, createSchema: false });
      try {
        // Reads need the meta column too (per-session lifetimes are enforced on every read).
        await assert.rejects(strict.listUser("olaf"), /predates .*run upgradeSchema\(\)/);
        await assert.rejects(strict.create(sampleRecord({ userId: "olaf" })), /predates .*run upgradeSchema\(\)/);
        await assert.rejects(strict.get(old.id), /predates per-session lifetimes.*no column "meta".*run upgradeSchema\(\)/);
      } finally {
        await strict.close();
      }
      const store = postgresStore({ connectionString: url, table });
      try {
        assert.deepEqual(
          (await store.listUser("olaf")).map((r) => [r.id, r.device]),
          [[old.id, undefined]],
          "existing rows survive the migration",
        );
        const device = { userAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0" };
        const fresh = sampleRecord({ userId: "olaf", device });
        await store.create(fresh);
        assert.deepEqual((await store.listUser("olaf")).find((r) => r.id === fresh.id)?.device, device);
      } finally {
        await store.close();
      }
      await upgradeSchema({ connectionString: url, table }); // idempotent on a migrated table
    });

    it("upgradeSchema() is idempotent and safe to run from many places at once", async () => {
      const table = newTable();
      await upgradeSchema({ connectionString: url, table });
      await upgradeSchema({ connectionString: url, table });
      const pool = new pg.Pool({ connectionString: url, max: 8 });
      try {
        // Concurrent first runs on a fresh table: without the advisory lock, CREATE TABLE IF NOT EXISTS can fail with 23505.
        const fresh = newTable();
        await Promise.all(Array.from({ length: 8 }, () => upgradeSchema({ pool, table: fresh })));
        await Promise.all(
          Array.from({ length: 8 }, () => postgresStore({ pool, table: newTable() })).map(async (store) => {
            await store.get(sampleRecord().id);
            await store.close();
          }),
        );
        assert.equal(pool.ended, false, "upgradeSchema({ pool }) leaves the pool open");
        assert.ok(await exists(fresh));
      } finally {
        await pool.end();
      }
    });

    it("createSchema: false never runs DDL; after upgradeSchema() the store works", async () => {
      const table = newTable();
      const store = postgresStore({ connectionString: url, table, createSchema: false });
      try {
        await assert.rejects(store.get(sampleRecord().id), new RegExp(`table ${table} does not exist.*run upgradeSchema\\(\\)`));
        assert.equal(await exists(table), false, "the store created nothing");
        await upgradeSchema({ connectionString: url, table });
        const record = sampleRecord({ userId: "bea" });
        await store.create(record);
        assert.deepEqual(await store.get(record.id), record);
      } finally {
        await store.close();
      }
    });

    it("a schema option puts the table in that schema", async () => {
      const schema = `${prefix}_schema`;
      schemas.push(schema);
      const store = postgresStore({ connectionString: url, schema, table: "sessions" });
      try {
        const record = sampleRecord({ userId: "cat" });
        await store.create(record);
        assert.ok(await exists(`${schema}.sessions`));
        assert.deepEqual(await store.listUser("cat"), [record]);
      } finally {
        await store.close();
      }
    });

    it("a reserved word works as the table name (identifiers are quoted)", async () => {
      const schema = `${prefix}_reserved`;
      schemas.push(schema);
      const store = postgresStore({ connectionString: url, schema, table: "user" });
      try {
        const record = sampleRecord({ userId: "dee" });
        await store.create(record);
        assert.deepEqual(await store.get(record.id), record);
        assert.equal((await store.destroyUser("dee")).length, 1);
      } finally {
        await store.close();
      }
    });

    it("close() ends a pool it created and never one it was given", async () => {
      const given = new pg.Pool({ connectionString: url });
      try {
        const table = newTable();
        const store = postgresStore({ pool: given, table });
        await store.get(sampleRecord().id);
        assert.equal(given.listenerCount("error"), 1, "the store guards the pool against idle-connection errors");
        await store.close();
        await store.close();
        assert.equal(given.ended, false);
        assert.equal(given.listenerCount("error"), 0);
        assert.equal((await given.query("SELECT 1 AS one")).rows[0].one, 1);
      } finally {
        await given.end();
      }
      const own = postgresStore({ connectionString: url, table: newTable() });
      await own.get(sampleRecord().id);
      await own.close();
      await own.close();
      await assert.rejects(own.get(sampleRecord().id), /after calling end/);
    });

    it("sweep deletes in batches until none are left, and keeps live sessions", async () => {
      const table = newTable();
      const store = postgresStore({ connectionString: url, table });
      try {
        const live = sampleRecord({ userId: "dee" });
        await store.create(live);
        const now = Date.now();
        await admin.query(
          `INSERT INTO ${table} (id, user_id, data, created_at, last_seen_at, expires_at, absolute_expires_at, version)
           SELECT 'expired' || i, NULL, '{}'::jsonb, $1, $1, $1, $1, 1 FROM generate_series(1, 1234) AS i`,
          [now - 1000],
        );
        assert.equal((await store.sweep(now)).length, 1234);
        assert.equal((await store.sweep(now)).length, 0);
        assert.deepEqual(await store.get(live.id), live);
      } finally {
        await store.close();
      }
    });

    it("a \\u0000 in a value, which jsonb cannot hold, is refused as a SessionValueError, not stored mangled", async () => {
      const store = postgresStore({ connectionString: url, table: newTable() });
      try {
        const record = sampleRecord({ data: { note: "a\u0000b" } });
        await assert.rejects(
          store.create(record),
          (error: Error) => error.name === "SessionValueError" && /cannot store the character \\u0000/.test(error.message),
        );
        assert.equal(await store.get(record.id), null);
      } finally {
        await store.close();
      }
    });

    it("concurrent rotations of one session: exactly one wins, the others find it gone", async () => {
      const table = newTable();
      const store = postgresStore({ connectionString: url, table });
      try {
        const record = sampleRecord({ userId: "eve" });
        await store.create(record);
        const now = Date.now();
        const results = await Promise.all(
          Array.from({ length: 6 }, (_, i) =>
            store.rotate(record.id, {
              newId: `${record.id}-${i}`,
              userId: "eve",
              change: { set: { n: i }, unset: [] },
              createdAt: now,
              lastSeenAt: now,
              expiresAt: now + 60_000,
              absoluteExpiresAt: now + 60_000,
            }),
          ),
        );
        assert.equal(results.filter((r) => r.status === "ok").length, 1);
        assert.equal((await store.listUser("eve")).length, 1);
        assert.equal(await store.get(record.id), null);
      } finally {
        await store.close();
      }
    });
  });
}
