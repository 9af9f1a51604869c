import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import assert from "node:assert/strict";
import { test } from "node:test";
import { runStoreConformance } from "../conformance/index.js";
import { sqliteStore } from "./index.js";

const dir = mkdtempSync(join(tmpdir(), "latchkey-sqlite-"));
let n = 0;

runStoreConformance({
  name: "sqliteStore",
  createStore: () => sqliteStore({ path: join(dir, `conformance-${n++}.db`) }),
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
