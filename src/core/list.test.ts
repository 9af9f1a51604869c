import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { memoryStore } from "../stores/memory/index.js";
import { createSessions, type SessionPage } from "./index.js";

const MIN = 60_000;

async function signedIn(count: number, userId: string) {
  const clock = { now: 1_700_000_000_000 };
  const sessions = createSessions({ store: memoryStore(), idleTimeout: 30 * MIN, absoluteTimeout: 120 * MIN, sweepInterval: false, now: () => clock.now });
  for (let i = 0; i < count; i += 1) {
    const session = await sessions.load(undefined);
    await session.login(userId);
    await session.commit();
  }
  return { sessions, clock };
}

describe("sessions.list(userId, { limit, cursor })", () => {
  it("pages through every session once, { items, next }, next null after the last page", async () => {
    const { sessions } = await signedIn(7, "lena");
    const seen: string[] = [];
    const sizes: number[] = [];
    let cursor: string | null = null;
    do {
      const page: SessionPage = await sessions.list("lena", { limit: 3, cursor });
      sizes.push(page.items.length);
      seen.push(...page.items.map((info) => info.handle));
      cursor = page.next;
    } while (cursor !== null);
    assert.deepEqual(sizes, [3, 3, 1]);
    assert.equal(new Set(seen).size, 7);
    assert.deepEqual(new Set(seen), new Set((await sessions.list("lena")).map((info) => info.handle)), "the pages hold what list(userId) returns");
    const first = await sessions.list("lena", {});
    assert.equal(first.items.length, 7, "default limit 100");
    assert.equal(first.next, null);
  });

  it("list(userId) without options still returns every session, most recently seen first", async () => {
    const { sessions } = await signedIn(3, "mona");
    const all = await sessions.list("mona");
    assert.ok(Array.isArray(all));
    assert.equal(all.length, 3);
  });

  it("expired sessions are left out of a page, and the cursor still moves on", async () => {
    const { sessions, clock } = await signedIn(4, "nils");
    clock.now += 31 * MIN;
    const page = await sessions.list("nils", { limit: 2 });
    assert.deepEqual(page.items, []);
    assert.notEqual(page.next, null, "a full page of expired records still has a next page");
    const rest = await sessions.list("nils", { limit: 2, cursor: page.next });
    assert.deepEqual(rest.items, []);
  });

  it("a bad limit or cursor is a TypeError that says what to pass", async () => {
    const { sessions } = await signedIn(1, "olga");
    for (const limit of [0, 1001, 1.5, "10"]) {
      await assert.rejects(
        sessions.list("olga", { limit: limit as number }),
        (error: Error) => error instanceof TypeError && /limit must be a whole number from 1 to 1000/.test(error.message),
      );
    }
    await assert.rejects(sessions.list("olga", { cursor: "not-a-cursor" }), /list: cursor must be a session handle/);
    await assert.rejects(sessions.list("olga", null as never), /options must be an object/);
  });
});
