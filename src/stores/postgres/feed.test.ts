// The PostgreSQL feed against the feed contract and a real server: DATABASE_URL,
// default postgres://postgres@127.0.0.1:5432/test. Every table this file creates
// (sessions and <table>_leases) has a unique name and is dropped at the end, and
// the connections it kills are only its own listeners (found by their channels:
// other test files run their own "latchkey-feed" listeners on the same server).
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, it, test } from "node:test";
import pg from "pg";
import { runFeedConformance, sampleRecord } from "../../conformance/index.js";
import { createSessions, type SessionsOptions } from "../../core/index.js";
import type { FeedListener, StoreFeed } from "../../store/index.js";
import { waitFor } from "../../testing/client.js";
import { databaseUrl, requirePostgres } from "../../testing/postgres.js";
import { createSchemaSQL, postgresStore } from "./index.js";

const url = databaseUrl;
const { skip } = await requirePostgres();

const prefix = `latchkey_test_${process.pid}_${randomBytes(3).toString("hex")}_feed`;
const tables: string[] = [];
/** The broadcast channels of every store this file opened: their listeners are the only ones it may kill. */
const channels: string[] = [];
const newTable = (): string => {
  const table = `${prefix}_${tables.length}`;
  tables.push(table);
  return table;
};
const store = (options: { table?: string; pool?: pg.Pool; connectionString?: string; createSchema?: boolean } = {}) => {
  const created = postgresStore({
    table: options.table ?? newTable(),
    ...(options.pool ? { pool: options.pool } : { connectionString: options.connectionString ?? url }),
    createSchema: options.createSchema,
  });
  channels.push(created.feed.channel);
  return created;
};

/** Collects what one listener receives. */
class Recorder implements FeedListener {
  readonly messages: string[] = [];
  readonly errors: Error[] = [];
  ups = 0;
  message(payload: string): void {
    this.messages.push(payload);
  }
  up(): void {
    this.ups++;
  }
  down(error: Error): void {
    this.errors.push(error);
  }
}

const HOUR = 3_600_000;
const rotateInput = (userId: string | null, newId: string, notice?: string) => {
  const now = Date.now();
  return { newId, userId, change: { set: { r: 1 }, unset: [] }, createdAt: now, lastSeenAt: now, expiresAt: now + HOUR, absoluteExpiresAt: now + HOUR, notice };
};

/** Publishes `marker` and waits for it: notices arrive in commit order, so whatever was published before has arrived too. */
async function drain(feed: StoreFeed, recorder: Recorder, inbox: string, marker: string): Promise<void> {
  await feed.send(inbox, marker);
  await waitFor(async () => recorder.messages.includes(marker), `the marker ${marker}`);
}

if (skip) {
  test("PostgreSQL feed", { skip }, () => undefined);
} else {
  const admin = new pg.Pool({ connectionString: url, max: 3 });
  admin.on("error", () => undefined);
  const listenerBackends = (channel: string) =>
    admin.query<{ pid: number; application_name: string }>(
      "SELECT pid, application_name FROM pg_stat_activity WHERE application_name = 'latchkey-feed' AND query LIKE $1",
      [`%${channel}%`],
    );
  after(async () => {
    for (const table of tables.splice(0)) await admin.query(`DROP TABLE IF EXISTS ${table}, ${table}_leases`);
    await admin.end();
  });

  // Half the stores open their own pool from the URL, half share one pool passed in.
  const shared = new pg.Pool({ connectionString: url });
  let n = 0;
  runFeedConformance({
    name: "postgresStore",
    createStore: () => (n++ % 2 ? store({ pool: shared }) : store()),
    killListeners: async () => {
      const patterns = channels.map((channel) => `%${channel}%`);
      const { rowCount } = await admin.query(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'latchkey-feed' AND query LIKE ANY($1)",
        [patterns],
      );
      assert.ok((rowCount ?? 0) >= 1, "found this file's listener backends");
    },
    cleanup: () => shared.end(),
  });

  describe("postgresStore feed", () => {
    it("writes without a notice run the old statements and publish nothing; a failed write publishes nothing either", async () => {
      const s = store();
      const recorder = new Recorder();
      const inbox = randomBytes(12).toString("base64url");
      const subscription = s.feed.listen(inbox, recorder);
      try {
        await waitFor(async () => recorder.ups === 1, "the listener to be subscribed");
        const record = sampleRecord({ userId: "quinn" });
        await s.create(record);
        const now = Date.now();
        assert.deepEqual(await s.patch(record.id, { change: { set: { a: 1 }, unset: [] }, lastSeenAt: now, expiresAt: now + HOUR }), {
          status: "ok",
          version: 2,
        });
        assert.deepEqual(await s.patch(record.id, { change: { set: { a: 2 }, unset: [] }, lastSeenAt: now, expiresAt: now + HOUR, expectVersion: 1 }), {
          status: "conflict",
          version: 2,
        });
        assert.equal((await s.patch("missing", { change: { set: {}, unset: [] }, lastSeenAt: now, expiresAt: now + HOUR })).status, "gone");
        assert.equal((await s.rotate("missing", rotateInput("quinn", "new-missing"))).status, "gone");
        const rotated = await s.rotate(record.id, rotateInput("quinn", `${record.id}-2`));
        assert.equal(rotated.status, "ok");
        assert.equal(rotated.status === "ok" && rotated.record.version, 3);
        assert.equal(await s.destroy("missing"), null);
        const other = sampleRecord({ userId: "quinn" });
        await s.create(other);
        // The new id exists: the statement fails, so its notice must not go out.
        await assert.rejects(s.rotate(other.id, rotateInput("quinn", `${record.id}-2`, "rolled back")), { name: "SessionExistsError" });
        assert.ok(await s.get(other.id), "the failed rotation changed nothing");
        assert.equal((await s.destroy(other.id))?.id, other.id);
        assert.equal((await s.destroyUser("quinn")).length, 1);
        assert.equal((await s.destroyUser("quinn")).length, 0);
        await drain(s.feed, recorder, inbox, "marker");
        assert.deepEqual(recorder.messages, ["marker"]);
      } finally {
        await subscription.close();
        await s.close();
      }
    });

    it("createSchemaSQL() includes the leases table, which upgradeSchema() and the first use create", async () => {
      assert.match(
        createSchemaSQL("s", "auth"),
        /\nCREATE TABLE IF NOT EXISTS "auth"\."s_leases" \(\n {2}inbox text PRIMARY KEY,\n {2}expires_at bigint NOT NULL\n\);\n$/,
      );
      assert.match(createSchemaSQL("s"), /\nCREATE TABLE IF NOT EXISTS "s_leases" \(/);
      // A feed used before any session query still finds its tables.
      const table = newTable();
      const s = store({ table });
      try {
        await s.feed.renewLease("first", 60_000);
        assert.deepEqual(
          (await s.feed.liveLeases()).map((lease) => lease.inbox),
          ["first"],
        );
        const found = await admin.query<{ sessions: string | null; leases: string | null }>(
          "SELECT to_regclass($1)::text AS sessions, to_regclass($2)::text AS leases",
          [table, `${table}_leases`],
        );
        assert.deepEqual(found.rows[0], { sessions: table, leases: `${table}_leases` });
      } finally {
        await s.close();
      }
    });

    it("a sessions table migrated before the feed existed gets its leases table on first use", async () => {
      const table = newTable();
      await admin.query(createSchemaSQL(table).replace(/CREATE TABLE IF NOT EXISTS "\w+_leases"[^;]*;\n/, ""));
      assert.equal((await admin.query("SELECT to_regclass($1) AS found", [`${table}_leases`])).rows[0].found, null);
      const s = store({ table });
      try {
        await s.get(sampleRecord().id);
        await s.feed.renewLease("upgraded", 60_000);
        assert.ok((await s.feed.liveLeases()).some((lease) => lease.inbox === "upgraded"));
      } finally {
        await s.close();
      }
    });

    it("upgrading, as a role that cannot CREATE, on a table an older latchkey migrated (no leases table): sessions keep working; a near-cache says what to run", async () => {
      const tag = randomBytes(3).toString("hex");
      const role = `latchkey_test_role_${tag}`;
      const schema = `latchkey_test_schema_${tag}`;
      const errors: string[] = [];
      const quiet = { warn: (m: string) => errors.push(m), error: (m: string) => errors.push(m) };
      await admin.query(`CREATE ROLE ${role} LOGIN`);
      try {
        await admin.query(`CREATE SCHEMA ${schema}`);
        await admin.query(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`);
        await admin.query(createSchemaSQL("sessions", schema).replace(/CREATE TABLE IF NOT EXISTS "\w+"\."sessions_leases"[^;]*;\n/, ""));
        await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ${schema}.sessions TO ${role}`);
        const roleUrl = url.replace(/\/\/[^@/]*@/, `//${role}@`);
        const plain = createSessions({ store: postgresStore({ connectionString: roleUrl, schema, table: "sessions" }), sweepInterval: false, logger: quiet });
        try {
          const session = await plain.load(undefined);
          await session.login("upgraded");
          session.set("theme", "dark");
          assert.equal(await session.commit(), "saved", "without a near-cache nothing needs the leases table");
        } finally {
          await plain.close();
        }
        const cached = createSessions({
          store: postgresStore({ connectionString: roleUrl, schema, table: "sessions" }),
          nearCache: true,
          sweepInterval: false,
          logger: quiet,
        });
        try {
          await waitFor(
            async () => errors.some((m) => m.includes(`need the table ${schema}.sessions_leases`) && m.includes("run upgradeSchema()")),
            "the log line",
          );
          assert.equal(cached.stats().serving, false);
          const session = await cached.load(undefined);
          await session.login("still-works");
          assert.equal((await cached.load((session.cookieInstruction() as { token: string }).token)).userId, "still-works", "reads go to the store");
        } finally {
          await cached.close();
        }
      } finally {
        await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
        await admin.query(`DROP OWNED BY ${role}`).catch(() => undefined);
        await admin.query(`DROP ROLE IF EXISTS ${role}`);
      }
    });

    it("every process publishes writes that end a token; data changes only with nearCache, strict revocation or notifyWrites: true (a NOTIFYing commit takes a database-wide lock)", async () => {
      const table = newTable();
      const listener = new Recorder();
      const probe = store({ table });
      const subscription = probe.feed.listen("probe", listener);
      try {
        await waitFor(async () => listener.ups === 1, "the listener");
        /** Signs in, changes a key, logs out; resolves to how many notices arrived. */
        const notices = async (name: string, options: Partial<SessionsOptions>, storeOptions: { notifyWrites?: boolean } = {}) => {
          const sessions = createSessions({ store: postgresStore({ connectionString: url, table, ...storeOptions }), sweepInterval: false, ...options });
          const before = listener.messages.length;
          try {
            const session = await sessions.load(undefined);
            await session.login("notifier");
            session.set("theme", "dark");
            assert.equal(await session.commit(), "saved");
            await session.logout();
          } finally {
            await sessions.close();
          }
          await drain(probe.feed, listener, "probe", `after ${name}`);
          return listener.messages.length - before - 1;
        };
        assert.equal(await notices("a plain process", {}), 1, "the logout, not the change");
        assert.equal(await notices("notifyWrites", {}, { notifyWrites: true }), 2);
        assert.equal(await notices("nearCache", { nearCache: true }), 2);
        assert.equal(await notices("strict", { revocation: "strict" }), 2);
      } finally {
        await subscription.close();
        await probe.close();
      }
    });

    it("a process without a near-cache that logs a user out everywhere reaches the near-caches of the others", async () => {
      const table = newTable();
      const cached = createSessions({ store: postgresStore({ connectionString: url, table }), nearCache: true, sweepInterval: false });
      const admin = createSessions({ store: postgresStore({ connectionString: url, table }), sweepInterval: false });
      try {
        await waitFor(async () => cached.stats().serving, "the near-cache");
        const session = await admin.load(undefined);
        await session.login("victim");
        const token = (session.cookieInstruction() as { token: string }).token;
        await waitFor(async () => {
          const hits = cached.stats().hits;
          await cached.load(token);
          return cached.stats().hits > hits;
        }, "a cache hit");
        assert.equal(await admin.revokeUser("victim"), 1);
        await waitFor(async () => (await cached.load(token)).userId === null, "the cached process to refuse the token", 1000);
      } finally {
        await cached.close();
        await admin.close();
      }
    });

    it("createSchema: false and no leases table: the error names that table and what to run", async () => {
      const table = newTable();
      const s = store({ table, createSchema: false });
      try {
        await assert.rejects(s.feed.renewLease("x", 1000), new RegExp(`table ${table}_leases does not exist .*run upgradeSchema\\(\\)`));
      } finally {
        await s.close();
      }
    });

    it("channels: lk_ + 12 hex per table; inboxes keep their case and '-'; a bad inbox is refused with a clear error", async () => {
      const s = store();
      assert.match(s.feed.channel, /^lk_[0-9a-f]{12}$/);
      assert.notEqual(store().feed.channel, s.feed.channel, "another table, another channel");
      const upper = new Recorder();
      const lower = new Recorder();
      const one = s.feed.listen("Ab-C_d", upper);
      const two = s.feed.listen("ab-c_d", lower);
      try {
        await waitFor(async () => upper.ups === 1 && lower.ups === 1, "both listeners");
        const backends = await listenerBackends(`${s.feed.channel}_Ab-C_d`);
        assert.equal(backends.rowCount, 1, "the listener is named latchkey-feed and LISTENs on the exact inbox channel");
        await drain(s.feed, upper, "Ab-C_d", "to upper");
        await drain(s.feed, lower, "ab-c_d", "to lower");
        assert.deepEqual([upper.messages, lower.messages], [["to upper"], ["to lower"]]);
      } finally {
        await one.close();
        await two.close();
      }
      await assert.rejects(s.feed.send("bad inbox", "x"), /inbox must be 1 to 47 base64url characters/);
      await assert.rejects(s.feed.send("x".repeat(48), "x"), /inbox must be 1 to 47 base64url characters/);
      assert.throws(() => s.feed.listen('a"b', new Recorder()), /inbox must be 1 to 47 base64url characters/);
      await s.close();
    });

    it("the listener is named latchkey-feed even when the connection string names the app", async () => {
      const named = new URL(url);
      named.searchParams.set("application_name", "my_app");
      const s = store({ connectionString: named.href });
      const recorder = new Recorder();
      const subscription = s.feed.listen("named", recorder);
      try {
        await waitFor(async () => recorder.ups === 1, "the listener");
        assert.equal((await listenerBackends(`${s.feed.channel}_named`)).rowCount, 1);
      } finally {
        await subscription.close();
        await s.close();
      }
    });

    it("destroyUser retried after a serialization failure publishes its notice once", async () => {
      const table = newTable();
      const s = store({ table });
      const recorder = new Recorder();
      const subscription = s.feed.listen("retry", recorder);
      const blocker = await admin.connect();
      try {
        await waitFor(async () => recorder.ups === 1, "the listener");
        await s.create(sampleRecord({ userId: "rita" }));
        await blocker.query("BEGIN");
        await blocker.query(`UPDATE ${table} SET version = version + 1 WHERE user_id = 'rita'`);
        const destroyed = s.destroyUser("rita", { notice: "revoke rita" });
        await waitFor(
          async () =>
            (await admin.query("SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE $1", [`%DELETE FROM "${table}"%`])).rowCount === 1,
          "destroyUser to wait for the row lock",
        );
        // Its REPEATABLE READ snapshot predates this commit: the first attempt fails with 40001 and rolls back.
        await blocker.query("COMMIT");
        assert.equal((await destroyed).length, 1, "the retry deleted the session");
        await drain(s.feed, recorder, "retry", "marker");
        assert.deepEqual(recorder.messages, ["revoke rita", "marker"]);
      } finally {
        await blocker.query("ROLLBACK").catch(() => undefined);
        blocker.release();
        await subscription.close();
        await s.close();
      }
    });

    it("an unreachable server: feed calls reject naming host and port, the listener reports down, close() returns", async () => {
      const s = store({ connectionString: "postgres://postgres@127.0.0.1:1/test" });
      const recorder = new Recorder();
      const subscription = s.feed.listen("nowhere", recorder);
      try {
        await assert.rejects(s.feed.send("nowhere", "x"), /latchkey: cannot reach PostgreSQL at 127\.0\.0\.1:1\b/);
        await assert.rejects(s.feed.liveLeases(), /cannot reach PostgreSQL at 127\.0\.0\.1:1\b/);
        await waitFor(async () => recorder.errors.length === 1, "down");
        assert.match(recorder.errors[0]!.message, /cannot reach PostgreSQL at 127\.0\.0\.1:1\b/);
        assert.equal(recorder.ups, 0);
      } finally {
        await subscription.close();
        await s.close();
      }
    });

    it("store.close() also closes a subscription left open, so nothing holds the process", async () => {
      const s = store();
      const recorder = new Recorder();
      s.feed.listen("forgotten", recorder);
      await waitFor(async () => recorder.ups === 1, "the listener");
      assert.equal((await listenerBackends(`${s.feed.channel}_forgotten`)).rowCount, 1);
      await s.close();
      await waitFor(async () => (await listenerBackends(`${s.feed.channel}_forgotten`)).rowCount === 0, "the listener connection to end");
      assert.equal(recorder.errors.length, 0, "a closed subscription reports no loss");
    });
  });
}
