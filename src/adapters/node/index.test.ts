import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createSessions } from "../../core/index.js";
import { memoryStore } from "../../stores/memory/index.js";
import { runHttpSuite } from "../../testing/http-suite.js";
import { nodeServer } from "../../testing/servers.js";
import { nodeSessions } from "./index.js";

runHttpSuite({ name: "node:http", makeServer: nodeServer });

describe("nodeSessions", () => {
  it("rejects a non-sessions argument or a missing handler with a clear TypeError", async () => {
    assert.throws(() => nodeSessions({} as never, () => undefined), /nodeSessions\(sessions\) needs the object returned by createSessions/);
    const sessions = createSessions({ store: memoryStore(), sweepInterval: false });
    assert.throws(() => nodeSessions(sessions, undefined as never), /needs a handler/);
    assert.throws(() => nodeSessions(sessions, () => undefined, { onError: 1 as never }), /onError must be a function/);
    await sessions.close();
  });
});
