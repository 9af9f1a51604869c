// G7: a process-local store in a multi-process deployment is refused at start.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, it } from "node:test";
import { fileURLToPath } from "node:url";

const core = fileURLToPath(new URL("./index.ts", import.meta.url));
const memory = fileURLToPath(new URL("../stores/memory/index.ts", import.meta.url));
const sqlite = fileURLToPath(new URL("../stores/sqlite/index.ts", import.meta.url));

function run(script: string, env: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-guard-"));
  const file = join(dir, "main.mts");
  writeFileSync(file, script);
  const result = spawnSync(process.execPath, ["--import", "tsx", file], {
    env: { ...process.env, WEB_CONCURRENCY: "", ...env },
    encoding: "utf8",
    timeout: 30_000,
  });
  rmSync(dir, { recursive: true, force: true });
  return result;
}

const clusterScript = (store: string, extra = "") => `
import cluster from "node:cluster";
import { createSessions } from ${JSON.stringify(core)};
import { memoryStore } from ${JSON.stringify(memory)};
import { sqliteStore } from ${JSON.stringify(sqlite)};
if (cluster.isPrimary) {
  let done = 0;
  for (let i = 0; i < 2; i++) cluster.fork().on("message", (m) => { console.log(JSON.stringify(m)); if (++done === 2) process.exit(0); });
} else {
  try {
    const sessions = createSessions({ store: ${store}, sweepInterval: false ${extra} });
    await sessions.close();
    process.send!({ worker: cluster.worker!.id, ok: true });
  } catch (error) {
    process.send!({ worker: cluster.worker!.id, ok: false, message: (error as Error).message });
  }
  process.exit(0);
}
`;

describe("startup guard (G7)", () => {
  it("refuses memoryStore in every worker of a real 2-worker cluster, naming the fix", () => {
    const result = run(clusterScript("memoryStore()"));
    const lines = result.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { ok: boolean; message: string });
    assert.equal(lines.length, 2, result.stderr);
    for (const line of lines) {
      assert.equal(line.ok, false);
      assert.match(line.message, /node cluster worker/);
      assert.match(line.message, /sqliteStore/);
      assert.match(line.message, /redisStore/);
      assert.match(line.message, /postgresStore/);
    }
  });

  it("accepts sqliteStore on a file in the same cluster", () => {
    const dir = mkdtempSync(join(tmpdir(), "latchkey-guard-db-"));
    const result = run(clusterScript(`sqliteStore({ path: ${JSON.stringify(join(dir, "s.db"))} })`));
    rmSync(dir, { recursive: true, force: true });
    const lines = result.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { ok: boolean });
    assert.deepEqual(
      lines.map((l) => l.ok),
      [true, true],
      result.stderr,
    );
  });

  it("refuses an in-memory SQLite database in a cluster too", () => {
    const result = run(clusterScript(`sqliteStore({ path: ":memory:" })`));
    assert.ok(
      result.stdout
        .trim()
        .split("\n")
        .every((line) => (JSON.parse(line) as { ok: boolean }).ok === false),
      result.stdout + result.stderr,
    );
  });

  it("allowProcessLocalStore: true opts out (tests only)", () => {
    const result = run(clusterScript("memoryStore()", ", allowProcessLocalStore: true"));
    assert.ok(
      result.stdout
        .trim()
        .split("\n")
        .every((line) => (JSON.parse(line) as { ok: boolean }).ok === true),
      result.stdout + result.stderr,
    );
  });

  for (const [label, env, reason] of [
    ["a PM2 instance", { pm_id: "3" }, /PM2 instance/],
    ["WEB_CONCURRENCY=4", { WEB_CONCURRENCY: "4" }, /WEB_CONCURRENCY is 4/],
  ] as const) {
    it(`refuses memoryStore in ${label}`, () => {
      const result = run(
        `import { createSessions } from ${JSON.stringify(core)};
         import { memoryStore } from ${JSON.stringify(memory)};
         try { createSessions({ store: memoryStore(), sweepInterval: false }); console.log("accepted"); }
         catch (error) { console.log((error as Error).message); }`,
        env,
      );
      assert.match(result.stdout, reason);
    });
  }

  it("accepts memoryStore in a single plain process", () => {
    const result = run(
      `import { createSessions } from ${JSON.stringify(core)};
       import { memoryStore } from ${JSON.stringify(memory)};
       createSessions({ store: memoryStore(), sweepInterval: false }); console.log("accepted");`,
    );
    assert.match(result.stdout, /accepted/, result.stderr);
  });
});
