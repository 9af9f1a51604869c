// bench:scale's revoker in a process of its own: revokeUser(userId) on the store the bench loaded, so the
// bench's reads measure what the revoke does to the store, not to the reading process's event loop (which
// is how "log out everywhere" runs in a deployment: one app process or an admin job, while others serve).
// Protocol: argv <redis|postgres|sqlite> <url | connection string | path> [table] <userId>; prints "ready"
// once connected, revokes on a line "go" on stdin, then prints {"ms": N, "revoked": N} and exits.
import { createInterface } from "node:readline";
import pg from "pg";
import { createSessions } from "../src/core/index.js";
import type { SessionStore } from "../src/store/index.js";
import { sqliteStore } from "../src/stores/sqlite/index.js";
import { scalePostgresStore, scaleRedisStore } from "./scale-stores.js";

const [kind, target, ...rest] = process.argv.slice(2);
const userId = rest.at(-1);
if (!kind || !target || !userId) throw new Error("usage: scale-revoke.ts <redis|postgres|sqlite> <target> [table] <userId>");
const pool = kind === "postgres" ? new pg.Pool({ connectionString: target, max: 2 }) : null;
const store: SessionStore = kind === "redis" ? scaleRedisStore(target) : pool ? scalePostgresStore(pool, rest[0]!) : sqliteStore({ path: target });
const sessions = createSessions({ store, sweepInterval: false, logger: { warn: () => undefined, error: console.error } });
await store.get("none:none"); // connected before the clock starts
const lines = createInterface({ input: process.stdin });
process.stdout.write("ready\n");
for await (const line of lines) {
  if (line !== "go") continue;
  const start = performance.now();
  const revoked = await sessions.revokeUser(userId);
  process.stdout.write(`${JSON.stringify({ ms: performance.now() - start, revoked })}\n`);
  break;
}
lines.close();
await sessions.close();
await pool?.end();
