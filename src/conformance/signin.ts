// Store contract for the sign-in features: per-session meta fields (lifetime,
// authenticatedAt, impersonator), impersonations listed and revoked for both
// users, and the per-user session limit enforced atomically by create and rotate.
import assert from "node:assert/strict";
import { it } from "node:test";
import { idOfToken, type CreateResult, type SessionLimit, type SessionRecord, type SessionStore } from "../store/index.js";
import { mintToken } from "../store/token.js";

const HOUR = 3_600_000;

type Sample = (overrides?: Partial<SessionRecord> & { userId?: string | null }) => SessionRecord;

/** An impersonation's record: `userId` viewed by `impersonator`, its id on the impersonator's route. */
function impersonation(sample: Sample, userId: string, impersonator: string, overrides: Partial<SessionRecord> = {}): SessionRecord {
  return sample({ userId, impersonator, id: idOfToken(mintToken(impersonator)), ...overrides });
}

const rotation = (userId: string | null, extra: Record<string, unknown> = {}) => {
  const now = Date.now();
  return {
    newId: idOfToken(mintToken((extra.impersonator as string | undefined) ?? userId)),
    userId,
    change: { set: {}, unset: [] },
    createdAt: now,
    lastSeenAt: now,
    expiresAt: now + HOUR,
    absoluteExpiresAt: now + 2 * HOUR,
    ...extra,
  };
};

const limit = (max: number, onLimit: SessionLimit["onLimit"]): SessionLimit => ({ max, onLimit, now: Date.now() });

/** Registers the cases inside runStoreConformance's describe. `supportsLimits`: the store says sessionLimits. */
export function signInStoreCases(fresh: () => Promise<SessionStore>, sample: Sample): void {
  it("meta fields (idleTimeout, persistent, authenticatedAt) round-trip through create, get, listUser; patch and touch keep them; rotate writes its input's", async () => {
    const store = await fresh();
    const meta = { idleTimeout: 30 * 24 * HOUR, persistent: false, authenticatedAt: Date.now() - 5000 };
    const record = sample({ userId: "store-mia", ...meta });
    await store.create(record);
    assert.deepEqual(await store.get(record.id), record);
    assert.deepEqual(
      (await store.listUser("store-mia")).map(({ device: _device, ...rest }) => rest),
      [record],
    );
    await store.patch(record.id, { change: { set: { k: 1 }, unset: [] }, lastSeenAt: record.lastSeenAt + 1, expiresAt: record.expiresAt + 1 });
    await store.touch(record.id, record.lastSeenAt + 2, record.expiresAt + 2);
    const kept = await store.get(record.id);
    assert.deepEqual(
      { idleTimeout: kept?.idleTimeout, persistent: kept?.persistent, authenticatedAt: kept?.authenticatedAt },
      meta,
      "patch and touch keep the meta fields",
    );
    // A rotation writes exactly the meta it is given: new values, and absent ones absent.
    const input = rotation("store-mia", { authenticatedAt: meta.authenticatedAt + 4000, idleTimeout: 1000 });
    const rotated = await store.rotate(record.id, input);
    assert.equal(rotated.status, "ok");
    const stored = await store.get(input.newId);
    assert.equal(stored?.authenticatedAt, meta.authenticatedAt + 4000);
    assert.equal(stored?.idleTimeout, 1000);
    assert.equal(stored?.persistent, undefined, "a rotation without persistent drops it");
    if (rotated.status === "ok") assert.deepEqual(rotated.record, { ...stored, ...(rotated.record.device ? { device: rotated.record.device } : {}) });
    const plain = sample({ userId: "store-mia" });
    await store.create(plain);
    const bare = await store.get(plain.id);
    assert.ok(
      bare && !("idleTimeout" in bare) && !("persistent" in bare) && !("authenticatedAt" in bare) && !("impersonator" in bare),
      "a record without meta comes back without it",
    );
  });

  it("an impersonation is listed for both users and destroyUser of either ends it; rotating back to the impersonator ends it", async () => {
    const store = await fresh();
    const admin = sample({ userId: "store-root" });
    const acting = impersonation(sample, "store-nina", "store-root", { authenticatedAt: 1_700_000_000_000 });
    const own = sample({ userId: "store-nina" });
    for (const record of [admin, acting, own]) await store.create(record);
    const ids = async (user: string) => (await store.listUser(user)).map((r) => r.id).sort();
    assert.deepEqual(await ids("store-root"), [admin.id, acting.id].sort());
    assert.deepEqual(await ids("store-nina"), [acting.id, own.id].sort());
    const listed = (await store.listUser("store-nina")).find((r) => r.id === acting.id);
    assert.equal(listed?.impersonator, "store-root");
    assert.equal(listed?.userId, "store-nina");
    assert.deepEqual((await store.get(acting.id))?.impersonator, "store-root");
    // patch and touch keep it indexed under both users.
    await store.patch(acting.id, { change: { set: { k: 1 }, unset: [] }, lastSeenAt: acting.lastSeenAt + 1, expiresAt: acting.expiresAt + 1 });
    await store.touch(acting.id, acting.lastSeenAt + 2, acting.expiresAt + 2);
    assert.deepEqual(await ids("store-root"), [admin.id, acting.id].sort());
    // revokeUser(admin) ends the impersonation and not the viewed user's own session.
    assert.equal((await store.destroyUser("store-root")).length, 2);
    assert.equal(await store.get(acting.id), null);
    assert.ok(await store.get(own.id));
    assert.deepEqual(await ids("store-nina"), [own.id]);
    // revokeUser(viewed user) ends an impersonation of them too.
    const second = impersonation(sample, "store-nina", "store-root");
    await store.create(second);
    assert.equal((await store.destroyUser("store-nina")).length, 2);
    assert.equal(await store.get(second.id), null);
    assert.deepEqual(await ids("store-root"), []);
    // Stop impersonating: a rotation to the impersonator, without impersonator: listed for the impersonator only.
    const third = impersonation(sample, "store-nina", "store-root");
    await store.create(third);
    const back = rotation("store-root");
    assert.equal((await store.rotate(third.id, back)).status, "ok");
    assert.deepEqual(await ids("store-nina"), []);
    assert.deepEqual(await ids("store-root"), [back.newId]);
    assert.equal((await store.get(back.newId))?.impersonator, undefined);
    // And into an impersonation by rotation (the admin's session becomes one).
    const into = rotation("store-nina", { impersonator: "store-root" });
    assert.equal((await store.rotate(back.newId, into)).status, "ok");
    assert.deepEqual(await ids("store-nina"), [into.newId]);
    assert.deepEqual(await ids("store-root"), [into.newId]);
    assert.equal((await store.destroyUser("store-root")).length, 1);
    assert.equal(await store.get(into.newId), null);
  });

  it("listUser pages hold a user's impersonations beside their own sessions, in one id order, each once", async () => {
    const store = await fresh();
    const own = Array.from({ length: 4 }, () => sample({ userId: "store-page-root" }));
    const acting = ["a", "b", "c"].map((who) => impersonation(sample, `store-page-${who}`, "store-page-root"));
    const viewedOwn = sample({ userId: "store-page-a" });
    for (const record of [...own, ...acting, viewedOwn]) await store.create(record);
    const pages = async (user: string) => {
      const seen: string[] = [];
      for (let after: string | undefined; ;) {
        const page = (await store.listUser(user, after === undefined ? { limit: 2 } : { limit: 2, after })).map((record) => record.id);
        seen.push(...page);
        if (page.length < 2) return seen;
        after = page[page.length - 1];
      }
    };
    assert.deepEqual(await pages("store-page-root"), [...own, ...acting].map((record) => record.id).sort());
    assert.deepEqual(await pages("store-page-a"), [acting[0]!.id, viewedOwn.id].sort());
  });

  it("a session limit on create: 'end-oldest' ends the least recently seen live sessions of the user only; 'refuse' writes nothing", async (t) => {
    const store = await fresh();
    if (!store.sessionLimits) return t.skip("the store does not offer sessionLimits");
    const now = Date.now();
    const mine = [3, 1, 2].map((age) => sample({ userId: "store-omar", lastSeenAt: now - age * 1000 }));
    const expired = sample({ userId: "store-omar", lastSeenAt: now - 9000, expiresAt: now - 1 });
    const viewing = impersonation(sample, "store-omar", "store-support");
    const other = sample({ userId: "store-pia", lastSeenAt: now - 99_000 });
    for (const record of [...mine, expired, viewing, other]) await store.create(record);
    const refused = sample({ userId: "store-omar" });
    assert.deepEqual(await store.create(refused, { limit: limit(3, "refuse") }), { status: "limit" });
    assert.equal(await store.get(refused.id), null, "a refused create writes nothing");
    const next = sample({ userId: "store-omar" });
    const result = (await store.create(next, { limit: limit(2, "end-oldest") })) as CreateResult;
    // 3 live own sessions, limit 2: the two least recently seen end (ages 3 s and 2 s), the newest stays.
    assert.deepEqual(result.status === "ok" ? [...result.ended].sort() : result, [mine[0]!.id, mine[2]!.id].sort());
    assert.ok(await store.get(next.id));
    assert.ok(await store.get(mine[1]!.id));
    assert.equal(await store.get(mine[0]!.id), null);
    assert.ok(await store.get(viewing.id), "impersonations do not count and are not ended");
    assert.ok(await store.get(other.id), "other users are untouched");
    assert.deepEqual(
      await store.create(sample({ userId: "store-omar" }), { limit: limit(3, "end-oldest") }),
      { status: "ok", ended: [] },
      "under the limit nothing ends",
    );
  });

  it("a session limit on rotate: the rotated session does not count; a refusal leaves it alive (or reports it ended)", async (t) => {
    const store = await fresh();
    if (!store.sessionLimits) return t.skip("the store does not offer sessionLimits");
    const now = Date.now();
    const a = sample({ userId: "store-quin", lastSeenAt: now - 2000 });
    const b = sample({ userId: "store-quin", lastSeenAt: now - 1000 });
    await store.create(a);
    await store.create(b);
    // Re-login on b: a and the new one make 2, within a limit of 2.
    const relogin = rotation("store-quin", { limit: limit(2, "refuse") });
    const same = await store.rotate(b.id, relogin);
    assert.equal(same.status, "ok");
    if (same.status === "ok") assert.deepEqual(same.ended, []);
    // An anonymous session signing in: 2 live, limit 2 → refused; the anonymous session survives (unless the store had to end it first).
    const anonymous = sample({ data: { cart: ["x"] } });
    await store.create(anonymous);
    const refused = await store.rotate(anonymous.id, rotation("store-quin", { limit: limit(2, "refuse") }));
    assert.equal(refused.status, "limit");
    if (refused.status === "limit" && !refused.previousEnded) assert.deepEqual((await store.get(anonymous.id))?.data, { cart: ["x"] });
    if (refused.status === "limit" && refused.previousEnded) assert.equal(await store.get(anonymous.id), null);
    assert.deepEqual((await store.listUser("store-quin")).map((r) => r.id).sort(), [a.id, relogin.newId].sort());
    // end-oldest: a (least recently seen) ends, the data moves to the new session.
    const other = sample({ data: { cart: ["y"] } });
    await store.create(other);
    const input = rotation("store-quin", { limit: limit(2, "end-oldest") });
    const ended = await store.rotate(other.id, input);
    assert.equal(ended.status, "ok");
    if (ended.status === "ok") assert.deepEqual(ended.ended, [a.id]);
    assert.equal(await store.get(a.id), null);
    assert.deepEqual((await store.get(input.newId))?.data, { cart: ["y"] });
    assert.deepEqual((await store.listUser("store-quin")).map((r) => r.id).sort(), [relogin.newId, input.newId].sort());
  });

  it("parallel limited creates of one user never leave more than the limit live", async (t) => {
    const store = await fresh();
    if (!store.sessionLimits) return t.skip("the store does not offer sessionLimits");
    for (const onLimit of ["end-oldest", "refuse"] as const) {
      const user = `store-rosa-${onLimit}`;
      const records = Array.from({ length: 20 }, () => sample({ userId: user }));
      const results = (await Promise.all(records.map((record) => store.create(record, { limit: limit(3, onLimit) })))) as CreateResult[];
      const live = (await Promise.all(records.map((record) => store.get(record.id)))).filter((record) => record !== null);
      assert.equal(live.length, 3, `${onLimit}: ${live.length} sessions live`);
      assert.equal((await store.listUser(user)).length, 3);
      if (onLimit === "refuse") assert.equal(results.filter((r) => r.status === "ok").length, 3);
      else {
        assert.ok(results.every((r) => r.status === "ok"));
        const ended = results.flatMap((r) => (r.status === "ok" ? r.ended : []));
        assert.equal(ended.length, 17, "every ended session is reported once");
        assert.equal(new Set(ended).size, 17);
      }
    }
  });
}
