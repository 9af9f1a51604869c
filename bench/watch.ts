// npm run bench:watch — what 10 000 watched sessions cost one process
// (memory store): memory per watch, the time to start watching them, the time
// per end told (a revoke of a watched session vs. an unwatched one), and the
// CPU a manager without a feed spends polling them (one expiries() read per
// watchInterval). Writes bench/results/watch.md. Runs in well under 60 s.
//   npm run bench:watch -- --sessions 10000
import { mkdirSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { performance } from "node:perf_hooks";
import { createSessions, type Sessions } from "../src/core/index.js";
import { memoryStore } from "../src/stores/memory/index.js";
import { sqliteStore } from "../src/stores/sqlite/index.js";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const { values } = parseArgs({ options: { sessions: { type: "string", default: "10000" } } });
const count = Number(values.sessions);
const gc = (globalThis as { gc?: () => void }).gc;
if (!gc) throw new Error("run with node --expose-gc (npm run bench:watch does)");
const settle = async () => {
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  gc();
  gc();
};
const heap = () => process.memoryUsage().heapUsed;

const store = memoryStore();
const options = { store, sweepInterval: false as const, logger: { warn: () => undefined, error: console.error } };
const sessions: Sessions = createSessions(options);

async function signIn(n: number, prefix: string): Promise<string[]> {
  const handles: string[] = [];
  for (let i = 0; i < n; i++) {
    const session = await sessions.load(undefined);
    await session.login(`${prefix}-${i % 1000}`);
    handles.push(session.handle!);
  }
  return handles;
}

// Baseline: revoking unwatched sessions.
const plain = await signIn(count, "plain");
let started = performance.now();
for (const handle of plain) await sessions.revoke(handle);
const plainRevokeUs = ((performance.now() - started) * 1000) / count;

// Watching.
const handles = await signIn(count, "watched");
await settle();
const before = heap();
let told = 0;
let lastTold = 0;
started = performance.now();
const stops = handles.map((handle) => sessions.watch(handle, () => void (told++, (lastTold = performance.now()))));
await new Promise((resolve) => setImmediate(resolve)); // the one batched read of all of them is scheduled here
await settle();
const watchMs = performance.now() - started;
const bytesPerWatch = (heap() - before) / count;

// A second manager on the same store (no feed: it polls every watchInterval), watching them all too.
const poller: Sessions = createSessions({ ...options, watchInterval: 1000 });
for (const handle of handles) poller.watch(handle, () => undefined);
await new Promise((resolve) => setTimeout(resolve, 1200)); // first read and one poll
const elu0 = performance.eventLoopUtilization();
await new Promise((resolve) => setTimeout(resolve, 3000));
const pollLoad = performance.eventLoopUtilization(elu0).utilization;

// The same poll on SQLite (the multi-process store without a feed): one SELECT … IN (json_each) per second.
const dir = mkdtempSync(join(tmpdir(), "latchkey-bench-watch-"));
const sqliteOptions = { store: sqliteStore({ path: join(dir, "s.db"), synchronous: "normal" }), sweepInterval: false as const };
const writer: Sessions = createSessions(sqliteOptions);
const sqliteHandles: string[] = [];
for (let i = 0; i < count; i++) {
  const session = await writer.load(undefined);
  await session.login(`sqlite-${i % 1000}`);
  sqliteHandles.push(session.handle!);
}
const sqlitePoller: Sessions = createSessions({ ...sqliteOptions, store: sqliteStore({ path: join(dir, "s.db") }), watchInterval: 1000 });
for (const handle of sqliteHandles) sqlitePoller.watch(handle, () => undefined);
await new Promise((resolve) => setTimeout(resolve, 1200));
const sqliteElu0 = performance.eventLoopUtilization();
await new Promise((resolve) => setTimeout(resolve, 3000));
const sqlitePollLoad = performance.eventLoopUtilization(sqliteElu0).utilization;
await sqlitePoller.close();
await writer.close();
rmSync(dir, { recursive: true, force: true });

// Ends told: revoke each watched session; its listener runs before revoke() resolves.
started = performance.now();
for (const handle of handles) await sessions.revoke(handle);
const watchedRevokeUs = ((performance.now() - started) * 1000) / count;
if (told !== count) throw new Error(`told ${told} of ${count}`);
void lastTold;
stops.forEach((stop) => stop());

const results = `# sessions.watch, ${count} sessions, one process (memory store)

Node ${process.version}, ${new Date().toISOString()}. Machine shared with other jobs: figures are indicative.

| measure | value |
|---|---|
| heap per watched session (entry, timer, listener) | ${bytesPerWatch.toFixed(0)} bytes (${((bytesPerWatch * count) / 1024 / 1024).toFixed(1)} MiB for ${count}) |
| watch() of ${count} handles, incl. the one batched read | ${watchMs.toFixed(0)} ms (${((watchMs * 1000) / count).toFixed(1)} µs each) |
| revoke of an unwatched session (baseline) | ${plainRevokeUs.toFixed(1)} µs |
| revoke of a watched session, listener called before it resolves | ${watchedRevokeUs.toFixed(1)} µs |
| time per end told (difference) | ${(watchedRevokeUs - plainRevokeUs).toFixed(1)} µs |
| event-loop load of a polling manager, memory store (watchInterval 1 s, ${count} watched) | ${(pollLoad * 100).toFixed(1)} % |
| event-loop load of a polling manager, SQLite file (watchInterval 1 s, ${count} watched) | ${(sqlitePollLoad * 100).toFixed(1)} % |
`;
console.log(results);
mkdirSync(new URL("./results/", import.meta.url), { recursive: true });
writeFileSync(new URL("./results/watch.md", import.meta.url), results);
await poller.close();
await sessions.close().catch(() => undefined);
