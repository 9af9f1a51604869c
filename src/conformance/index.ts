import assert from "node:assert/strict";
import { after, describe, it } from "node:test";
import { SessionExistsError, type JsonValue, type SessionRecord, type SessionStore } from "../store/index.js";
import { endingCases } from "./ending.js";
import { dataLimitCases } from "./limits.js";
import { paginationCases } from "./pagination.js";
import { newIdFor, sampleRecord } from "./records.js";

export { sampleRecord };
import { signInStoreCases } from "./signin.js";

export interface ConformanceOptions {
  /** Shown as the suite's title. */
  name: string;
  /** A store for one test. Called once per test; every store is closed afterwards. */
  createStore: () => SessionStore | Promise<SessionStore>;
  /** Called once after the suite (drop tables, delete key prefixes...). */
  cleanup?: () => void | Promise<void>;
}

const HOUR = 3_600_000;

/**
 * The store contract as tests: every latchkey store passes it, and a third
 * party's store should too. Runs under node:test.
 * @example
 * // my-store.test.ts, run with `node --test`
 * import { runStoreConformance } from "latchkey/conformance";
 * runStoreConformance({ name: "my store", createStore: () => myStore({ url: process.env.MY_URL }) });
 */
export function runStoreConformance(options: ConformanceOptions): void {
  describe(`store conformance: ${options.name}`, () => {
    const opened: SessionStore[] = [];
    const fresh = async (): Promise<SessionStore> => {
      const store = await options.createStore();
      opened.push(store);
      return store;
    };
    after(async () => {
      for (const store of opened) await store.close().catch(() => undefined);
      await options.cleanup?.();
    });

    it("create then get returns the same record", async () => {
      const store = await fresh();
      const record = sampleRecord({ userId: "alice" });
      await store.create(record);
      assert.deepEqual(await store.get(record.id), record);
    });

    it("get of an unknown id is null", async () => {
      const store = await fresh();
      assert.equal(await store.get(sampleRecord().id), null);
    });

    it("create never overwrites an existing id (G1)", async () => {
      const store = await fresh();
      const record = sampleRecord();
      await store.create(record);
      await assert.rejects(store.create({ ...record, data: { evil: true } }), SessionExistsError);
      assert.deepEqual((await store.get(record.id))?.data, record.data);
    });

    it("values round-trip as JSON, with awkward keys", async () => {
      const store = await fresh();
      const data: Record<string, JsonValue> = {
        "a.b": 1,
        'q"uote': "x",
        "ünïcødé ✓": { nested: [1, 2.5, null, true, "ß"] },
        $dollar: -0.125,
        "with space": "",
        big: 9_007_199_254_740_991,
      };
      const record = sampleRecord({ data });
      await store.create(record);
      assert.deepEqual((await store.get(record.id))?.data, data);
      const patched = await store.patch(record.id, {
        change: { set: { "new.key": { deep: ["v"] }, 'q"uote': "y" }, unset: ["a.b"] },
        lastSeenAt: record.lastSeenAt,
        expiresAt: record.expiresAt,
      });
      assert.equal(patched.status, "ok");
      const { "a.b": _removed, ...rest } = data;
      assert.deepEqual((await store.get(record.id))?.data, { ...rest, 'q"uote': "y", "new.key": { deep: ["v"] } });
    });

    it("patch writes only the changed keys and bumps the version", async () => {
      const store = await fresh();
      const record = sampleRecord();
      await store.create(record);
      const result = await store.patch(record.id, {
        change: { set: { theme: "light", count: 3 }, unset: ["cart"] },
        lastSeenAt: record.lastSeenAt + 10,
        expiresAt: record.expiresAt + 10,
      });
      assert.deepEqual(result, { status: "ok", version: 2 });
      const stored = await store.get(record.id);
      assert.deepEqual(stored?.data, { theme: "light", count: 3 });
      assert.equal(stored?.lastSeenAt, record.lastSeenAt + 10);
      assert.equal(stored?.expiresAt, record.expiresAt + 10);
      assert.equal(stored?.version, 2);
    });

    it("patch of a missing session is gone and inserts nothing (G1)", async () => {
      const store = await fresh();
      const record = sampleRecord();
      const result = await store.patch(record.id, { change: { set: { a: 1 }, unset: [] }, lastSeenAt: 1, expiresAt: Date.now() + HOUR });
      assert.deepEqual(result, { status: "gone" });
      assert.equal(await store.get(record.id), null);
    });

    it("overlapping patches of different keys all persist (G2)", async () => {
      const store = await fresh();
      const record = sampleRecord({ data: {} });
      await store.create(record);
      const keys = Array.from({ length: 25 }, (_, i) => `k${i}`);
      const results = await Promise.all(
        keys.map((key, i) => store.patch(record.id, { change: { set: { [key]: i }, unset: [] }, lastSeenAt: record.lastSeenAt, expiresAt: record.expiresAt })),
      );
      assert.ok(results.every((r) => r.status === "ok"));
      const stored = await store.get(record.id);
      assert.deepEqual(stored?.data, Object.fromEntries(keys.map((key, i) => [key, i])));
      assert.equal(stored?.version, 1 + keys.length);
    });

    it("patch with a stale expected version is a conflict and writes nothing", async () => {
      const store = await fresh();
      const record = sampleRecord();
      await store.create(record);
      const first = await store.patch(record.id, { change: { set: { theme: "a" }, unset: [] }, lastSeenAt: 1, expiresAt: record.expiresAt, expectVersion: 1 });
      assert.deepEqual(first, { status: "ok", version: 2 });
      const second = await store.patch(record.id, { change: { set: { theme: "b" }, unset: [] }, lastSeenAt: 1, expiresAt: record.expiresAt, expectVersion: 1 });
      assert.deepEqual(second, { status: "conflict", version: 2 });
      assert.equal((await store.get(record.id))?.data.theme, "a");
    });

    it("touch updates last-seen of a live session and never inserts", async () => {
      const store = await fresh();
      const record = sampleRecord();
      await store.create(record);
      assert.equal(await store.touch(record.id, record.lastSeenAt + 5, record.expiresAt + 5), true);
      const stored = await store.get(record.id);
      assert.equal(stored?.lastSeenAt, record.lastSeenAt + 5);
      assert.equal(stored?.expiresAt, record.expiresAt + 5);
      assert.equal(stored?.version, 1, "touch does not change the version");
      const missing = sampleRecord();
      assert.equal(await store.touch(missing.id, 1, Date.now() + HOUR), false);
      assert.equal(await store.get(missing.id), null);
    });

    endingCases(fresh);

    it("the device recorded at create and rotate is listed; patch and touch keep it", async () => {
      const store = await fresh();
      const device = { userAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", ip: "203.0.113.7" };
      const record = sampleRecord({ userId: "nora", device });
      await store.create(record);
      assert.deepEqual((await store.listUser("nora"))[0]?.device, device);
      await store.patch(record.id, { change: { set: { k: 1 }, unset: [] }, lastSeenAt: record.lastSeenAt + 1, expiresAt: record.expiresAt + 1 });
      await store.touch(record.id, record.lastSeenAt + 2, record.expiresAt + 2);
      assert.deepEqual((await store.listUser("nora"))[0]?.device, device, "patch and touch keep the device");
      const fromGet = await store.get(record.id);
      assert.ok(fromGet?.device === undefined || JSON.stringify(fromGet.device) === JSON.stringify(device), "get returns the device or nothing");
      // A login on top of an anonymous session records the new device; without one, none.
      const anonymous = sampleRecord({ data: { cart: ["x"] } });
      await store.create(anonymous);
      const now = Date.now();
      const phone = { userAgent: "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) Version/17.5 Mobile/15E148 Safari/604.1" };
      const signedIn = newIdFor("nora");
      const rotated = await store.rotate(anonymous.id, {
        newId: signedIn,
        userId: "nora",
        change: { set: {}, unset: [] },
        createdAt: now,
        lastSeenAt: now,
        expiresAt: now + HOUR,
        absoluteExpiresAt: now + HOUR,
        device: phone,
      });
      assert.equal(rotated.status, "ok");
      const again = newIdFor("nora");
      await store.rotate(record.id, {
        newId: again,
        userId: "nora",
        change: { set: {}, unset: [] },
        createdAt: now,
        lastSeenAt: now,
        expiresAt: now + HOUR,
        absoluteExpiresAt: now + HOUR,
      });
      const listed = new Map((await store.listUser("nora")).map((r) => [r.id, r.device]));
      assert.deepEqual(listed.get(signedIn), phone);
      assert.equal(listed.get(again), undefined, "a rotation without a device drops the old one");
      assert.equal(listed.size, 2);
    });

    it("listUser returns exactly the user's sessions", async () => {
      const store = await fresh();
      const a = sampleRecord({ userId: "ivy" });
      const b = sampleRecord({ userId: "ivy" });
      await store.create(a);
      await store.create(b);
      await store.create(sampleRecord({ userId: "jack" }));
      const listed = (await store.listUser("ivy")).map((r) => r.id).sort();
      assert.deepEqual(listed, [a.id, b.id].sort());
      assert.deepEqual(await store.listUser("nobody"), []);
    });

    it("sweep deletes expired records and keeps live ones", async () => {
      const store = await fresh();
      const now = Date.now();
      const expired = sampleRecord({ userId: "kim", expiresAt: now - 1000, lastSeenAt: now - 2000 });
      const live = sampleRecord({ userId: "kim" });
      await store.create(expired);
      await store.create(live);
      const removed = await store.sweep(now);
      assert.deepEqual(
        removed.map((ended) => [ended.id, ended.userId]),
        [[expired.id, "kim"]],
        "sweep resolves to the sessions it deleted",
      );
      assert.deepEqual(await store.sweep(now), [], "each deleted session is reported once");
      assert.equal(await store.get(expired.id), null);
      assert.ok(await store.get(live.id));
      assert.deepEqual(
        (await store.listUser("kim")).map((r) => r.id),
        [live.id],
      );
    });

    dataLimitCases(fresh, sampleRecord);
    it("destroy and destroyUser tell the device of what they deleted; concurrent ends report each session once", async () => {
      const store = await fresh();
      const device = { userAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0" };
      const one = sampleRecord({ userId: "otto", device });
      const two = sampleRecord({ userId: "otto", device });
      await store.create(one);
      await store.create(two);
      assert.deepEqual(await store.destroy(one.id), { id: one.id, userId: "otto", device });
      assert.deepEqual(await store.destroyUser("otto"), [{ id: two.id, userId: "otto", device }]);
      for (let round = 0; round < 10; round++) {
        const records = [sampleRecord({ userId: "pia" }), sampleRecord({ userId: "pia" }), sampleRecord({ userId: "pia" })];
        for (const record of records) await store.create(record);
        const [a, b, c, d] = await Promise.all([
          store.destroyUser("pia"),
          store.destroy(records[0]!.id),
          store.destroyUser("pia", { except: records[2]!.id }),
          store.destroy(records[1]!.id),
        ]);
        const reported = [...a, ...c, ...[b, d].filter((ended) => ended !== null)].map((ended) => ended!.id).sort();
        assert.deepEqual(reported, records.map((record) => record.id).sort(), `round ${round}: every session reported exactly once`);
      }
    });

    it("expiries, where offered, reads the user and times of several sessions in the order asked", async () => {
      const store = await fresh();
      if (!store.expiries) return;
      const a = sampleRecord({ userId: "quinn" });
      const b = sampleRecord();
      await store.create(a);
      await store.create(b);
      const missing = sampleRecord().id;
      const [first, second, third] = await store.expiries([b.id, missing, a.id]);
      const times = (record: SessionRecord) => ({
        id: record.id,
        userId: record.userId,
        lastSeenAt: record.lastSeenAt,
        expiresAt: record.expiresAt,
        absoluteExpiresAt: record.absoluteExpiresAt,
      });
      assert.deepEqual(first, times(b));
      assert.equal(second, null);
      assert.deepEqual(third, times(a));
      assert.deepEqual(await store.expiries([]), []);
    });

    signInStoreCases(fresh, sampleRecord);

    paginationCases(fresh);
  });
}

export { runFeedConformance, type FeedConformanceOptions } from "./feed.js";
export { runSessionsConformance, requestFrom, type SessionsConformanceOptions } from "./sessions.js";
