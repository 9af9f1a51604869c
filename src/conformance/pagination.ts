// Paged listUser (keyset on the id): every store pages alike, and pages stay
// stable while sessions are added and ended during the listing.
import assert from "node:assert/strict";
import { it } from "node:test";
import type { SessionRecord, SessionStore } from "../store/index.js";
import { sampleRecord } from "./records.js";

/** Every page of `userId`'s sessions, `limit` at a time, calling `between` after each page. */
async function allPages(
  store: SessionStore,
  userId: string,
  limit: number,
  between: (pageIndex: number) => Promise<void> = async () => undefined,
): Promise<SessionRecord[][]> {
  const pages: SessionRecord[][] = [];
  let after: string | undefined;
  for (;;) {
    const page = await store.listUser(userId, after === undefined ? { limit } : { limit, after });
    pages.push(page);
    assert.ok(page.length <= limit, `a page holds at most limit (${limit}) records, got ${page.length}`);
    if (page.length < limit) return pages;
    after = page[page.length - 1]!.id;
    await between(pages.length - 1);
    assert.ok(pages.length < 1000, "paging terminates");
  }
}

async function createMany(store: SessionStore, userId: string, count: number): Promise<SessionRecord[]> {
  const records = Array.from({ length: count }, () => sampleRecord({ userId }));
  for (const record of records) await store.create(record);
  return records;
}

/** The pagination cases of the store conformance suite. */
export function paginationCases(fresh: () => Promise<SessionStore>): void {
  it("listUser pages cover every session of the user exactly once, in ascending id order, limit at a time", async () => {
    const store = await fresh();
    const mine = await createMany(store, "paula", 23);
    await createMany(store, "quinn", 4);
    const pages = await allPages(store, "paula", 5);
    assert.deepEqual(
      pages.map((page) => page.length),
      [5, 5, 5, 5, 3],
    );
    const ids = pages.flat().map((record) => record.id);
    assert.equal(new Set(ids).size, ids.length, "no session is listed twice");
    assert.deepEqual(new Set(ids), new Set(mine.map((record) => record.id)), "every session of the user, no one else's");
    for (let i = 1; i < ids.length; i += 1) assert.ok(ids[i - 1]! < ids[i]!, "ids ascend within and across pages");
    assert.deepEqual(pages.flat().find((record) => record.id === mine[0]!.id)?.data, mine[0]!.data, "a page holds whole records");
  });

  it("listUser limit bounds the page: 1, more than there are, and after the last id", async () => {
    const store = await fresh();
    const mine = await createMany(store, "rhea", 3);
    const sorted = mine.map((record) => record.id).sort();
    assert.deepEqual(
      (await store.listUser("rhea", { limit: 1 })).map((record) => record.id),
      [sorted[0]],
    );
    assert.deepEqual(
      (await store.listUser("rhea", { limit: 50 })).map((record) => record.id),
      sorted,
    );
    assert.deepEqual(
      (await store.listUser("rhea", { limit: 2, after: sorted[0] })).map((record) => record.id),
      sorted.slice(1),
    );
    assert.deepEqual(await store.listUser("rhea", { limit: 5, after: sorted[2] }), []);
    assert.deepEqual(await store.listUser("nobody", { limit: 5 }), []);
    assert.deepEqual(
      (await store.listUser("rhea", { after: sorted[0] })).map((record) => record.id),
      sorted.slice(1),
      "after without limit: the rest",
    );
  });

  it("listUser pages stay stable while sessions are created and destroyed mid-listing: no duplicates, no skipped survivor", async () => {
    const store = await fresh();
    const mine = await createMany(store, "sid", 30);
    const doomed = mine.filter((_, i) => i % 4 === 0).map((record) => record.id);
    const survivors = mine.filter((_, i) => i % 4 !== 0).map((record) => record.id);
    const added: string[] = [];
    const pages = await allPages(store, "sid", 6, async (pageIndex) => {
      // After each page: end two sessions (behind or ahead of the cursor) and start two.
      for (const id of doomed.slice(pageIndex * 2, pageIndex * 2 + 2)) assert.equal(await store.destroy(id), true);
      for (const record of await createMany(store, "sid", 2)) added.push(record.id);
      // A touched session keeps its place (its id, unlike its expiry, never changes).
      await store.touch(survivors[survivors.length - 1 - pageIndex]!, Date.now(), Date.now() + 7_200_000);
    });
    const ids = pages.flat().map((record) => record.id);
    assert.equal(new Set(ids).size, ids.length, "no session is listed twice");
    for (const id of survivors) assert.ok(ids.includes(id), `survivor ${id.slice(0, 12)}… listed`);
    const known = new Set([...mine.map((record) => record.id), ...added]);
    for (const id of ids) assert.ok(known.has(id), "only the user's sessions are listed");
    for (let i = 1; i < ids.length; i += 1) assert.ok(ids[i - 1]! < ids[i]!, "ids ascend within and across pages");
  });
}
