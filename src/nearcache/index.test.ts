import assert from "node:assert/strict";
import { describe, it, test } from "node:test";
import { sampleRecord } from "../conformance/index.js";
import { createSessions, type SessionsOptions } from "../core/index.js";
import { userRoute } from "../store/index.js";
import type { JsonValue } from "../store/contract.js";
import { memoryStore } from "../stores/memory/index.js";
import { sqliteStore } from "../stores/sqlite/index.js";
import { decodeMessage, encodeAck, encodeNotice, encodePing, NearCache, SequenceTracker } from "./index.js";

describe("NearCache (the LRU)", () => {
  it("evicts the least recently used entry beyond maxEntries", () => {
    const cache = new NearCache(2, 1 << 20);
    const [a, b, c] = [sampleRecord(), sampleRecord(), sampleRecord()];
    for (const record of [a, b]) cache.complete(cache.begin(record.id), record);
    assert.ok(cache.get(a.id)); // a is now the most recent
    cache.complete(cache.begin(c.id), c);
    assert.equal(cache.size, 2);
    assert.equal(cache.get(b.id), undefined, "b was the least recently used");
    assert.ok(cache.get(a.id) && cache.get(c.id));
  });

  it("keeps its approximate bytes under maxBytes and never caches an entry larger than that", () => {
    const cache = new NearCache(1000, 4096);
    for (let i = 0; i < 20; i++) {
      const record = sampleRecord({ data: { blob: "x".repeat(500) } });
      cache.complete(cache.begin(record.id), record);
      assert.ok(cache.bytes <= 4096, `${cache.bytes} bytes`);
    }
    assert.ok(cache.size >= 2 && cache.size < 20);
    const huge = sampleRecord({ data: { blob: "y".repeat(5000) } });
    assert.equal(cache.complete(cache.begin(huge.id), huge), false);
    assert.equal(cache.get(huge.id), undefined);
  });

  it("hands out one decoded, deeply frozen copy of the data (no parse per hit) in a record of the caller's own", () => {
    const cache = new NearCache(10, 1 << 20);
    const record = sampleRecord({ data: { cart: ["a"], nested: { deep: { list: [1] } } } });
    cache.complete(cache.begin(record.id), record);
    const first = cache.get(record.id)!;
    // Shared, not re-decoded on every hit...
    assert.equal(cache.get(record.id)!.data, first.data);
    // ...so nothing may change it, at any depth.
    assert.throws(() => (first.data.cart as string[]).push("mutated"), TypeError);
    assert.throws(() => (((first.data.nested as Record<string, JsonValue>).deep as Record<string, JsonValue>).list as number[]).push(2), TypeError);
    // The store's record the fill cached stays the filling request's own.
    (record.data.cart as string[]).push("filler's change");
    first.version = 99;
    assert.deepEqual(cache.get(record.id)!.data.cart, ["a"]);
    assert.equal(cache.get(record.id)!.version, 1);
  });

  it("a fill that an invalidation raced is not cached (by id, by user route, by flush)", () => {
    const cache = new NearCache(10, 1 << 20);
    const byId = sampleRecord({ userId: "u1" });
    const ticket = cache.begin(byId.id);
    cache.invalidateIds([byId.id]);
    assert.equal(cache.complete(ticket, byId), false);

    const byUser = sampleRecord({ userId: "u2" });
    assert.equal(byUser.id.slice(0, 4), userRoute("u2"));
    const userTicket = cache.begin(byUser.id);
    const bystander = sampleRecord({ userId: "u3" });
    const bystanderTicket = cache.begin(bystander.id);
    cache.invalidateUsers(["u2"]);
    assert.equal(cache.complete(userTicket, byUser), false, "the user's route is poisoned");
    assert.equal(cache.complete(bystanderTicket, bystander), true, "another user's fill is not");

    const flushed = sampleRecord();
    const flushTicket = cache.begin(flushed.id);
    cache.flush();
    assert.equal(cache.complete(flushTicket, flushed), false);
    assert.equal(cache.size, 0);
  });

  it("invalidateUsers drops every cached session of those users only", () => {
    const cache = new NearCache(10, 1 << 20);
    const mine = [sampleRecord({ userId: "amy" }), sampleRecord({ userId: "amy" })];
    const other = sampleRecord({ userId: "bob" });
    for (const record of [...mine, other]) cache.complete(cache.begin(record.id), record);
    assert.equal(cache.invalidateUsers(["amy"]), 2);
    assert.equal(cache.size, 1);
    assert.ok(cache.get(other.id));
  });

  it("keeps a record's meta fields, and an impersonation is dropped with either user", () => {
    const cache = new NearCache(10, 1 << 20);
    const remembered = sampleRecord({ userId: "amy", idleTimeout: 30 * 86_400_000, persistent: true, authenticatedAt: 1_700_000_000_000 });
    const viewing = sampleRecord({ userId: "amy", impersonator: "root" });
    for (const record of [remembered, viewing]) cache.complete(cache.begin(record.id), record);
    assert.deepEqual(cache.get(remembered.id), remembered, "a hit carries the session's own lifetime and authenticatedAt (G4 on cached reads)");
    assert.equal(cache.get(viewing.id)?.impersonator, "root");
    assert.equal(cache.invalidateUsers(["root"]), 1, "revoking the impersonator forgets the impersonation");
    assert.equal(cache.get(viewing.id), undefined);
    cache.complete(cache.begin(viewing.id), viewing);
    assert.equal(cache.invalidateUsers(["amy"]), 2);
  });

  it("an impersonation's fill that began before the user it acts as was invalidated is not cached; a fill begun after it is", () => {
    const cache = new NearCache(10, 1 << 20);
    // As login({ impersonate }) makes it: the id on the impersonator's route, the session acting as amy.
    const viewing = { ...sampleRecord({ userId: "root" }), userId: "amy", impersonator: "root" };
    const own = sampleRecord({ userId: "bob" });
    const racing = cache.begin(viewing.id);
    const bystander = cache.begin(own.id);
    // revokeUser("amy") deleted the impersonation after this fill read it, and its notice came first.
    cache.invalidateUsers(["amy"]);
    assert.equal(cache.complete(racing, viewing), false, "the reply may predate amy's revocation");
    assert.equal(cache.get(viewing.id), undefined);
    assert.equal(cache.complete(bystander, own), true, "another user's fill is not affected");
    assert.equal(cache.complete(cache.begin(viewing.id), viewing), true, "a fill begun after the invalidation is cached");
  });

  it("past 1024 remembered user invalidations, those no fill in flight began before are let go, the others kept", () => {
    const cache = new NearCache(10, 1 << 20);
    const acting = (userId: string) => ({ ...sampleRecord({ userId: "root" }), userId, impersonator: "root" });
    const first = acting("amy");
    const racing = cache.begin(first.id);
    cache.invalidateUsers(["amy"]);
    const second = acting("u0");
    const late = cache.begin(second.id); // in flight through all that follows
    assert.equal(cache.complete(racing, first), false);
    for (let i = 0; i < 2000; i++) {
      const other = cache.begin(sampleRecord({ userId: `u${i}` }).id);
      cache.invalidateUsers([`u${i}`]);
      cache.abandon(other);
    }
    assert.equal(cache.complete(late, second), false, "u0 was invalidated right after this fill began: still remembered");
    assert.equal(cache.complete(cache.begin(first.id), first), true);
  });

  it("touched() moves a cached copy's sliding expiry forward, never back", () => {
    const cache = new NearCache(10, 1 << 20);
    const record = sampleRecord();
    cache.complete(cache.begin(record.id), record);
    cache.touched(record.id, record.lastSeenAt + 10, record.expiresAt + 10);
    cache.touched(record.id, record.lastSeenAt + 5, record.expiresAt + 5);
    assert.equal(cache.get(record.id)!.lastSeenAt, record.lastSeenAt + 10);
  });
});

describe("SequenceTracker (gap detection)", () => {
  it("in order: no gap; the first notice of a publisher is its baseline", () => {
    const tracker = new SequenceTracker(100);
    for (const seq of [41, 42, 43]) assert.equal(tracker.observe("p", seq, 0), false);
    assert.equal(tracker.deadline, Infinity);
    assert.equal(tracker.expire(1000), 0);
  });

  it("out of order but complete within the window: no gap", () => {
    const tracker = new SequenceTracker(100);
    tracker.observe("p", 1, 0);
    tracker.observe("p", 4, 10);
    assert.equal(tracker.deadline, 110);
    tracker.observe("p", 3, 20);
    tracker.observe("p", 2, 30);
    assert.equal(tracker.expire(200), 0);
  });

  it("a number still missing after the window is a gap, counted once per publisher", () => {
    const tracker = new SequenceTracker(100);
    tracker.observe("p", 1, 0);
    tracker.observe("p", 3, 0);
    tracker.observe("q", 7, 0);
    tracker.observe("q", 9, 50);
    assert.equal(tracker.expire(99), 0, "still within the window");
    assert.equal(tracker.expire(100), 1);
    assert.equal(tracker.expire(150), 1, "q's hole expired later");
    assert.equal(tracker.expire(1000), 0, "each gap is reported once");
  });

  it("a hole too wide to track is a gap at once; reset() forgets every baseline", () => {
    const tracker = new SequenceTracker(100);
    tracker.observe("p", 1, 0);
    assert.equal(tracker.observe("p", 5000, 0), true);
    tracker.reset();
    assert.equal(tracker.observe("p", 9000, 0), false, "a new baseline after reset");
  });
});

test("feed messages round-trip, and anything else decodes to null", () => {
  const notice = { publisher: "abc", seq: 7, sentAt: 1700000000000.125, ids: ["x"], users: ["u"], ackRequested: true };
  assert.deepEqual(decodeMessage(encodeNotice(notice)), { kind: "notice", ...notice });
  assert.deepEqual(decodeMessage(encodeAck("me", 7)), { kind: "ack", from: "me", seq: 7 });
  assert.deepEqual(decodeMessage(encodePing(3)), { kind: "ping", round: 3 });
  for (const bad of [
    "",
    "nope",
    "{}",
    '{"v":2,"p":"a","s":1,"t":1}',
    '{"v":1,"p":"a","s":-1,"t":1}',
    '{"v":1,"p":"a","s":1,"t":1,"i":[1]}',
    '{"v":1,"k":"ack","p":1,"s":1}',
  ]) {
    assert.equal(decodeMessage(bad), null, bad);
  }
});

describe("nearCache and revocation options", () => {
  it("are refused, with the fix named, on stores without a feed", () => {
    const cases: Array<[Partial<SessionsOptions>, RegExp]> = [
      [{ nearCache: true }, /nearCache needs a store with an invalidation feed — redisStore\(\) or postgresStore\(\)/],
      [{ revocation: "strict" }, /revocation: "strict" needs a store with an invalidation feed/],
    ];
    for (const [options, message] of cases) {
      assert.throws(() => createSessions({ store: memoryStore(), ...options }), message);
      const sqlite = sqliteStore({ path: ":memory:" });
      assert.throws(() => createSessions({ store: sqlite, allowProcessLocalStore: true, ...options }), message);
      void sqlite.close();
    }
  });

  it("are validated at construction", () => {
    // A store that claims a feed: validation runs before anything would use it.
    const store = Object.create(memoryStore(), { feed: { value: {} } }) as never;
    const bad: Array<[Partial<SessionsOptions>, RegExp]> = [
      [{ nearCache: "yes" as never }, /nearCache must be true, false or \{ maxEntries, maxBytes, lease \}/],
      [{ nearCache: { maxEntries: 0 } }, /nearCache.maxEntries must be a whole number from 1/],
      [{ nearCache: { maxBytes: 1.5 } }, /nearCache.maxBytes must be a whole number/],
      [{ nearCache: { lease: 50 } }, /nearCache.lease must be a whole number from 200 to 60000/],
      [{ nearCache: { lease: 600_000 } }, /nearCache.lease must be at most 60000 ms \(got 600000\).*Leave it at the default 2000/],
      [{ nearCache: { lease: 60_001 } }, /nearCache.lease must be at most 60000 ms/],
      [{ revocation: "eventual" as never }, /revocation must be "bounded" or "strict"/],
    ];
    for (const [options, message] of bad)
      assert.throws(
        () => createSessions({ store, ...options }),
        (error: Error) => error instanceof TypeError && message.test(error.message),
      );
  });

  it("stats() without a feed: off and zero", () => {
    const sessions = createSessions({ store: memoryStore(), sweepInterval: false });
    const stats = sessions.stats();
    assert.equal(stats.feed, "off");
    assert.equal(stats.enabled, false);
    assert.equal(stats.hits + stats.misses + stats.invalidations + stats.flushes.total, 0);
  });
});
