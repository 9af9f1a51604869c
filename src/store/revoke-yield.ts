// revokeUserYield, shared by the Redis and PostgreSQL stores. revokeUser ends a user's sessions in
// bounded steps; run back to back, the steps took most of the store's time and of the CPU, and other
// users' reads waited (p99 2.5–4× idle with 10^4 sessions revoked, docs/capacity.md). Waiting a multiple
// of each step's own time before the next keeps the revoke to a share of both, and adapts to load: a
// busy store makes steps slower, and the waits grow with them.
import { setTimeout as sleep } from "node:timers/promises";

/** The default: other clients keep about two thirds of the time while a user's sessions are revoked. */
export const DEFAULT_REVOKE_USER_YIELD = 2;

/** Validates a store's `revokeUserYield` option; a TypeError says what to give. */
export function resolveRevokeUserYield(store: string, value: unknown): number {
  const factor = value === undefined ? DEFAULT_REVOKE_USER_YIELD : value;
  if (typeof factor !== "number" || !Number.isFinite(factor) || factor < 0 || factor > 100) {
    throw new TypeError(
      `latchkey: ${store} revokeUserYield must be a number from 0 to 100, how many times a revokeUser step's own time to wait before the next (got ${String(value)}); e.g. 2, or 0 for no pause`,
    );
  }
  return factor;
}

/**
 * The longest wait between two steps, whatever the factor: a step slowed to seconds by a stalled network
 * says nothing about contention, and a user's revocation should not stand still for several times that.
 */
export const MAX_REVOKE_USER_WAIT_MS = 1000;

/** Waits `factor` × the time since `began` (a performance.now() reading taken when the step began), at most MAX_REVOKE_USER_WAIT_MS. */
export async function yieldAfterStep(began: number, factor: number): Promise<void> {
  if (factor > 0) await sleep(Math.min((performance.now() - began) * factor, MAX_REVOKE_USER_WAIT_MS));
}
