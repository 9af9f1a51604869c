import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { MAX_REVOKE_USER_WAIT_MS, resolveRevokeUserYield, yieldAfterStep } from "./revoke-yield.js";

describe("revokeUserYield", () => {
  it("defaults to 2 and refuses what is not a number from 0 to 100, saying what to give", () => {
    assert.equal(resolveRevokeUserYield("redisStore", undefined), 2);
    assert.equal(resolveRevokeUserYield("redisStore", 0), 0);
    assert.equal(resolveRevokeUserYield("redisStore", 0.5), 0.5);
    for (const value of [-1, 101, Number.NaN, Number.POSITIVE_INFINITY, "2", null]) {
      assert.throws(
        () => resolveRevokeUserYield("postgresStore", value),
        /latchkey: postgresStore revokeUserYield must be a number from 0 to 100.*e\.g\. 2, or 0/,
      );
    }
  });

  it("waits factor × the step's time, but never longer than MAX_REVOKE_USER_WAIT_MS after a step that stalled", async () => {
    let start = performance.now();
    await yieldAfterStep(start - 20, 2);
    const waited = performance.now() - start;
    assert.ok(waited >= 38 && waited < 500, `a 20 ms step, factor 2: waited ${waited.toFixed(1)} ms`);
    start = performance.now();
    await yieldAfterStep(start - 5000, 2); // a step that took 5 s
    const capped = performance.now() - start;
    assert.ok(capped >= MAX_REVOKE_USER_WAIT_MS - 2 && capped < MAX_REVOKE_USER_WAIT_MS + 500, `after a 5 s step: waited ${capped.toFixed(0)} ms`);
    start = performance.now();
    await yieldAfterStep(start - 5000, 0);
    assert.ok(performance.now() - start < 20, "0: no wait");
  });
});
