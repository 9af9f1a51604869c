// The PostgreSQL the tests use (DATABASE_URL), and the skip/fail decision when it is absent.
import pg from "pg";
import { requireService } from "./services.js";

export const databaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";

export function requirePostgres(): Promise<{ skip: string | false }> {
  return requireService(
    "PostgreSQL",
    async () => {
      const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 3000 });
      try {
        await client.connect();
        await client.query("SELECT 1");
      } finally {
        await client.end().catch(() => undefined);
      }
    },
    { hint: `DATABASE_URL=${databaseUrl}` },
  );
}
