// connect-pg-simple as the old store, for an app whose role may not create
// tables: the claims table made beforehand with the README's SQL is used as is.
import assert from "node:assert/strict";
import { after, before, it } from "node:test";
import pg from "pg";
import { createSessions } from "../core/index.js";
import { memoryStore } from "../stores/memory/index.js";
import { databaseUrl, requirePostgres } from "../testing/postgres.js";
import { countLegacySessions, expressSessionMigration } from "./index.js";
import { sign } from "./signature.js";

const postgres = await requirePostgres();
const role = `latchkey_nocreate_${process.pid}`;
const schema = `latchkey_migrate_${process.pid}`;
let admin: pg.Pool;

before(async () => {
  if (postgres.skip) return;
  admin = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  await admin.query(`CREATE ROLE ${role} LOGIN`);
  await admin.query(`CREATE SCHEMA ${schema}`);
  await admin.query(`GRANT USAGE ON SCHEMA ${schema} TO ${role}`);
  // connect-pg-simple's table.sql, then the README's claims table.
  await admin.query(`SET search_path TO ${schema}`);
  await admin.query(`CREATE TABLE session (sid varchar NOT NULL COLLATE "default", sess json NOT NULL, expire timestamp(6) NOT NULL, PRIMARY KEY (sid))`);
  await admin.query(`CREATE TABLE session_latchkey_claims (
    claim text PRIMARY KEY, state text NOT NULL, owner text, session_id text,
    sealed text, sealed_until timestamptz, until timestamptz NOT NULL)`);
  await admin.query(`CREATE INDEX session_latchkey_claims_until ON session_latchkey_claims (until)`);
  await admin.query(`CREATE INDEX session_latchkey_claims_sealed_until ON session_latchkey_claims (sealed_until) WHERE sealed IS NOT NULL`);
  await admin.query(`GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA ${schema} TO ${role}`);
  await admin.query(
    `INSERT INTO session VALUES ('old-session-id', '{"cookie":{"expires":null},"passport":{"user":42},"cart":["x"]}', now() + interval '1 day')`,
  );
});

after(async () => {
  if (postgres.skip) return;
  await admin.query(`DROP SCHEMA ${schema} CASCADE`);
  await admin.query(`DROP ROLE ${role}`);
  await admin.end();
});

it("a role without CREATE migrates through a claims table made beforehand", { skip: postgres.skip }, async () => {
  const url = new URL(databaseUrl);
  url.username = role;
  const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
  const migration = expressSessionMigration({ secret: "old secret", source: { pool, table: "session", schema } });
  const sessions = createSessions({ store: memoryStore(), sweepInterval: false, migrateFrom: migration });
  try {
    assert.equal(await countLegacySessions(migration), 1);
    const cookieHeader = `theme=dark; connect.sid=${encodeURIComponent(`s:${sign("old-session-id", "old secret")}`)}`;
    const session = await sessions.load(undefined, { cookieHeader, userAgent: undefined, ip: () => undefined });
    assert.equal(session.userId, "42", "Passport's numeric id becomes a string");
    assert.deepEqual(session.toJSON(), { cart: ["x"] });
    assert.equal(session.cookieInstruction().action, "set");
    assert.match(session.extraSetCookies(true)[0]!, /^connect\.sid=; Path=\/; .*Max-Age=0; HttpOnly; Secure$/);
    assert.equal(await countLegacySessions(migration), 0);
    assert.equal(await sessions.revokeUser("42"), 1, "a log out everywhere marks the user in the claims table made beforehand");
  } finally {
    await sessions.close();
    await pool.end();
  }
});
