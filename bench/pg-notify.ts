// npm run bench:pg-notify — what NOTIFY costs PostgreSQL session writes: 16
// concurrent writers patch 64 sessions through one postgresStore, with and
// without a notice on each write, in alternating rounds. This is why, on
// PostgreSQL, only processes with nearCache or strict revocation (or
// notifyWrites: true) publish notices.
import { randomBytes } from "node:crypto";
import { parseArgs } from "node:util";
import pg from "pg";
import { sampleRecord } from "../src/conformance/index.js";
import { postgresStore } from "../src/stores/postgres/index.js";

const { values } = parseArgs({
  options: { rounds: { type: "string", default: "3" }, writers: { type: "string", default: "16" }, patches: { type: "string", default: "300" } },
});
const rounds = Number(values.rounds);
const writers = Number(values.writers);
const patches = Number(values.patches);
const databaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const table = `lk_bench_notify_${randomBytes(3).toString("hex")}`;
const store = postgresStore({ connectionString: databaseUrl, table });
const records = Array.from({ length: 64 }, () => sampleRecord());

async function run(notify: boolean): Promise<number> {
  const started = performance.now();
  await Promise.all(
    Array.from({ length: writers }, async (_, writer) => {
      for (let i = 0; i < patches; i++) {
        const record = records[(writer * 4 + i) % records.length]!;
        const notice = notify ? JSON.stringify({ v: 1, p: "bench", s: writer * patches + i, t: Date.now(), i: [record.id] }) : undefined;
        await store.patch(record.id, { change: { set: { k: i }, unset: [] }, lastSeenAt: Date.now(), expiresAt: Date.now() + 3_600_000, notice });
      }
    }),
  );
  return (writers * patches) / ((performance.now() - started) / 1000);
}

try {
  for (const record of records) await store.create(record);
  const without: number[] = [];
  const withNotice: number[] = [];
  for (let round = 0; round < rounds; round++) {
    without.push(await run(false));
    withNotice.push(await run(true));
    console.log(`round ${round + 1}: without a notice ${without.at(-1)!.toFixed(0)} patches/s, with one ${withNotice.at(-1)!.toFixed(0)} patches/s`);
  }
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  console.log(
    `\nnpm run bench:pg-notify -- --rounds ${rounds} --writers ${writers} --patches ${patches}: median ${median(without).toFixed(0)} vs ${median(withNotice).toFixed(0)} patches/s (${(median(withNotice) / median(without)).toFixed(2)}×)`,
  );
} finally {
  await store.close();
  const admin = new pg.Client({ connectionString: databaseUrl });
  await admin.connect();
  await admin.query(`DROP TABLE IF EXISTS ${table}, ${table}_leases`).finally(() => admin.end());
}
