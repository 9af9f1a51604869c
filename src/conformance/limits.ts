// The store contract for `maxDataBytes`: a patch or rotation whose merged data
// would be over the limit writes nothing, checked inside the store's atomic
// write, so overlapping requests can never together grow a session past it.
// Part of runStoreConformance (every store, a third party's too).
import assert from "node:assert/strict";
import { it } from "node:test";
import { dataBytes, idOfToken, type ChangeSet, type JsonValue, type SessionRecord, type SessionStore } from "../store/index.js";
import { mintToken } from "../store/token.js";

const HOUR = 3_600_000;

type Fresh = () => Promise<SessionStore>;
type Sample = (overrides?: Partial<SessionRecord> & { userId?: string | null }) => SessionRecord;

/** Values whose JSON every store must measure alike: escapes, multi-byte characters, nesting, numbers. */
const AWKWARD: Record<string, JsonValue> = {
  'q"uote': 'a "quoted" \\ backslash\nand a newline\ttab',
  "back\\slash": ["ünïcødé ✓", "😀 four bytes", "/slash/", "\u2028"],
  ключ: { nested: { deeper: [1, -2.5, 0.1, 1e20, null, true, false, "", {}, []] } },
  empty: {},
  "with space": "",
};

function merge(data: Record<string, JsonValue>, change: ChangeSet): Record<string, JsonValue> {
  const next = { ...data };
  for (const key of change.unset) delete next[key];
  return { ...next, ...change.set };
}

/** The maxDataBytes cases, run inside runStoreConformance's describe. */
export function dataLimitCases(fresh: Fresh, sampleRecord: Sample): void {
  const patchInput = (record: SessionRecord, change: ChangeSet, maxDataBytes: number) => ({
    change,
    lastSeenAt: record.lastSeenAt + 1000,
    expiresAt: record.expiresAt + 1000,
    maxDataBytes,
  });

  it("maxDataBytes: a patch whose merged data is over it is too-large and writes nothing; at it, the patch applies", async () => {
    const store = await fresh();
    const record = sampleRecord({ userId: "max", data: { ...AWKWARD, drop: "x".repeat(50) } });
    await store.create(record);
    const change: ChangeSet = { set: { added: { list: ["é", 'q"', 3.75] }, 'q"uote': "replaced ✓" }, unset: ["drop"] };
    const bytes = dataBytes(merge(record.data, change));
    const refused = await store.patch(record.id, patchInput(record, change, bytes - 1));
    assert.deepEqual(refused, { status: "too-large", bytes }, "the store measures the merged data as dataBytes() does");
    assert.deepEqual(await store.get(record.id), record, "nothing written: data, version, last-seen and expiry as they were");
    const accepted = await store.patch(record.id, patchInput(record, change, bytes));
    assert.deepEqual(accepted, { status: "ok", version: 2 });
    assert.deepEqual((await store.get(record.id))?.data, merge(record.data, change));
  });

  it("maxDataBytes: the merged data counts, so a patch that unsets keys brings data over the limit back under it", async () => {
    const store = await fresh();
    const record = sampleRecord({ data: { big: "b".repeat(400), small: 1 } });
    await store.create(record);
    const limit = 200;
    const grow = await store.patch(record.id, patchInput(record, { set: { more: 2 }, unset: [] }, limit));
    assert.equal(grow.status, "too-large", "still over the limit: refused");
    const shrink = await store.patch(record.id, patchInput(record, { set: { more: 2 }, unset: ["big"] }, limit));
    assert.deepEqual(shrink, { status: "ok", version: 2 });
    assert.deepEqual((await store.get(record.id))?.data, { small: 1, more: 2 });
  });

  it("maxDataBytes: gone and conflict come before too-large", async () => {
    const store = await fresh();
    const record = sampleRecord();
    const change: ChangeSet = { set: { big: "x".repeat(500) }, unset: [] };
    assert.deepEqual(await store.patch(record.id, patchInput(record, change, 100)), { status: "gone" });
    assert.equal(await store.get(record.id), null);
    await store.create(record);
    assert.deepEqual(await store.patch(record.id, { ...patchInput(record, change, 100), expectVersion: 7 }), { status: "conflict", version: 1 });
  });

  it("maxDataBytes: overlapping patches, each under the limit alone, together over it: exactly one is refused", async () => {
    const store = await fresh();
    for (let round = 0; round < 10; round++) {
      const record = sampleRecord({ data: { base: round } });
      await store.create(record);
      const one: ChangeSet = { set: { one: "1".repeat(300) }, unset: [] };
      const two: ChangeSet = { set: { two: "2".repeat(300) }, unset: [] };
      const limit = Math.max(dataBytes(merge(record.data, one)), dataBytes(merge(record.data, two)));
      assert.ok(dataBytes(merge(merge(record.data, one), two)) > limit);
      const results = await Promise.all([store.patch(record.id, patchInput(record, one, limit)), store.patch(record.id, patchInput(record, two, limit))]);
      const statuses = results.map((result) => result.status).sort();
      assert.deepEqual(statuses, ["ok", "too-large"], `round ${round}`);
      const stored = await store.get(record.id);
      assert.ok(stored && dataBytes(stored.data) <= limit, `round ${round}: stored ${stored && dataBytes(stored.data)} bytes over ${limit}`);
      assert.equal(stored.version, 2, "only the accepted patch counted");
      assert.equal(Object.keys(stored.data).length, 2);
    }
  });

  it("maxDataBytes: 20 overlapping patches adding 300-byte keys stop at the limit, with no patch refused while there was room", async () => {
    const store = await fresh();
    const record = sampleRecord({ userId: "tara", data: {} });
    await store.create(record);
    const limit = 1024;
    const changes = Array.from({ length: 20 }, (_, i): ChangeSet => ({ set: { [`k${10 + i}`]: "v".repeat(300) }, unset: [] }));
    const results = await Promise.all(changes.map((change) => store.patch(record.id, patchInput(record, change, limit))));
    const stored = await store.get(record.id);
    assert.ok(stored);
    assert.ok(dataBytes(stored.data) <= limit, `stored ${dataBytes(stored.data)} bytes under a limit of ${limit}`);
    // Every key costs the same, so as many fit as fit one after another.
    let fits = 0;
    let data: Record<string, JsonValue> = {};
    for (const change of changes) {
      const next = merge(data, change);
      if (dataBytes(next) > limit) break;
      data = next;
      fits += 1;
    }
    assert.equal(results.filter((result) => result.status === "ok").length, fits);
    assert.equal(Object.keys(stored.data).length, fits);
    assert.ok(results.every((result) => result.status === "ok" || (result.status === "too-large" && result.bytes > limit)));
    assert.deepEqual(
      await store.patch(record.id, patchInput(record, { set: { small: 1 }, unset: [] }, limit)),
      { status: "ok", version: 2 + fits },
      "a small set still fits",
    );
  });

  for (const [label, from, to] of [
    ["an anonymous session signing in (another route)", null, "uma"],
    ["a user session rotated for the same user", "uma", "uma"],
  ] as const) {
    it(`maxDataBytes: a rotation of ${label} over the limit is too-large; the old session stays as it was`, async () => {
      const store = await fresh();
      const record = sampleRecord({ userId: from, data: { ...AWKWARD, cart: ["a"] } });
      await store.create(record);
      const now = Date.now();
      const newId = idOfToken(mintToken(to));
      const change: ChangeSet = { set: { cart: ["a", "b", "ç"] }, unset: ["empty"] };
      const bytes = dataBytes(merge(record.data, change));
      const rotation = { newId, userId: to, change, createdAt: now, lastSeenAt: now, expiresAt: now + HOUR, absoluteExpiresAt: now + HOUR };
      assert.deepEqual(await store.rotate(record.id, { ...rotation, maxDataBytes: bytes - 1 }), { status: "too-large", bytes });
      assert.deepEqual(await store.get(record.id), record, "the old session is alive and unchanged");
      assert.equal(await store.get(newId), null, "no new session");
      if (to !== from) assert.deepEqual(await store.listUser(to), []);
      const accepted = await store.rotate(record.id, { ...rotation, maxDataBytes: bytes });
      assert.equal(accepted.status, "ok");
      assert.equal(await store.get(record.id), null);
      assert.deepEqual((await store.get(newId))?.data, merge(record.data, change));
    });
  }
}
