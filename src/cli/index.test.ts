// The latchkey CLI as an operator runs it: the built bin (dist/cli/index.js,
// rebuilt here when older than the sources), spawned as its own process,
// against real stores and a running app process.
import assert from "node:assert/strict";
import { execFile, spawnSync } from "node:child_process";
import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { createSessions } from "../core/index.js";
import { postgresStore } from "../stores/postgres/index.js";
import { Client, startServer, waitFor, type ServerProcess } from "../testing/client.js";
import { startFleet, stats } from "../testing/nearcache-suite.js";
import { databaseUrl, requirePostgres } from "../testing/postgres.js";
import { deletePrefix, REDIS_URL, requireRedis, testPrefix } from "../testing/redis-server.js";

const ROOT = fileURLToPath(new URL("../../", import.meta.url));
const BIN = join(ROOT, "dist/cli/index.js");
const FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0";
const IPHONE = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1";

/** The newest modification time under `dir` of files that go into dist. */
function newest(dir: string): number {
  return Math.max(
    0,
    ...readdirSync(dir, { withFileTypes: true }).map((entry) => {
      const path = join(dir, entry.name);
      if (entry.isDirectory()) return entry.name === "testing" ? 0 : newest(path);
      return entry.name.endsWith(".test.ts") ? 0 : statSync(path).mtimeMs;
    }),
  );
}

function ensureBuilt(): void {
  let built: number;
  try {
    built = statSync(BIN).mtimeMs;
  } catch {
    built = 0;
  }
  if (built >= newest(join(ROOT, "src"))) return;
  const result = spawnSync(process.execPath, [join(ROOT, "node_modules/typescript/bin/tsc"), "-p", join(ROOT, "tsconfig.build.json")], { encoding: "utf8" });
  assert.equal(result.status, 0, `building dist failed: ${result.stdout}${result.stderr}`);
}

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the bin with `args` (and `env`), as a shell would. */
function latchkey(args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { env: { ...process.env, LATCHKEY_STORE: "", ...env }, timeout: 60_000 }, (error, stdout, stderr) => {
      resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr });
    });
  });
}

const json = (run: Run): any => {
  assert.equal(run.code, 0, `exit ${run.code}: ${run.stderr}`);
  return JSON.parse(run.stdout);
};

before(() => ensureBuilt());

describe("latchkey CLI: usage and errors", () => {
  it("--help prints the usage on stdout", async () => {
    const run = await latchkey(["--help"]);
    assert.equal(run.code, 0);
    assert.match(run.stdout, /latchkey \[options\] <command>/);
    assert.match(run.stdout, /sessions revoke-user <userId>/);
    assert.equal(run.stderr, "");
  });

  const dir = mkdtempSync(join(tmpdir(), "latchkey-cli-"));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const sqlite = `sqlite:${join(dir, "usage.db")}`;

  const usageErrors: Array<[string, string[], Record<string, string>, RegExp]> = [
    ["no command", ["--store", sqlite], {}, /no command given/],
    ["an unknown command", ["--store", sqlite, "frobnicate"], {}, /unknown command "frobnicate"/],
    ["no store", ["sweep"], {}, /no store: pass --store/],
    ["an unknown scheme", ["--store", "mysql://x", "sweep"], {}, /--store must be a sqlite:, redis:\/\/, rediss:\/\/ or postgres:\/\/ URL/],
    ["a missing user id", ["--store", sqlite, "sessions", "list"], {}, /sessions list needs a userId/],
    ["an unknown option", ["--store", sqlite, "--color", "sweep"], {}, /Unknown option '--color'/],
    ["a user id with a control character", ["--store", sqlite, "sessions", "revoke-user", "a\u0001b"], {}, /userId must not contain control characters/],
    ["a malformed handle", ["--store", sqlite, "sessions", "revoke", "nope"], {}, /handle must be a session handle/],
    ["--prefix on SQLite", ["--store", sqlite, "--prefix", "x:", "sweep"], {}, /--prefix does not apply to a SQLite store/],
    ["schema upgrade on Redis", ["--store", REDIS_URL, "schema", "upgrade"], {}, /Redis has no schema to upgrade/],
    ["schema without upgrade", ["--store", sqlite, "schema"], {}, /"schema" needs upgrade/],
  ];
  for (const [label, args, env, message] of usageErrors) {
    it(`${label}: exit 2, a sentence on stderr, nothing on stdout (--json too)`, async () => {
      for (const extra of [[], ["--json"]]) {
        const run = await latchkey([...args, ...extra], env);
        assert.equal(run.code, 2, `${label}: ${run.stderr}`);
        assert.match(run.stderr, message);
        assert.equal(run.stdout, "");
      }
    });
  }

  it("an unreachable store: exit 1 with where it tried", async () => {
    const run = await latchkey(["--json", "sweep"], { LATCHKEY_STORE: "redis://127.0.0.1:1" });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /cannot reach Redis at 127\.0\.0\.1:1/);
    assert.equal(run.stdout, "");
    const pgRun = await latchkey(["--store", "postgres://postgres@127.0.0.1:1/test", "sessions", "list", "alice"]);
    assert.equal(pgRun.code, 1);
    assert.match(pgRun.stderr, /cannot reach PostgreSQL at 127\.0\.0\.1:1/);
  });

  it("never prints the password of a store URL (unreachable, malformed, or an unknown scheme)", async () => {
    const urls = [
      "redis://default:S3cretPW@127.0.0.1:1",
      "redis://default:S3cretPW@redis.internal:63x79",
      "rediss://:S3cretPW@127.0.0.1:1",
      "postgres://app:S3cretPW@127.0.0.1:1/app",
      "mysql://app:S3cretPW@127.0.0.1:1/app",
    ];
    const commands = urls.flatMap((url) => [
      ["--store", url, "sessions", "list", "x"],
      ["--store", url, "--json", "legacy", "count"],
    ]);
    const runs = await Promise.all(commands.map((args) => latchkey(args)));
    runs.forEach((run, i) => {
      assert.notEqual(run.code, 0, `${commands[i]!.join(" ")} failed`);
      assert.match(run.stderr, /latchkey: /);
      assert.doesNotMatch(`${run.stdout}${run.stderr}`, /S3cretPW/, `${commands[i]!.join(" ")}:\n${run.stderr}`);
    });
  });
});

describe("latchkey CLI against a running app on SQLite", () => {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-cli-"));
  const path = join(dir, "sessions.db");
  let app: ServerProcess;
  before(async () => {
    app = await startServer({ LATCHKEY_STORE: `sqlite:${path}` });
  });
  after(async () => {
    await app?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("lists a user's devices, revokes one by handle and then the user, and sweeps", async () => {
    const laptop = new Client();
    const phone = new Client();
    await laptop.post(`${app.url}/login/alice`, { "user-agent": FIREFOX });
    await phone.post(`${app.url}/login/alice`, { "user-agent": IPHONE });
    const listed = json(await latchkey(["--store", `sqlite:${path}`, "sessions", "list", "alice", "--json"])) as Array<{
      handle: string;
      device: string;
      userAgent: string;
    }>;
    assert.deepEqual(listed.map((s) => s.device).sort(), ["Firefox on Linux", "Safari on iOS"]);
    assert.ok(
      listed.every((s) => !("ip" in s)),
      "no IP without recordIp",
    );

    const table = await latchkey(["sessions", "list", "alice"], { LATCHKEY_STORE: `sqlite:${path}` });
    assert.equal(table.code, 0);
    assert.match(table.stdout, /^HANDLE\s+DEVICE\s+IP\s+LAST SEEN/);
    assert.match(table.stdout, /Safari on iOS/);

    const phoneHandle = listed.find((s) => s.device === "Safari on iOS")!.handle;
    assert.deepEqual(json(await latchkey(["--store", `sqlite:${path}`, "--json", "sessions", "revoke", phoneHandle])), { revoked: true });
    assert.equal((await phone.get(`${app.url}/whoami`)).body.userId, null, "the app refuses the revoked session");
    assert.equal((await laptop.get(`${app.url}/whoami`)).body.userId, "alice");
    assert.deepEqual(json(await latchkey(["--store", `sqlite:${path}`, "--json", "sessions", "revoke", phoneHandle])), { revoked: false });

    const revokeUser = await latchkey(["--store", `sqlite:${path}`, "sessions", "revoke-user", "alice"]);
    assert.equal(revokeUser.code, 0);
    assert.equal(revokeUser.stdout, "Revoked 1 session of alice\n");
    assert.equal((await laptop.get(`${app.url}/whoami`)).body.userId, null);
    assert.deepEqual(json(await latchkey(["--store", `sqlite:${path}`, "--json", "sweep"])), { removed: 0 });
    assert.match(json(await latchkey(["--store", `sqlite:${path}`, "--json", "schema", "upgrade"])).upgraded, /SQLite table latchkey_sessions/);
    assert.match(
      json(await latchkey(["--store", `sqlite:${path}`, "--json", "migrate"])).upgraded,
      /SQLite table latchkey_sessions/,
      "migrate: the older name of schema upgrade",
    );
  });
});

const redis = await requireRedis();
describe("latchkey CLI against apps with a near-cache on Redis", { skip: redis.skip }, () => {
  const prefix = testPrefix();
  let fleet: ServerProcess[] = [];
  let strictFleet: ServerProcess[] = [];
  const spec = `redis:${REDIS_URL}|${prefix}`;
  after(async () => {
    await Promise.all([...fleet, ...strictFleet].map((server) => server.stop()));
    await deletePrefix(REDIS_URL, prefix);
  });

  it("a revoke from the CLI is seen at once by running apps that serve the session from their cache", async () => {
    fleet = await startFleet(2, spec, { nearCache: true });
    const [a, b] = fleet as [ServerProcess, ServerProcess];
    const client = new Client();
    await client.post(`${a.url}/login/carol`, { "user-agent": FIREFOX });
    for (const server of fleet) for (let i = 0; i < 3; i++) assert.equal((await client.get(`${server.url}/whoami`)).body.userId, "carol");
    const hits = (await stats(b)).hits;
    assert.ok(hits >= 1, "the app answers from its near-cache");

    const [session] = json(await latchkey(["--store", REDIS_URL, "--prefix", prefix, "--json", "sessions", "list", "carol"])) as Array<{
      handle: string;
      device: string;
    }>;
    assert.equal(session!.device, "Firefox on Linux");
    const before = (await stats(b)).invalidations;
    assert.deepEqual(json(await latchkey(["--store", REDIS_URL, "--prefix", prefix, "--json", "sessions", "revoke", session!.handle])), { revoked: true });
    // Bounded revocation: every app drops it within the propagation delay (a millisecond on loopback).
    await waitFor(async () => (await stats(b)).invalidations > before, "the app to receive the CLI's notice", 2000);
    for (const server of fleet) assert.equal((await client.fork().get(`${server.url}/whoami`)).body.userId, null);
  });

  it("with --strict, revoke-user returns only once no app can accept the user's sessions", async () => {
    strictFleet = await startFleet(2, spec, { nearCache: true, revocation: "strict" });
    const clients = [new Client(), new Client()];
    for (const [i, client] of clients.entries()) await client.post(`${strictFleet[i]!.url}/login/dora`);
    for (const server of strictFleet) for (const client of clients) assert.equal((await client.fork().get(`${server.url}/whoami`)).body.userId, "dora");
    assert.deepEqual(json(await latchkey(["--store", REDIS_URL, "--prefix", prefix, "--strict", "--json", "sessions", "revoke-user", "dora"])), { count: 2 });
    // No waiting: the CLI resolved after every app acknowledged.
    for (const server of strictFleet) for (const client of clients) assert.equal((await client.fork().get(`${server.url}/whoami`)).body.userId, null);
  });
});

const postgres = await requirePostgres();
describe("latchkey CLI on PostgreSQL", { skip: postgres.skip }, () => {
  const table = `latchkey_cli_${process.pid}_${Date.now() % 100_000}`;
  const admin = new pg.Pool({ connectionString: databaseUrl, max: 1 });
  after(async () => {
    await admin.query(`DROP TABLE IF EXISTS ${table}, ${table}_leases`);
    await admin.end();
  });

  it("schema upgrade creates the table (idempotently); list and revoke-user use it", async () => {
    for (let i = 0; i < 2; i++) {
      assert.deepEqual(json(await latchkey(["--store", databaseUrl, "--table", table, "--json", "schema", "upgrade"])), {
        upgraded: `PostgreSQL table ${table}`,
      });
    }
    const columns = await admin.query<{ column_name: string }>("SELECT column_name FROM information_schema.columns WHERE table_name = $1", [table]);
    assert.ok(columns.rows.some((c) => c.column_name === "device"));
    const sessions = createSessions({ store: postgresStore({ connectionString: databaseUrl, table, createSchema: false }), sweepInterval: false });
    try {
      for (const ua of [FIREFOX, IPHONE]) {
        const session = await sessions.load(undefined, { cookieHeader: undefined, userAgent: ua, ip: () => undefined });
        await session.login("erin");
      }
      const listed = json(await latchkey(["--store", databaseUrl, "--table", table, "--json", "sessions", "list", "erin"])) as Array<{ device: string }>;
      assert.deepEqual(listed.map((s) => s.device).sort(), ["Firefox on Linux", "Safari on iOS"]);
      assert.deepEqual(json(await latchkey(["--store", databaseUrl, "--table", table, "--json", "sessions", "revoke-user", "erin"])), { count: 2 });
      assert.deepEqual(await sessions.list("erin"), []);
      // A control character in a user id is bad input (exit 2), never "the store is unavailable".
      // (A NUL cannot reach a process's argv; the library's conformance suite covers it.)
      const bad = await latchkey(["--store", databaseUrl, "--table", table, "sessions", "list", "er\u001bin"]);
      assert.equal(bad.code, 2, bad.stderr);
      assert.match(bad.stderr, /userId must not contain control characters/);
    } finally {
      await sessions.close();
    }
  });
});
