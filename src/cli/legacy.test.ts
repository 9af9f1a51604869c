// `latchkey legacy count` against real stores holding sessions in the old libraries' layouts.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, it } from "node:test";
import pg from "pg";
import { createClient } from "redis";
import { databaseUrl, requirePostgres } from "../testing/postgres.js";
import { deletePrefix, REDIS_URL, requireRedis, testPrefix } from "../testing/redis-server.js";
import { main } from "./index.js";

async function cli(args: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const status = await main(args, { out: (t) => (out += t), err: (t) => (err += t), env: {} });
  return { status, out, err };
}

const redis = await requireRedis();
const postgres = await requirePostgres();

describe("latchkey legacy count", () => {
  it("counts connect-redis sessions under --prefix", { skip: redis.skip }, async () => {
    const prefix = `${testPrefix()}sess:`;
    const client = await createClient({ url: REDIS_URL }).connect();
    after(async () => {
      client.destroy();
      await deletePrefix(REDIS_URL, prefix);
    });
    const expires = new Date(Date.now() + 3_600_000).toISOString();
    for (const sid of ["a1", "b2", "c3"]) await client.set(`${prefix}${sid}`, JSON.stringify({ cookie: { expires }, passport: { user: sid } }), { EX: 3600 });
    const text = await cli(["legacy", "count", "--store", REDIS_URL, "--prefix", prefix]);
    assert.equal(text.status, 0, text.err);
    assert.match(text.out, /^3 old sessions left \(connect-redis keys /);
    const json = await cli(["legacy", "count", "--store", REDIS_URL, "--prefix", prefix, "--json"]);
    assert.deepEqual(JSON.parse(json.out), { count: 3 });
  });

  it("counts live connect-pg-simple rows of --table", { skip: postgres.skip }, async () => {
    const table = `lk_legacy_${randomBytes(4).toString("hex")}`;
    const pool = new pg.Pool({ connectionString: databaseUrl, max: 1 });
    after(async () => {
      await pool.query(`DROP TABLE IF EXISTS ${table}`);
      await pool.end();
    });
    // connect-pg-simple's own table layout.
    await pool.query(`CREATE TABLE ${table} (sid varchar NOT NULL PRIMARY KEY, sess json NOT NULL, expire timestamp(6) NOT NULL)`);
    await pool.query(
      `INSERT INTO ${table} VALUES ('live1', '{}', now() + interval '1 hour'), ('live2', '{}', now() + interval '1 hour'), ('gone', '{}', now() - interval '1 hour')`,
    );
    const result = await cli(["legacy", "count", "--store", databaseUrl, "--table", table, "--json"]);
    assert.equal(result.status, 0, result.err);
    assert.deepEqual(JSON.parse(result.out), { count: 2 });
  });

  it("says what is wrong with a store it cannot read, exit 2", async () => {
    const sqlite = await cli(["legacy", "count", "--store", "sqlite:./x.db"]);
    assert.equal(sqlite.status, 2);
    assert.match(sqlite.err, /legacy count reads the old library's store: a redis:\/\/ or postgres:\/\/ URL/);
    const extra = await cli(["legacy", "count", "--store", REDIS_URL, "--table", "session"]);
    assert.equal(extra.status, 2);
    assert.match(extra.err, /--table and --schema do not apply to a Redis store/);
    const missing = await cli(["legacy"]);
    assert.equal(missing.status, 2);
    assert.match(missing.err, /"legacy" needs count/);
  });
});
