// keepListening: a feed attempt that never settles (a frozen server or Sentinel, a half-open
// socket) must not keep the feed down forever.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { keepListening, type FeedConnection } from "./feed.js";

describe("keepListening", () => {
  it("gives up an attempt that never resolves, opens a new connection, and closes the late one if it arrives", async () => {
    const closed: string[] = [];
    let releaseFirst: ((connection: FeedConnection) => void) | null = null;
    let attempts = 0;
    const events: string[] = [];
    let up: () => void = () => undefined;
    const isUp = new Promise<void>((resolve) => (up = resolve));
    const subscription = keepListening(
      () => {
        attempts++;
        const name = `connection ${attempts}`;
        const connection: FeedConnection = { close: async () => void closed.push(name) };
        // The first attempt hangs (until released below); the next ones connect at once.
        if (attempts === 1) return new Promise<FeedConnection>((resolve) => (releaseFirst = resolve));
        return Promise.resolve(connection);
      },
      {
        message: () => undefined,
        up: () => {
          events.push("up");
          up();
        },
        down: (error) => events.push(`down: ${error.message}`),
      },
      { attemptTimeout: 100 },
    );
    const started = performance.now();
    await Promise.race([isUp, new Promise((_, reject) => setTimeout(() => reject(new Error("the feed never came back")), 3000))]);
    assert.ok(performance.now() - started < 2000, "back within the attempt timeout and one retry");
    assert.deepEqual(events, ["down: the feed's connection was not subscribed within 100 ms", "up"]);
    // The hung attempt completes late: its connection is closed, never used.
    releaseFirst!({ close: async () => void closed.push("connection 1 (late)") });
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.deepEqual(closed, ["connection 1 (late)"]);
    await subscription.close();
    assert.deepEqual(closed, ["connection 1 (late)", "connection 2"]);
  });

  it("refuses a bad attemptTimeout", () => {
    const listener = { message: () => undefined, up: () => undefined, down: () => undefined };
    for (const attemptTimeout of [0, -1, Infinity, Number.NaN, "10" as never]) {
      assert.throws(() => keepListening(() => new Promise(() => undefined), listener, { attemptTimeout }), /attemptTimeout must be a positive number of ms/);
    }
  });
});
