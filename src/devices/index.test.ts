import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createSessions } from "../core/index.js";
import { memoryStore } from "../stores/memory/index.js";
import { deviceOf } from "./index.js";

const request = (userAgent: string, ip = "10.0.0.1") => ({ cookieHeader: undefined, userAgent, ip: () => ip });

describe("deviceOf", () => {
  it("strips C0, DEL and C1 control characters (U+0080–U+009F) from the User-Agent", () => {
    assert.deepEqual(deviceOf(request("curl/8.5.0\u0000\u001b[31m\u007f\u0080\u009b31m\u009f"), false), { userAgent: "curl/8.5.0[31m31m" });
    assert.deepEqual(deviceOf(request("Caf\u00e9 \u00a0agent"), false), { userAgent: "Caf\u00e9 \u00a0agent" }, "Latin-1 letters and NBSP stay");
    assert.equal(deviceOf(request("\u0085\u009b"), false), undefined, "nothing left to record");
  });

  it("refuses an address with a C1 control character", () => {
    assert.deepEqual(deviceOf(request("curl/8", "10.0.0.1\u0085"), true), { userAgent: "curl/8" });
  });

  it("sessions.list() shows the cleaned User-Agent", async () => {
    const sessions = createSessions({ store: memoryStore(), sweepInterval: false });
    try {
      const session = await sessions.load(undefined, request("Mozilla/5.0 \u009b2J(X11)"));
      await session.login("uma");
      assert.equal((await sessions.list("uma"))[0]!.userAgent, "Mozilla/5.0 2J(X11)");
    } finally {
      await sessions.close();
    }
  });
});
