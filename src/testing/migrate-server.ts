// A latchkey server process that migrates users of the old stack (see legacy-app.ts).
// Env: LATCHKEY_STORE (store spec), LEGACY_KIND, LEGACY_SECRETS (JSON array), LEGACY_REDIS_URL + LEGACY_PREFIX
// (+ LEGACY_CLIENT "ioredis" | "redis"), or DATABASE_URL + LEGACY_TABLE. Adds GET /legacy-count.
import type { AddressInfo } from "node:net";
import { createSessions } from "../core/index.js";
import { countLegacySessions, expressSessionMigration, fastifySessionMigration } from "../migrate/index.js";
import { buildApp } from "./app.js";
import { storeFromSpec } from "./stores.js";

const express = (await import("express")).default;
const kind = process.env.LEGACY_KIND ?? "express-redis";
let source: { redis: object; prefix: string } | { pool: object; table: string };
let closeSource: () => Promise<void>;
if (kind === "express-pg") {
  const pg = (await import("pg")).default;
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 4 });
  source = { pool, table: process.env.LEGACY_TABLE ?? "session" };
  closeSource = () => pool.end();
} else if (process.env.LEGACY_CLIENT === "ioredis") {
  const { Redis } = await import("ioredis");
  const client = new Redis(process.env.LEGACY_REDIS_URL!);
  source = { redis: client, prefix: process.env.LEGACY_PREFIX ?? "sess:" };
  closeSource = async () => void client.disconnect();
} else {
  const { createClient } = await import("redis");
  const client = createClient({ url: process.env.LEGACY_REDIS_URL });
  client.on("error", () => undefined);
  await client.connect();
  source = { redis: client, prefix: process.env.LEGACY_PREFIX ?? "sess:" };
  closeSource = async () => void client.destroy();
}
const secret = JSON.parse(process.env.LEGACY_SECRETS ?? '["legacy-secret-legacy-secret-legacy-secret"]') as string[];
const options = { secret, source, userId: (old: any) => old.passport?.user ?? null };
const migration = kind === "fastify-redis" ? fastifySessionMigration(options) : expressSessionMigration(options);
const sessions = createSessions({ store: await storeFromSpec(process.env.LATCHKEY_STORE ?? "memory"), sweepInterval: false, migrateFrom: migration });
const app = buildApp(express as never, sessions);
app.get("/legacy-count", (_req, res) => {
  countLegacySessions(migration).then(
    (count) => res.json({ count }),
    (error: Error) => res.status(500).json({ error: error.message }),
  );
});
const server = app.listen(0, "127.0.0.1", () => {
  process.stdout.write(`${JSON.stringify({ port: (server.address() as AddressInfo).port })}\n`);
});
const stop = () => {
  server.close();
  void sessions
    .close()
    .then(closeSource)
    .finally(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
