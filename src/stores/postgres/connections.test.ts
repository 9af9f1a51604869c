// When PostgreSQL runs out of connections (max_connections, or a role's CONNECTION LIMIT — the same
// error, 53300, which is how it is provoked here without starving the shared server): the error says
// what each process holds and what to change, on the pool's path and on the feed's LISTEN connection;
// and a process that cannot send its strict acknowledgement says so, while the revoker waits out its
// lease (G3 holds) and stops waiting once connections are back. A role and schema of its own, dropped at the end.
import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, before, describe, it } from "node:test";
import pg from "pg";
import { createSessions, type Sessions } from "../../core/index.js";
import { waitFor } from "../../testing/client.js";
import { databaseUrl, requirePostgres } from "../../testing/postgres.js";
import { postgresStore, upgradeSchema } from "./index.js";

const { skip } = await requirePostgres();
const OUT_OF_CONNECTIONS = /PostgreSQL at [^ ]+ refused a connection: too many connections for role "lk_conn_\w+"\. Each process holds up to its pool's max/;

describe("PostgreSQL out of connections", { skip }, () => {
  const suffix = `${process.pid}_${randomBytes(3).toString("hex")}`;
  const role = `lk_conn_${suffix}`;
  const schema = role;
  const table = "sessions";
  const admin = new pg.Client(databaseUrl);
  /** The role's URL, with an application_name that finds its pool's backends. */
  const roleUrl = (applicationName: string): string => {
    const url = new URL(databaseUrl);
    url.username = role;
    url.password = "";
    url.searchParams.set("application_name", applicationName);
    return url.href;
  };
  const limit = (connections: number) => admin.query(`ALTER ROLE ${role} CONNECTION LIMIT ${connections}`);

  before(async () => {
    if (skip) return;
    await admin.connect();
    await admin.query(`CREATE ROLE ${role} LOGIN CONNECTION LIMIT 0`);
    await admin.query(`CREATE SCHEMA ${schema} AUTHORIZATION ${role}`);
  });
  after(async () => {
    if (skip) return;
    await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = $1", [role]);
    await admin.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await admin.query(`DROP ROLE IF EXISTS ${role}`);
    await admin.end();
  });

  it("a refused connection says what each process holds, on the pool's path and on the feed's", async () => {
    await limit(0);
    const store = postgresStore({ connectionString: roleUrl(`${role}_refused`), table, schema });
    try {
      await assert.rejects(store.get("x".repeat(43)), (error: Error) => OUT_OF_CONNECTIONS.test(error.message) && /max_connections/.test(error.message));
      const down = await new Promise<Error>((resolve) => {
        const subscription = store.feed.listen("inbox", { message: () => undefined, up: () => undefined, down: resolve });
        after(() => subscription.close());
      });
      assert.match(down.message, OUT_OF_CONNECTIONS);
    } finally {
      await store.close();
    }
  });

  it("strict: an acknowledgement that cannot be sent is logged, the revoker waits out that lease, and stops waiting once connections are back", async () => {
    // B holds exactly its LISTEN connection and a pool of one; A (the revoker) connects as the admin.
    await limit(2);
    const appName = `${role}_b`;
    const warnings: string[] = [];
    const poolB = new pg.Pool({ connectionString: roleUrl(appName), max: 1 });
    poolB.on("error", () => undefined);
    const opened: Sessions[] = [];
    const open = (store: ReturnType<typeof postgresStore>, warn: (message: string) => void): Sessions => {
      const sessions = createSessions({
        store,
        sweepInterval: false,
        nearCache: { lease: 2000 },
        revocation: "strict",
        logger: { warn, error: () => undefined },
      });
      opened.push(sessions);
      return sessions;
    };
    // The role owns the tables, so both A (superuser) and B (the role) may use them.
    await upgradeSchema({ connectionString: databaseUrl, table, schema });
    for (const name of [table, `${table}_leases`]) await admin.query(`ALTER TABLE ${schema}.${name} OWNER TO ${role}`);
    const a = open(postgresStore({ connectionString: databaseUrl, table, schema }), () => undefined);
    const b = open(postgresStore({ pool: poolB, table, schema }), (message) => warnings.push(message));
    const blocker: { client: pg.Client | null } = { client: null };
    try {
      await waitFor(async () => a.stats().serving && b.stats().serving, `both near-caches to serve (${warnings.join("; ")})`, 10_000);
      const signIn = async (user: string): Promise<string> => {
        const session = await a.load(undefined);
        await session.login(user);
        const cookie = session.cookieInstruction();
        assert.equal(cookie.action, "set");
        const token = cookie.action === "set" ? cookie.token : "";
        assert.equal((await b.load(token)).userId, user, "B caches the session");
        return token;
      };
      const alice = await signIn("alice");

      // B's pooled connection is killed and the role's last slot taken: B's acknowledgement cannot connect.
      await waitFor(
        async () => {
          await admin.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1", [appName]);
          const client = new pg.Client(roleUrl(`${role}_blocker`));
          client.on("error", () => undefined);
          return client.connect().then(
            () => ((blocker.client = client), true),
            () => false,
          );
        },
        "the blocker to take B's slot",
        10_000,
      );
      const waitedOut = a.stats().strictWaitedOut;
      const started = performance.now();
      await (await a.load(alice)).logout();
      const took = performance.now() - started;
      assert.equal(a.stats().strictWaitedOut, waitedOut + 1, `A waited out B's lease (${took.toFixed(0)} ms)`);
      await waitFor(async () => warnings.some((line) => /could not acknowledge a strict revocation/.test(line)), "B's warning");
      const line = warnings.find((w) => /could not acknowledge/.test(w))!;
      assert.match(line, OUT_OF_CONNECTIONS);
      assert.match(line, /waits until this process's lease runs out/);
      // B applied the notice before it tried to acknowledge: it never accepts alice again.
      const read = await b.load(alice).then(
        (session) => session.userId,
        () => null,
      );
      assert.equal(read, null);

      // Connections back: B serves again and acknowledges; nothing is waited out.
      await blocker.client!.end();
      blocker.client = null;
      await waitFor(async () => b.stats().serving, "B to serve again", 10_000);
      const bob = await signIn("bob");
      await (await a.load(bob)).logout();
      assert.equal(a.stats().strictWaitedOut, waitedOut + 1, "B acknowledged");
      assert.equal(warnings.filter((w) => /could not acknowledge/.test(w)).length, 1, "one warning, not one per failure");
    } finally {
      await blocker.client?.end().catch(() => undefined);
      for (const sessions of opened) await sessions.close();
      await poolB.end();
    }
  });
});
