// A near-cache hit shares one decoded, frozen copy of the session data across requests; each Session copies it
// only when its request reads an object value or changes something. These tests hold the other side of that
// bargain: whatever a request does with what it read, no other request sees it, exactly as without the cache.
import assert from "node:assert/strict";
import { after, before, describe, it, test } from "node:test";
import { createSessions, type Session, type Sessions } from "../../core/index.js";
import { redisStore } from "./index.js";
import { deletePrefix, REDIS_URL, requireRedis, testPrefix, until } from "../../testing/redis-server.js";

type Data = { cart?: (string | { sku: string })[]; profile?: { name: string; tags: string[] }; theme?: string };

const redis = await requireRedis();
if (redis.skip) {
  test("near-cache data copies: Redis", { skip: redis.skip }, () => undefined);
} else {
  describe("near-cache hits: each request's data is its own", () => {
    const prefix = testPrefix();
    let sessions: Sessions<Data>;
    let token: string;

    /** A request's session, which must come from the near-cache. */
    const hit = (): Session<Data> => {
      const session = sessions.loadCached([token]);
      assert.ok(session, "the near-cache should answer");
      return session;
    };

    /** Reads through the store until the near-cache holds the current version (this process's own notices may drop a fill). */
    const refill = () =>
      until(async () => (await sessions.load([token])) !== undefined && sessions.loadCached([token]) !== undefined, "the near-cache holds the session");

    before(async () => {
      sessions = createSessions<Data>({ store: redisStore({ url: REDIS_URL, prefix }), nearCache: true, sweepInterval: false });
      await until(() => sessions.stats().serving, "the near-cache serves");
      const first = await sessions.load([]);
      await first.login("alice");
      first.set("cart", ["a", { sku: "b" }]);
      first.set("profile", { name: "Alice", tags: ["x"] });
      await first.commit();
      token = (first.cookieInstruction() as { token: string }).token;
      await refill();
    });

    after(async () => {
      await sessions.close();
      await deletePrefix(REDIS_URL, prefix);
    });

    it("a value read and mutated in place stays this request's (and within it, the same object)", () => {
      const reader = hit();
      const cart = reader.get("cart")!;
      cart.push("mutated");
      (cart[1] as { sku: string }).sku = "changed";
      assert.equal(reader.get("cart"), cart);
      reader.get("profile")!.tags.push("y");
      assert.deepEqual(reader.toJSON().cart, ["a", { sku: "changed" }, "mutated"]);
      reader.seal();
      const next = hit();
      assert.deepEqual(next.get("cart"), ["a", { sku: "b" }]);
      assert.deepEqual(next.get("profile"), { name: "Alice", tags: ["x"] });
    });

    it("toJSON() hands out values the app may change freely", () => {
      const copy = hit().toJSON();
      copy.profile!.tags.push("z");
      copy.cart!.length = 0;
      assert.deepEqual(hit().toJSON(), { cart: ["a", { sku: "b" }], profile: { name: "Alice", tags: ["x"] } });
    });

    it("a read that asks only for primitives or userId copies nothing and changes nothing", () => {
      const reader = hit();
      assert.equal(reader.userId, "alice");
      assert.equal(reader.has("cart"), true);
      assert.equal(reader.get("theme"), undefined);
      assert.equal(reader.needsCommit, false);
      assert.equal(reader.dirty, false);
    });

    it("a change on a hit is committed, and other keys keep their values", async () => {
      const writer = hit();
      writer.get("cart")!.push("not saved: set() was not called");
      writer.set("theme", "dark");
      assert.equal(await writer.commit(), "saved");
      const reread = await sessions.load([token]);
      assert.deepEqual(reread.toJSON(), { cart: ["a", { sku: "b" }], profile: { name: "Alice", tags: ["x"] }, theme: "dark" });
      await refill();
      assert.equal(hit().get("theme"), "dark");
      const unsetter = hit();
      unsetter.unset("theme");
      assert.equal(await unsetter.commit(), "saved");
    });

    it("flashes read on a hit are the request's own values", async () => {
      await refill();
      const writer = hit();
      writer.flash("notice", { text: "Saved" });
      await writer.commit();
      await refill();
      const reader = hit();
      const shown = reader.flashes();
      (shown.notice![0] as { text: string }).text = "changed";
      assert.deepEqual(shown.notice, [{ text: "changed" }]);
      assert.equal(await reader.commit(), "saved");
    });

    it("a token served from the near-cache again and again is refused once its session is revoked (the remembered id decides nothing)", async () => {
      const own = await sessions.load([]);
      await own.login("bob");
      const bobToken = (own.cookieInstruction() as { token: string }).token;
      await until(async () => (await sessions.load([bobToken])) !== undefined && sessions.loadCached([bobToken]) !== undefined, "bob's session is cached");
      for (let i = 0; i < 3; i++) assert.equal(sessions.loadCached([bobToken])?.userId, "bob");
      assert.equal(await sessions.revoke(own.handle!), true);
      assert.equal(sessions.loadCached([bobToken]), undefined);
      assert.equal((await sessions.load([bobToken])).userId, null);
      assert.equal(sessions.loadCached([bobToken]), undefined);
      // A token of the wrong shape is never looked up, remembered or not.
      assert.equal(sessions.loadCached([`${bobToken}x`]), undefined);
    });
  });
}
