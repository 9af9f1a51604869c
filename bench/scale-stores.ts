// The Redis and PostgreSQL stores bench:scale measures, opened alike by the bench (bench/scale.ts) and by its
// revoking process (bench/scale-revoke.ts), so both write the same keys and revoke with the same settings.
import type pg from "pg";
import { postgresStore } from "../src/stores/postgres/index.js";
import { redisStore } from "../src/stores/redis/index.js";

/** The key prefix of every session the bench loads into its private redis-server. */
export const SCALE_PREFIX = "scale:";

/** bench:scale's --revoke-user-yield, handed to the revoking process in the environment; undefined: the stores' default. */
export function revokeUserYield(): number | undefined {
  const given = process.env.SCALE_REVOKE_USER_YIELD;
  return given === undefined ? undefined : Number(given);
}

/** A long command timeout: the bench keeps many commands in flight on a busy machine. */
export const scaleRedisStore = (url: string) => redisStore({ url, prefix: SCALE_PREFIX, commandTimeout: 60_000, revokeUserYield: revokeUserYield() });

export const scalePostgresStore = (pool: pg.Pool, table: string) => postgresStore({ pool, table, revokeUserYield: revokeUserYield() });
