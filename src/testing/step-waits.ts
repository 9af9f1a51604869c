// Checks revokeUserYield from the outside: the times a store's revokeUser steps (scripts, statements) ran.
import assert from "node:assert/strict";

/** When one step was sent and when its reply came back (performance.now()). */
export interface StepTiming {
  start: number;
  end: number;
}

/**
 * Asserts that each step after the first began at least `revokeUserYield` × the previous step's time after it
 * ended, and with 0 went straight on.
 */
export function assertStepWaits(steps: readonly StepTiming[], revokeUserYield: number): void {
  for (let i = 1; i < steps.length; i++) {
    const waited = steps[i]!.start - steps[i - 1]!.end;
    const least = (steps[i - 1]!.end - steps[i - 1]!.start) * revokeUserYield;
    assert.ok(
      waited >= least - 2,
      `revokeUserYield ${revokeUserYield}: step ${i + 1} began ${waited.toFixed(1)} ms after step ${i} ended, expected ≥ ${least.toFixed(1)}`,
    );
    if (revokeUserYield === 0) assert.ok(waited < 20, `revokeUserYield 0: step ${i + 1} waited ${waited.toFixed(1)} ms`);
  }
}
