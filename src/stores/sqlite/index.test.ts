import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { test } from "node:test";
import Database from "better-sqlite3";
import { runSessionsConformance, runStoreConformance, sampleRecord } from "../../conformance/index.js";
import { sqliteStore } from "./index.js";

const dir = mkdtempSync(join(tmpdir(), "latchkey-sqlite-"));
let n = 0;

runStoreConformance({
  name: "sqliteStore",
  createStore: () => sqliteStore({ path: join(dir, `conformance-${n++}.db`) }),
});
runSessionsConformance({
  name: "sqliteStore",
  createStore: () => sqliteStore({ path: join(dir, `sessions-${n++}.db`) }),
});
process.on("exit", () => rmSync(dir, { recursive: true, force: true }));

test("sqliteStore validates its options", () => {
  assert.throws(() => sqliteStore({} as never), /needs \{ path \}/);
  assert.throws(() => sqliteStore({ path: join(dir, "x.db"), table: "bad name; drop" }), /plain SQL identifier/);
  assert.throws(() => sqliteStore({ path: join(dir, "x.db"), busyTimeout: -1 }), /busyTimeout/);
});

test("an in-memory SQLite database counts as process-local (G7)", async () => {
  const store = sqliteStore({ path: ":memory:" });
  assert.equal(store.processLocal, true);
  await store.close();
  const file = sqliteStore({ path: join(dir, "file.db") });
  assert.equal(file.processLocal, false);
  await file.close();
});

test("a new database file, its -wal and its -shm are readable by their owner only (0600)", async () => {
  const path = join(dir, "private.db");
  const store = sqliteStore({ path });
  try {
    await store.create(sampleRecord());
    for (const file of [path, `${path}-wal`, `${path}-shm`]) {
      assert.equal((statSync(file).mode & 0o777).toString(8), "600", file);
    }
  } finally {
    await store.close();
  }
});

test("a file from before device recording gets its device and meta columns; existing sessions survive", async () => {
  const path = join(dir, "old.db");
  const db = new Database(path);
  db.exec(`CREATE TABLE latchkey_sessions (id TEXT PRIMARY KEY, user_id TEXT, data TEXT NOT NULL, created_at INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL, expires_at INTEGER NOT NULL, absolute_expires_at INTEGER NOT NULL, version INTEGER NOT NULL) WITHOUT ROWID`);
  const old = sampleRecord({ userId: "olaf" });
  db.prepare("INSERT INTO latchkey_sessions VALUES (?, ?, ?, ?, ?, ?, ?, ?)").run(
    old.id,
    old.userId,
    JSON.stringify(old.data),
    old.createdAt,
    old.lastSeenAt,
    old.expiresAt,
    old.absoluteExpiresAt,
    old.version,
  );
  db.close();
  // Two stores opening the old file: the second finds the column the first added.
  const first = sqliteStore({ path });
  const second = sqliteStore({ path });
  try {
    assert.deepEqual(await first.get(old.id), old);
    const device = { userAgent: "curl/8.5.0", ip: "192.0.2.1" };
    const fresh = sampleRecord({ userId: "olaf", device, authenticatedAt: 1_700_000_000_000, persistent: false });
    await second.create(fresh);
    assert.deepEqual(
      [(await first.get(fresh.id))?.authenticatedAt, (await first.get(fresh.id))?.persistent],
      [1_700_000_000_000, false],
      "the meta column was added",
    );
    const listed = new Map((await first.listUser("olaf")).map((r) => [r.id, r.device]));
    assert.deepEqual([...listed.keys()].sort(), [old.id, fresh.id].sort());
    assert.equal(listed.get(old.id), undefined);
    assert.deepEqual(listed.get(fresh.id), device);
  } finally {
    await first.close();
    await second.close();
  }
});

test("sweep deletes in batches and lets this process's requests run between them", async () => {
  const store = sqliteStore({ path: join(dir, "sweep-batches.db") });
  try {
    const now = Date.now();
    const expired = Array.from({ length: 1600 }, () => sampleRecord({ expiresAt: now - 1000, lastSeenAt: now - 2000 }));
    for (const record of expired) await store.create(record);
    const live = sampleRecord();
    await store.create(live);
    let readsBetween = 0;
    const sweeping = store.sweep(now);
    // A read issued while the sweep runs is answered before the sweep ends, with some expired rows still there.
    const remainingSeen: number[] = [];
    await new Promise<void>((resolve) =>
      setImmediate(
        () =>
          void Promise.all(expired.map((r) => store.get(r.id))).then((rows) => {
            readsBetween += 1;
            remainingSeen.push(rows.filter((row) => row !== null).length);
            resolve();
          }),
      ),
    );
    assert.equal((await sweeping).length, 1600);
    assert.equal(readsBetween, 1);
    assert.ok(remainingSeen[0]! > 0 && remainingSeen[0]! < 1600, `a read ran between batches (saw ${remainingSeen[0]} of 1600 expired rows left)`);
    assert.ok(await store.get(live.id));
  } finally {
    await store.close();
  }
});
