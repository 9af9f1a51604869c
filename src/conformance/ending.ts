// The writes that end a token: rotate (the old id dies, the data moves), destroy and destroyUser
// (with and without `except`), each final (G1) and atomic against a concurrent rotation of the same
// user. Part of runStoreConformance (every store, a third party's too).
import assert from "node:assert/strict";
import { it } from "node:test";
import type { SessionStore } from "../store/index.js";
import { newIdFor, sampleRecord } from "./records.js";

const HOUR = 3_600_000;

type Fresh = () => Promise<SessionStore>;

/** The rotate, destroy and destroyUser cases, run inside runStoreConformance's describe. */
export function endingCases(fresh: Fresh): void {
  it("rotate moves the data to a new id and kills the old one", async () => {
    const store = await fresh();
    const record = sampleRecord({ data: { cart: ["x"], theme: "dark" } });
    await store.create(record);
    const now = Date.now();
    const newId = newIdFor("bob");
    const result = await store.rotate(record.id, {
      newId,
      userId: "bob",
      change: { set: { greeting: "hi" }, unset: ["theme"] },
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now + HOUR,
      absoluteExpiresAt: now + 2 * HOUR,
    });
    assert.equal(result.status, "ok");
    assert.equal(await store.get(record.id), null);
    const stored = await store.get(newId);
    assert.deepEqual(stored?.data, { cart: ["x"], greeting: "hi" });
    assert.equal(stored?.userId, "bob");
    assert.equal(stored?.absoluteExpiresAt, now + 2 * HOUR);
    if (result.status === "ok") assert.deepEqual(result.record, stored);
    assert.deepEqual(
      (await store.listUser("bob")).map((r) => r.id),
      [newId],
    );
    const stale = await store.patch(record.id, { change: { set: { a: 1 }, unset: [] }, lastSeenAt: now, expiresAt: now + HOUR });
    assert.deepEqual(stale, { status: "gone" });
    assert.equal(await store.get(record.id), null);
  });

  it("rotate of a missing session is gone and creates nothing", async () => {
    const store = await fresh();
    const now = Date.now();
    const newId = newIdFor("carol");
    const result = await store.rotate(sampleRecord().id, {
      newId,
      userId: "carol",
      change: { set: {}, unset: [] },
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now + HOUR,
      absoluteExpiresAt: now + HOUR,
    });
    assert.deepEqual(result, { status: "gone" });
    assert.equal(await store.get(newId), null);
    assert.deepEqual(await store.listUser("carol"), []);
  });

  it("rotate to another user moves the session between user indexes", async () => {
    const store = await fresh();
    const record = sampleRecord({ userId: "dave" });
    await store.create(record);
    const now = Date.now();
    const newId = newIdFor("erin");
    await store.rotate(record.id, {
      newId,
      userId: "erin",
      change: { set: {}, unset: [] },
      createdAt: now,
      lastSeenAt: now,
      expiresAt: now + HOUR,
      absoluteExpiresAt: now + HOUR,
    });
    assert.deepEqual(await store.listUser("dave"), []);
    assert.deepEqual(
      (await store.listUser("erin")).map((r) => r.id),
      [newId],
    );
  });

  it("destroy is final: nothing brings the session back (G1)", async () => {
    const store = await fresh();
    const record = sampleRecord({ userId: "frank" });
    await store.create(record);
    assert.deepEqual(await store.destroy(record.id), { id: record.id, userId: "frank" }, "destroy resolves to what it deleted");
    assert.equal(await store.destroy(record.id), null);
    assert.equal(await store.get(record.id), null);
    assert.deepEqual(await store.patch(record.id, { change: { set: { a: 1 }, unset: [] }, lastSeenAt: 1, expiresAt: Date.now() + HOUR }), { status: "gone" });
    assert.equal(await store.touch(record.id, 1, Date.now() + HOUR), false);
    assert.equal(await store.get(record.id), null);
    assert.deepEqual(await store.listUser("frank"), []);
  });

  it("destroyUser racing a same-user rotate leaves no session of that user alive", async () => {
    const store = await fresh();
    for (let round = 0; round < 30; round++) {
      const record = sampleRecord({ userId: "rita" });
      await store.create(record);
      const now = Date.now();
      const newId = newIdFor("rita");
      await Promise.all([
        store.rotate(record.id, {
          newId,
          userId: "rita",
          change: { set: {}, unset: [] },
          createdAt: now,
          lastSeenAt: now,
          expiresAt: now + HOUR,
          absoluteExpiresAt: now + HOUR,
        }),
        store.destroyUser("rita"),
      ]);
      assert.equal(await store.get(record.id), null, `round ${round}: old id`);
      assert.equal(await store.get(newId), null, `round ${round}: the rotated session survived log-out-everywhere`);
    }
  });

  it("destroyUser deletes all of one user's sessions and no one else's", async () => {
    const store = await fresh();
    const mine = [sampleRecord({ userId: "gina" }), sampleRecord({ userId: "gina" }), sampleRecord({ userId: "gina" })];
    const other = sampleRecord({ userId: "hank" });
    const anonymous = sampleRecord();
    for (const record of [...mine, other, anonymous]) await store.create(record);
    assert.deepEqual(
      (await store.destroyUser("gina")).map((ended) => ended.id).sort(),
      mine.map((record) => record.id).sort(),
      "destroyUser resolves to the sessions it ended",
    );
    for (const record of mine) assert.equal(await store.get(record.id), null);
    assert.ok(await store.get(other.id));
    assert.ok(await store.get(anonymous.id));
    assert.deepEqual(await store.destroyUser("gina"), []);
    assert.deepEqual(
      (await store.listUser("hank")).map((r) => r.id),
      [other.id],
    );
  });

  it("destroyUser with except ends every other session of the user and keeps that one", async () => {
    const store = await fresh();
    const keep = sampleRecord({ userId: "kate" });
    const others = [sampleRecord({ userId: "kate" }), sampleRecord({ userId: "kate" })];
    const stranger = sampleRecord({ userId: "liam" });
    for (const record of [keep, ...others, stranger]) await store.create(record);
    assert.deepEqual((await store.destroyUser("kate", { except: keep.id })).map((ended) => ended.id).sort(), others.map((record) => record.id).sort());
    for (const record of others) assert.equal(await store.get(record.id), null);
    assert.ok(await store.get(keep.id), "the kept session is alive");
    assert.ok(await store.get(stranger.id));
    assert.deepEqual(
      (await store.listUser("kate")).map((r) => r.id),
      [keep.id],
      "the kept session is still listed",
    );
    assert.deepEqual(await store.destroyUser("kate", { except: keep.id }), []);
    // The kept session can still be patched, and a plain destroyUser ends it.
    assert.equal((await store.patch(keep.id, { change: { set: { a: 1 }, unset: [] }, lastSeenAt: keep.lastSeenAt, expiresAt: keep.expiresAt })).status, "ok");
    assert.deepEqual(
      (await store.destroyUser("kate")).map((ended) => ended.id),
      [keep.id],
    );
    assert.equal(await store.get(keep.id), null);
    // An id that is not the user's keeps nothing back.
    const mine = sampleRecord({ userId: "kate" });
    await store.create(mine);
    assert.deepEqual(
      (await store.destroyUser("kate", { except: stranger.id })).map((ended) => ended.id),
      [mine.id],
    );
    assert.ok(await store.get(stranger.id));
  });

  it("destroyUser with except racing a same-user rotate leaves only the kept session", async () => {
    const store = await fresh();
    const keep = sampleRecord({ userId: "mona" });
    await store.create(keep);
    for (let round = 0; round < 20; round++) {
      const record = sampleRecord({ userId: "mona" });
      await store.create(record);
      const now = Date.now();
      const newId = newIdFor("mona");
      await Promise.all([
        store.rotate(record.id, {
          newId,
          userId: "mona",
          change: { set: {}, unset: [] },
          createdAt: now,
          lastSeenAt: now,
          expiresAt: now + HOUR,
          absoluteExpiresAt: now + HOUR,
        }),
        store.destroyUser("mona", { except: keep.id }),
      ]);
      assert.equal(await store.get(record.id), null, `round ${round}: old id`);
      assert.equal(await store.get(newId), null, `round ${round}: the rotated session survived`);
      assert.ok(await store.get(keep.id), `round ${round}: the kept session was ended`);
    }
  });
}
