// npm run bench:scale — latchkey with many live sessions, on Redis, PostgreSQL and SQLite side by side:
// per store and size, the authenticated read (sessions.load of a random live token, in this process,
// `--concurrency` at a time) p50/p99 and throughput; a user with `--heavy` sessions: the first page of
// list(), revokeUser()'s time and the p99 of other users' reads while it runs (revoked by this process, then a
// second such user revoked by a process of its own: bench/scale-revoke.ts); sweep of `--expired` expired
// sessions and reads' p99 during it; bytes per session in the store (Redis beside connect-redis).
//   npm run bench:scale -- --sessions 1e6 --stores redis,postgres,sqlite
//   npm run bench:scale -- --sessions 1e4 --heavy 1e3 --expired 1e4 --duration 1     a quick look
// Every store is the bench's own: a private redis-server per size, a database latchkey_bench_scale
// (dropped afterwards), a SQLite file in a temporary directory. Sessions are written by the store's own
// create() (SQLite: 10 000 per transaction) or by bulk writes of exactly what create() writes (Redis: the
// CREATE script looped over 1000 sessions per EVAL; PostgreSQL: multi-row INSERTs of recordColumns()). Writes bench/results/scale.md.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import Database from "better-sqlite3";
import pg from "pg";
import { createClient } from "redis";
import { createSessions, type Sessions } from "../src/core/index.js";
import { redisStore } from "../src/stores/redis/index.js";
import { sqliteStore } from "../src/stores/sqlite/index.js";
import type { SessionRecord, SessionStore } from "../src/store/index.js";
import { recordColumns } from "../src/store/sql.js";
import { idOfToken, mintToken } from "../src/store/token.js";
import { startPrivateRedis } from "./redis.js";
import { revokeUserYield, SCALE_PREFIX, scalePostgresStore, scaleRedisStore } from "./scale-stores.js";

const { values } = parseArgs({
  options: {
    sessions: { type: "string", default: "1e6" },
    small: { type: "string", default: "1e3" },
    "sqlite-sessions": { type: "string" },
    stores: { type: "string", default: "redis,postgres,sqlite" },
    heavy: { type: "string", default: "1e4" },
    expired: { type: "string", default: "1e5" },
    duration: { type: "string", default: "3" },
    concurrency: { type: "string", default: "16" },
    "anchor-sample": { type: "string", default: "2e4" },
    "revoke-user-yield": { type: "string" },
  },
});
const count = (name: string, text: string) => {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 1) throw new TypeError(`--${name} must be a positive whole number (1e6 is fine), got ${text}`);
  return n;
};
const large = count("sessions", values.sessions!);
const small = count("small", values.small!);
const sqliteLarge = values["sqlite-sessions"] ? count("sqlite-sessions", values["sqlite-sessions"]) : large;
const heavyCount = count("heavy", values.heavy!);
const expiredCount = count("expired", values.expired!);
const durationMs = Number(values.duration) * 1000;
const concurrency = count("concurrency", values.concurrency!);
const anchorSample = count("anchor-sample", values["anchor-sample"]!);
const stores = values.stores!.split(",");
// The stores' revokeUserYield for this run (their default when not given), here and in the revoking process.
if (values["revoke-user-yield"] !== undefined) process.env.SCALE_REVOKE_USER_YIELD = String(Number(values["revoke-user-yield"]));
for (const store of stores)
  if (!["redis", "postgres", "sqlite"].includes(store)) throw new TypeError(`--stores: ${store} is not one of redis, postgres, sqlite`);

const HOUR = 3_600_000;
const DATA = { theme: "dark", cart: ["sku-1041", "sku-2203"], locale: "en-GB" };
const adminUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const benchDatabase = "latchkey_bench_scale";
const work = mkdtempSync(join(tmpdir(), "latchkey-bench-scale-"));

/** A signed-in session as createSessions writes it at login, and its token. */
function session(userId: string, now: number, expiresAt = now + HOUR): { token: string; record: SessionRecord } {
  const token = mintToken(userId);
  return {
    token,
    record: {
      id: idOfToken(token),
      userId,
      data: DATA,
      createdAt: now,
      lastSeenAt: now,
      expiresAt,
      absoluteExpiresAt: now + 12 * HOUR,
      version: 1,
      device: { userAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0" },
    },
  };
}

/** `total` sessions of `total / 4` users, in batches; keeps a sample of tokens spread over all of them. */
function* population(total: number, prefix: string, now: number, sample: string[], expiresAt?: number): Generator<SessionRecord[]> {
  const users = Math.max(1, Math.floor(total / 4));
  const every = Math.max(1, Math.floor(total / 5000));
  let batch: SessionRecord[] = [];
  for (let i = 0; i < total; i++) {
    const { token, record } = session(`${prefix}${i % users}`, now, expiresAt);
    if (i % every === 0) sample.push(token);
    batch.push(record);
    if (batch.length === 10_000) {
      yield batch;
      batch = [];
    }
  }
  if (batch.length > 0) yield batch;
}

interface Bench {
  store: SessionStore;
  /** Writes records exactly as the store's create() does, fast. */
  load(records: SessionRecord[]): Promise<void>;
  /** Bytes the store holds now (Redis: used_memory; PostgreSQL: table + indexes; SQLite: the file's pages). */
  bytes(): Promise<number>;
  /** Deletes what was expired, as far as the store needs sweep() (Redis: its own expiry, started by waiting). */
  note: string;
  /** The arguments that let bench/scale-revoke.ts open the same store in another process. */
  where: string[];
  close(): Promise<void>;
}

/** A process of its own, connected to the bench's store, that revokes `userId` when told to (bench/scale-revoke.ts). */
async function startRevoker(where: string[], userId: string): Promise<{ go(): Promise<number> }> {
  const child = spawn(process.execPath, ["--import", "tsx", "bench/scale-revoke.ts", ...where, userId], { stdio: ["pipe", "pipe", "inherit"] });
  const lines = createInterface({ input: child.stdout });
  const next = () =>
    new Promise<string>((resolve, reject) => {
      lines.once("line", resolve);
      child.once("exit", (code) => reject(new Error(`the revoking process exited with ${code}`)));
    });
  if ((await next()) !== "ready") throw new Error("the revoking process did not start");
  return {
    async go() {
      const answer = next();
      child.stdin.write("go\n");
      return (JSON.parse(await answer) as { revoked: number }).revoked;
    },
  };
}

/**
 * The store's CREATE script (src/redis/scripts.ts) looped over 1000 sessions per call: the same keys,
 * fields, field order and expiries as create(), at a fraction of the client's work. Sessions here all
 * have one device and the same data.
 */
const BULK_CREATE = `
local prefix = ARGV[1]
local fields = cjson.decode(ARGV[2])
local i = 3
while i <= #ARGV do
  local id, user, c, l, e, a, device = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 3], ARGV[i + 4], ARGV[i + 5], ARGV[i + 6]
  local tag = prefix .. '{' .. string.sub(id, 1, 4) .. '}:'
  local key = tag .. 's:' .. string.sub(id, 6)
  redis.call('HSET', key, 'c', c, 'l', l, 'e', e, 'a', a, 'u', user, 'v', '1', unpack(fields))
  redis.call('PEXPIREAT', key, e)
  redis.call('SET', tag .. 'm:' .. string.sub(id, 6), device)
  redis.call('PEXPIREAT', tag .. 'm:' .. string.sub(id, 6), e)
  local index = tag .. 'u:' .. user
  redis.call('ZADD', index, e, id)
  local ttl = redis.call('PTTL', index)
  if ttl == -1 or ttl < tonumber(a) - tonumber(c) then redis.call('PEXPIREAT', index, a) end
  i = i + 7
end
return 1
`;

async function openRedis(): Promise<Bench> {
  const server = await startPrivateRedis(work, true);
  const store = scaleRedisStore(server.url);
  const info = await createClient({ url: server.url }).connect();
  return {
    store,
    async load(records) {
      const fields = JSON.stringify(Object.entries(DATA).flatMap(([key, value]) => [`d:${key}`, JSON.stringify(value)]));
      const calls: Promise<unknown>[] = [];
      for (let i = 0; i < records.length; i += 1000) {
        const args = records
          .slice(i, i + 1000)
          .flatMap((r) => [
            r.id,
            r.userId!,
            String(r.createdAt),
            String(r.lastSeenAt),
            String(Math.ceil(r.expiresAt)),
            String(r.absoluteExpiresAt),
            JSON.stringify(r.device),
          ]);
        calls.push(info.sendCommand(["EVAL", BULK_CREATE, "0", SCALE_PREFIX, fields, ...args]));
      }
      await Promise.all(calls);
    },
    async bytes() {
      return Number(/used_memory:(\d+)/.exec(await info.info("memory"))![1]);
    },
    note: "Redis: used_memory (INFO memory) after loading minus before",
    where: ["redis", server.url],
    async close() {
      await store.close();
      await info.close();
      server.stop();
    },
  };
}

async function openPostgres(size: number): Promise<Bench> {
  const pool = new pg.Pool({ connectionString: adminUrl.replace(/\/[^/]*$/, `/${benchDatabase}`), max: 8 });
  const table = `scale_${size}`;
  const store = scalePostgresStore(pool, table);
  await store.get("none:none"); // creates the table, as the first request of an app does
  const columns = "id, user_id, data, created_at, last_seen_at, expires_at, absolute_expires_at, version, device";
  const types = ["text", "text", "jsonb", "bigint", "bigint", "bigint", "bigint", "int", "text"];
  return {
    store,
    async load(records) {
      const rows = records.map(recordColumns);
      const arrays = types.map((_, column) => rows.map((row) => row[column]));
      await pool.query(`INSERT INTO "${table}" (${columns}) SELECT * FROM unnest(${types.map((type, i) => `$${i + 1}::${type}[]`).join(", ")})`, arrays);
    },
    async bytes() {
      await pool.query(`VACUUM ANALYZE "${table}"`);
      return Number((await pool.query(`SELECT pg_total_relation_size('"${table}"') AS n`)).rows[0].n);
    },
    note: "PostgreSQL: pg_total_relation_size (table, TOAST and indexes) after VACUUM ANALYZE",
    where: ["postgres", adminUrl.replace(/\/[^/]*$/, `/${benchDatabase}`), table],
    async close() {
      await store.close();
      await pool.end();
    },
  };
}

async function openSqlite(size: number): Promise<Bench> {
  const path = join(work, `scale-${size}.db`);
  const db = new Database(path);
  const store = sqliteStore({ path, database: db });
  const insertAll = db.transaction((records: SessionRecord[]) => {
    for (const record of records) void store.create(record); // better-sqlite3: the insert runs before create() returns
  });
  return {
    store,
    async load(records) {
      insertAll(records);
    },
    async bytes() {
      db.pragma("wal_checkpoint(TRUNCATE)");
      return Number(db.pragma("page_count", { simple: true })) * Number(db.pragma("page_size", { simple: true }));
    },
    note: "SQLite: page_count × page_size after a WAL checkpoint",
    where: ["sqlite", path],
    async close() {
      await store.close();
      db.close();
    },
  };
}

const quantile = (sorted: number[], q: number) => (sorted.length === 0 ? NaN : sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!);

interface Reads {
  latencies: number[];
  perSecond: number;
  failures: number;
}

/** Authenticated reads of random sampled tokens, `concurrency` at a time, until `stop()` resolves; each latency with its start. */
async function readWhile(
  sessions: Sessions,
  tokens: string[],
  stop: Promise<unknown>,
): Promise<{ samples: Array<[number, number]>; failures: number; elapsed: number }> {
  let running = true;
  void stop.finally(() => (running = false));
  const samples: Array<[number, number]> = [];
  let failures = 0;
  const begin = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (running) {
        const token = tokens[Math.floor(Math.random() * tokens.length)]!;
        const start = performance.now();
        const loaded = await sessions.load(token);
        samples.push([start, performance.now() - start]);
        if (loaded.userId === null) failures++;
        // SQLite answers synchronously: let timers (the stop signal, the operation measured) run.
        if (samples.length % 64 === 0) await new Promise((resolve) => setImmediate(resolve));
      }
    }),
  );
  return { samples, failures, elapsed: performance.now() - begin };
}

async function idleReads(sessions: Sessions, tokens: string[]): Promise<Reads> {
  await readWhile(sessions, tokens, sleep(300)); // warm up
  const { samples, failures, elapsed } = await readWhile(sessions, tokens, sleep(durationMs));
  return { latencies: samples.map(([, ms]) => ms).sort((a, b) => a - b), perSecond: (samples.length * 1000) / elapsed, failures };
}

/** Runs `operation` while reads go on; the reads that overlapped it, and how long it took. */
async function readsDuring<T>(
  sessions: Sessions,
  tokens: string[],
  operation: () => Promise<T>,
  atLeastMs = 0,
): Promise<{ result: T; ms: number; latencies: number[] }> {
  let done!: () => void;
  const stopped = new Promise<void>((resolve) => (done = resolve));
  const reading = readWhile(sessions, tokens, stopped);
  await sleep(300);
  const start = performance.now();
  const result = await operation();
  const ms = performance.now() - start;
  const end = Math.max(performance.now(), start + atLeastMs);
  await sleep(end - performance.now());
  done();
  const { samples } = await reading;
  const latencies = samples
    .filter(([begin, took]) => begin <= end && begin + took >= start)
    .map(([, took]) => took)
    .sort((a, b) => a - b);
  return { result, ms, latencies };
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
const f = (x: number, digits = 2) => (Number.isFinite(x) ? x.toFixed(digits) : "—");

interface Row {
  store: string;
  sessions: number;
  loadSeconds: number;
  readP50: number;
  readP99: number;
  readsPerSecond: number;
  bytesPerSession: number;
  listFirstPageMs: number;
  revokeUserMs: number;
  revoked: number;
  readP99DuringRevoke: number;
  readsDuringRevoke: number;
  readP99DuringRevokeElsewhere: number;
  readsDuringRevokeElsewhere: number;
  sweepMs: number;
  swept: number;
  readP99DuringSweep: number;
  readsDuringSweep: number;
  failures: number;
}

async function measure(kind: string, size: number): Promise<Row> {
  const bench = kind === "redis" ? await openRedis() : kind === "postgres" ? await openPostgres(size) : await openSqlite(size);
  const sessions = createSessions({
    store: bench.store,
    idleTimeout: HOUR,
    absoluteTimeout: 12 * HOUR,
    sweepInterval: false,
    logger: { warn: () => undefined, error: console.error },
  });
  try {
    const now = Date.now();
    const tokens: string[] = [];
    const before = await bench.bytes();
    const loadStart = performance.now();
    for (const batch of population(size, "user-", now, tokens)) await bench.load(batch);
    const loadSeconds = (performance.now() - loadStart) / 1000;
    const bytesPerSession = ((await bench.bytes()) - (kind === "redis" ? before : 0)) / size;
    console.log(`  ${kind} ${size}: loaded in ${f(loadSeconds, 1)} s, ${f(bytesPerSession, 0)} bytes/session`);

    const idle = await idleReads(sessions, tokens);
    console.log(
      `  ${kind} ${size}: reads p50 ${f(quantile(idle.latencies, 0.5), 3)} ms p99 ${f(quantile(idle.latencies, 0.99), 3)} ms, ${f(idle.perSecond, 0)}/s`,
    );

    // One user with `heavyCount` sessions.
    const heavy: SessionRecord[] = Array.from({ length: heavyCount }, () => session("heavy-user", now).record);
    for (let i = 0; i < heavy.length; i += 10_000) await bench.load(heavy.slice(i, i + 10_000));
    const pageTimes: number[] = [];
    for (let i = 0; i < 10; i++) {
      const start = performance.now();
      const page = await sessions.list("heavy-user", { limit: 100 });
      pageTimes.push(performance.now() - start);
      if (page.items.length !== 100) throw new Error(`list: a first page of ${page.items.length}, expected 100`);
    }
    pageTimes.sort((a, b) => a - b);
    const revoke = await readsDuring(sessions, tokens, () => sessions.revokeUser("heavy-user"));
    console.log(
      `  ${kind} ${size}: list first page p50 ${f(quantile(pageTimes, 0.5))} ms; revokeUser(${revoke.result}) ${f(revoke.ms, 1)} ms, reads p99 during ${f(quantile(revoke.latencies, 0.99), 3)} ms (${revoke.latencies.length} reads)`,
    );

    // The same again for a second user, revoked by another process while this one reads.
    const other = Array.from({ length: heavyCount }, () => session("heavy-user-2", now).record);
    for (let i = 0; i < other.length; i += 10_000) await bench.load(other.slice(i, i + 10_000));
    const revoker = await startRevoker(bench.where, "heavy-user-2");
    const elsewhere = await readsDuring(sessions, tokens, () => revoker.go());
    console.log(
      `  ${kind} ${size}: revokeUser(${elsewhere.result}) from another process ${f(elsewhere.ms, 1)} ms, reads p99 during ${f(quantile(elsewhere.latencies, 0.99), 3)} ms (${elsewhere.latencies.length} reads)`,
    );

    // `expiredCount` sessions past their expiry. Redis refuses to be given an expiry in the past the
    // way the store writes it, so there they run out just after loading, and Redis deletes them itself.
    const expireAt = kind === "redis" ? Date.now() + 1000 + Math.ceil(((loadSeconds * 1000) / size) * expiredCount * 1.5) : now - 1000;
    for (const batch of population(expiredCount, "gone-", now - 2 * HOUR, [], expireAt)) await bench.load(batch);
    if (kind === "redis") await sleep(expireAt - Date.now());
    // Redis: reads over the 3 s in which its active expiry deletes them (sweep() only prunes indexes).
    const sweep = await readsDuring(sessions, tokens, () => sessions.sweep(), kind === "redis" ? 3000 : 0);
    console.log(
      `  ${kind} ${size}: sweep ${sweep.result} in ${f(sweep.ms, 1)} ms, reads p99 during ${f(quantile(sweep.latencies, 0.99), 3)} ms (${sweep.latencies.length} reads)`,
    );
    return {
      store: kind,
      sessions: size,
      loadSeconds,
      readP50: quantile(idle.latencies, 0.5),
      readP99: quantile(idle.latencies, 0.99),
      readsPerSecond: idle.perSecond,
      bytesPerSession,
      listFirstPageMs: quantile(pageTimes, 0.5),
      revokeUserMs: revoke.ms,
      revoked: revoke.result,
      readP99DuringRevoke: quantile(revoke.latencies, 0.99),
      readsDuringRevoke: revoke.latencies.length,
      readP99DuringRevokeElsewhere: quantile(elsewhere.latencies, 0.99),
      readsDuringRevokeElsewhere: elsewhere.latencies.length,
      sweepMs: sweep.ms,
      swept: sweep.result,
      readP99DuringSweep: quantile(sweep.latencies, 0.99),
      readsDuringSweep: sweep.latencies.length,
      failures: idle.failures,
    };
  } finally {
    await sessions.close();
    await bench.close();
  }
}

/** Redis bytes per session for the same signed-in data: latchkey's create() beside connect-redis's set(). */
async function anchorBytes(): Promise<{ latchkey: number; connectRedis: number }> {
  const server = await startPrivateRedis(work, true);
  const client = await createClient({ url: server.url }).connect();
  const used = async () => Number(/used_memory:(\d+)/.exec(await client.info("memory"))![1]);
  try {
    const store = redisStore({ client, prefix: "scale-anchor:", commandTimeout: 60_000 });
    let before = await used();
    const now = Date.now();
    for (const batch of population(anchorSample, "user-", now, [])) {
      for (let i = 0; i < batch.length; i += 1000) await Promise.all(batch.slice(i, i + 1000).map((record) => store.create(record)));
    }
    const latchkey = ((await used()) - before) / anchorSample;
    const { RedisStore } = (await import("connect-redis")) as { RedisStore: new (options: object) => { set(sid: string, session: object): Promise<unknown> } };
    const anchor = new RedisStore({ client, prefix: "scale-anchor-sess:" });
    before = await used();
    const users = Math.max(1, Math.floor(anchorSample / 4));
    for (let i = 0; i < anchorSample; i += 1000) {
      await Promise.all(
        Array.from({ length: Math.min(1000, anchorSample - i) }, (_, j) => {
          // What express-session stores after `req.session.userId = user` with its default cookie (uid-safe 24-byte ids).
          const cookie = { originalMaxAge: HOUR, expires: new Date(now + HOUR).toISOString(), secure: false, httpOnly: true, path: "/" };
          const userAgent = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
          return anchor.set(randomBytes(24).toString("base64url"), { cookie, userId: `user-${(i + j) % users}`, userAgent, ...DATA });
        }),
      );
    }
    const connectRedis = ((await used()) - before) / anchorSample;
    return { latchkey, connectRedis };
  } finally {
    await client.close();
    server.stop();
  }
}

const rows: Row[] = [];
let anchor: { latchkey: number; connectRedis: number } | null = null;
let admin: pg.Client | null = null;
const started = new Date();
const loadAtStart = loadavg();
try {
  if (stores.includes("postgres")) {
    admin = new pg.Client({ connectionString: adminUrl });
    await admin.connect();
    await admin.query(`DROP DATABASE IF EXISTS ${benchDatabase}`);
    await admin.query(`CREATE DATABASE ${benchDatabase}`);
  }
  for (const kind of stores) {
    for (const size of [small, kind === "sqlite" ? sqliteLarge : large]) rows.push(await measure(kind, size));
  }
  if (stores.includes("redis")) anchor = await anchorBytes();
} finally {
  if (admin) {
    await admin.query(`DROP DATABASE IF EXISTS ${benchDatabase}`).catch((error: Error) => console.error(`could not drop ${benchDatabase}: ${error.message}`));
    await admin.end();
  }
  rmSync(work, { recursive: true, force: true });
}

const ratio = (row: Row, value: (r: Row) => number) => {
  const base = rows.find((r) => r.store === row.store && r.sessions === small);
  return base && base !== row ? ` (${f(value(row) / value(base))}×)` : "";
};
const argv = process.argv.slice(2).join(" ");
const report = [
  `Command: npm run bench:scale${argv ? ` -- ${argv}` : ""}`,
  `Date: ${started.toISOString()}; Node ${process.version}; ${cpus().length} CPUs shared with other work, load average ${loadAtStart.map((l) => l.toFixed(1)).join(" ")} at the start, ${loadavg()
    .map((l) => l.toFixed(1))
    .join(
      " ",
    )} at the end; loopback; reads: sessions.load() of a random live token (of ${"5000"} sampled over all sessions), ${concurrency} at a time, ${values.duration} s, in the bench's process; revokeUserYield (Redis, PostgreSQL) ${revokeUserYield() ?? "2 (default)"}.`,
  "",
  "| store | live sessions | load s | read p50 ms | read p99 ms | reads/s | bytes/session | list page 1 (100) ms | revokeUser ms | revoked | read p99 during revokeUser ms (n) | … revokeUser from another process (n) | sweep ms | swept | read p99 during sweep ms (n) |",
  "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
  ...rows.map(
    (r) =>
      `| ${r.store} | ${r.sessions.toExponential(0)} | ${f(r.loadSeconds, 1)} | ${f(r.readP50, 3)}${ratio(r, (x) => x.readP50)} | ${f(r.readP99, 3)}${ratio(r, (x) => x.readP99)} | ${f(r.readsPerSecond, 0)}${ratio(r, (x) => x.readsPerSecond)} | ${f(r.bytesPerSession, 0)} | ${f(r.listFirstPageMs)} | ${f(r.revokeUserMs, 1)} | ${r.revoked} | ${f(r.readP99DuringRevoke, 3)} (${r.readsDuringRevoke}) | ${f(r.readP99DuringRevokeElsewhere, 3)} (${r.readsDuringRevokeElsewhere}) | ${f(r.sweepMs, 1)} | ${r.swept} | ${f(r.readP99DuringSweep, 3)} (${r.readsDuringSweep}) |`,
  ),
  "",
  `The user with many sessions: ${heavyCount} sessions, added after the live ones. Expired: ${expiredCount} sessions past their expiry, added before sweep().`,
  "Redis deletes expired sessions itself (PEXPIREAT; its active expiry works in slices of at most ~25 ms): there the sweep row's reads are those of the 3 s after the expired sessions ran out, while Redis removed them, and `swept` counts the index entries sweep() pruned.",
  "Bytes per session — Redis: used_memory (INFO memory) delta over the load; PostgreSQL: pg_total_relation_size (table, TOAST, indexes) after VACUUM ANALYZE; SQLite: page_count × page_size after a WAL checkpoint (the whole file).",
  ...(anchor
    ? [
        `Redis, the same signed-in session (user id, theme, cart, locale, user agent), ${anchorSample} sessions each on a fresh redis-server: latchkey ${f(anchor.latchkey, 0)} bytes/session (session hash, device key, user index), connect-redis ${f(anchor.connectRedis, 0)} bytes/session (one JSON string, no user index).`,
      ]
    : []),
  ...(rows.some((r) => r.failures > 0) ? [`!! reads that found no session: ${rows.map((r) => `${r.store} ${r.sessions}: ${r.failures}`).join(", ")}`] : []),
].join("\n");
console.log(`\n${report}`);
mkdirSync("bench/results", { recursive: true });
writeFileSync("bench/results/scale.md", `${report}\n`);
