import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { after, describe, it } from "node:test";
import { idOfToken, type FeedListener, type FeedSubscription, type SessionStore, type StoreFeed } from "../store/index.js";
import { mintToken } from "../store/token.js";
import { sampleRecord } from "./records.js";

export interface FeedConformanceOptions {
  name: string;
  /** A store with a `feed`. Called once per test; every store is closed afterwards. */
  createStore: () => SessionStore | Promise<SessionStore>;
  /**
   * Cuts the listening connections of this store's feed from the server side
   * (Redis CLIENT KILL, PostgreSQL pg_terminate_backend). When given, the
   * suite checks that a listener sees `down`, then `up` again, and receives
   * what is published afterwards.
   */
  killListeners?: () => Promise<void>;
  /**
   * false for a sharded store whose feed keeps order per shard only (Redis
   * Cluster: each master's notices arrive in order, notices of two masters in
   * any order). Default true: one order for everything.
   */
  ordered?: boolean;
  cleanup?: () => void | Promise<void>;
}

const HOUR = 3_600_000;

/** @internal Collects what one listener receives (also used by the Redis Cluster feed tests). */
export class Recorder implements FeedListener {
  readonly messages: string[] = [];
  ups = 0;
  downs = 0;
  message(payload: string): void {
    this.messages.push(payload);
  }
  up(): void {
    this.ups++;
  }
  down(): void {
    this.downs++;
  }
}

async function until(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

const inboxName = () => randomBytes(9).toString("base64url");
const later = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The feed contract (see `StoreFeed`) as tests, for stores that offer a feed:
 * notices published atomically with their writes on every outcome, inboxes,
 * leases by the server's clock, loss/recovery of the listening connection,
 * and the optional `ping` and `reset()`. Runs under node:test.
 * @example
 * import { runFeedConformance } from "latchkey/conformance";
 * runFeedConformance({ name: "my store", createStore: () => myStore(), killListeners: () => myKillListeners() });
 */
export function runFeedConformance(options: FeedConformanceOptions): void {
  describe(`feed conformance: ${options.name}`, () => {
    const opened: SessionStore[] = [];
    const subscriptions: FeedSubscription[] = [];
    const fresh = async (): Promise<{ store: SessionStore; feed: StoreFeed }> => {
      const store = await options.createStore();
      opened.push(store);
      assert.ok(store.feed, `${store.name} has no feed`);
      return { store, feed: store.feed };
    };
    const listen = async (feed: StoreFeed, inbox = inboxName()): Promise<{ recorder: Recorder; inbox: string; subscription: FeedSubscription }> => {
      const recorder = new Recorder();
      const subscription = feed.listen(inbox, recorder);
      subscriptions.push(subscription);
      await until(() => recorder.ups === 1, "the listener to be subscribed");
      return { recorder, inbox, subscription };
    };
    after(async () => {
      for (const subscription of subscriptions) await subscription.close().catch(() => undefined);
      for (const store of opened) await store.close().catch(() => undefined);
      await options.cleanup?.();
    });

    it("every write given a notice publishes it once, whatever its outcome; touch and create publish nothing", async () => {
      const { store, feed } = await fresh();
      const { recorder } = await listen(feed);
      const record = sampleRecord({ userId: "nina" });
      await store.create(record);
      await store.touch(record.id, record.lastSeenAt + 1, record.expiresAt + 1);
      const now = Date.now();
      const rotateInput = (userId: string | null, notice: string) => ({
        newId: idOfToken(mintToken(userId)),
        userId,
        change: { set: { r: 1 }, unset: [] },
        createdAt: now,
        lastSeenAt: now,
        expiresAt: now + HOUR,
        absoluteExpiresAt: now + HOUR,
        notice,
      });
      const change = (notice: string, expectVersion?: number) => ({
        change: { set: { k: notice }, unset: [] },
        lastSeenAt: now,
        expiresAt: now + HOUR,
        expectVersion,
        notice,
      });
      assert.equal((await store.patch(record.id, change("patch-ok"))).status, "ok");
      assert.equal((await store.patch(record.id, change("patch-conflict", 1))).status, "conflict");
      const rotated = await store.rotate(record.id, rotateInput("nina", "rotate-ok"));
      assert.equal(rotated.status, "ok");
      assert.equal((await store.rotate(record.id, rotateInput("nina", "rotate-gone"))).status, "gone");
      assert.equal((await store.patch(record.id, change("patch-gone"))).status, "gone");
      const anonymous = sampleRecord();
      await store.create(anonymous);
      assert.equal((await store.rotate(anonymous.id, rotateInput("olga", "rotate-across-routes"))).status, "ok");
      assert.equal(
        (await store.destroy(rotated.status === "ok" ? rotated.record.id : "", { notice: "destroy-existing" }))?.id,
        rotated.status === "ok" ? rotated.record.id : "",
      );
      assert.equal(await store.destroy(record.id, { notice: "destroy-missing" }), null);
      const kept = sampleRecord({ userId: "olga" });
      await store.create(kept);
      assert.equal((await store.destroyUser("olga", { notice: "destroy-user-except", except: kept.id })).length, 1);
      assert.equal((await store.destroyUser("olga", { notice: "destroy-user" })).length, 1);
      assert.equal((await store.destroyUser("olga", { notice: "destroy-user-none" })).length, 0);
      const expected = [
        "patch-ok",
        "patch-conflict",
        "rotate-ok",
        "rotate-gone",
        "patch-gone",
        "rotate-across-routes",
        "destroy-existing",
        "destroy-missing",
        "destroy-user-except",
        "destroy-user",
        "destroy-user-none",
      ];
      await until(() => recorder.messages.length >= expected.length, "every notice");
      await later(50);
      if (options.ordered === false) assert.deepEqual([...recorder.messages].sort(), [...expected].sort(), "each notice once");
      else assert.deepEqual(recorder.messages, expected, "each notice once, in the order of the writes");
    });

    it("a notice arrives only once its write is visible to every reader", async () => {
      const { store, feed } = await fresh();
      const { recorder } = await listen(feed);
      const records = Array.from({ length: 20 }, () => sampleRecord({ userId: "pia" }));
      for (const record of records) await store.create(record);
      const seenGone: boolean[] = [];
      const checks: Promise<void>[] = [];
      const original = recorder.message.bind(recorder);
      recorder.message = (payload: string) => {
        original(payload);
        const id = records[Number(payload)]!.id;
        checks.push(store.get(id).then((found) => void seenGone.push(found === null)));
      };
      await Promise.all(records.map((record, i) => store.destroy(record.id, { notice: String(i) })));
      await until(() => checks.length === records.length, "every notice");
      await Promise.all(checks);
      assert.ok(seenGone.every(Boolean), "a reader woken by the notice never sees the destroyed session");
    });

    it("messages sent to an inbox reach that inbox only; notices reach every listener", async () => {
      const { store, feed } = await fresh();
      const one = await listen(feed);
      const two = await listen(feed);
      await feed.send(one.inbox, "for one");
      await feed.send(two.inbox, "for two");
      await store.destroy(sampleRecord().id, { notice: "for all" });
      await until(() => one.recorder.messages.length >= 2 && two.recorder.messages.length >= 2, "deliveries");
      await later(50);
      assert.deepEqual(one.recorder.messages.sort(), ["for all", "for one"]);
      assert.deepEqual(two.recorder.messages.sort(), ["for all", "for two"]);
    });

    it("after close() a listener receives nothing more", async () => {
      const { store, feed } = await fresh();
      const { recorder, inbox, subscription } = await listen(feed);
      await subscription.close();
      await feed.send(inbox, "late");
      await store.destroy(sampleRecord().id, { notice: "late notice" });
      await later(100);
      assert.deepEqual(recorder.messages, []);
    });

    it("leases run by the server's clock: listed with their time left, gone when they end or are dropped", async () => {
      const { feed } = await fresh();
      const [a, b] = [inboxName(), inboxName()];
      await feed.renewLease(a, 400);
      await feed.renewLease(b, 60_000);
      const live = await feed.liveLeases();
      const leaseA = live.find((lease) => lease.inbox === a);
      assert.ok(leaseA, "a renewed lease is live");
      assert.ok(leaseA.remainingMs > 0 && leaseA.remainingMs <= 400, `remaining ${leaseA.remainingMs} ms of 400`);
      await later(500);
      const afterward = await feed.liveLeases();
      assert.equal(
        afterward.some((lease) => lease.inbox === a),
        false,
        "an expired lease is not live",
      );
      assert.ok(afterward.some((lease) => lease.inbox === b));
      await feed.renewLease(a, 60_000);
      assert.ok(
        (await feed.liveLeases()).some((lease) => lease.inbox === a),
        "a renewal revives a lapsed lease",
      );
      await feed.dropLease(a);
      await feed.dropLease(b);
      const dropped = await feed.liveLeases();
      assert.equal(
        dropped.some((lease) => lease.inbox === a || lease.inbox === b),
        false,
      );
    });

    it("ping (when offered) sends one copy per shard, at least one, and every copy arrives", async () => {
      const { feed } = await fresh();
      if (!feed.ping) return;
      const { recorder, inbox } = await listen(feed);
      const copies = await feed.ping(inbox, "ping-probe");
      assert.ok(Number.isInteger(copies) && copies >= 1, `ping sent ${copies} copies`);
      await until(() => recorder.messages.filter((m) => m === "ping-probe").length === copies, "every copy");
    });

    it("reset() (when offered) reconnects a subscription: down, then up, then it receives again", async () => {
      const { store, feed } = await fresh();
      const { recorder, subscription } = await listen(feed);
      if (!subscription.reset) return;
      subscription.reset();
      await until(() => recorder.downs === 1 && recorder.ups === 2, "down, then up again");
      await store.destroy(sampleRecord().id, { notice: "after the reset" });
      await until(() => recorder.messages.includes("after the reset"), "delivery after the reset");
    });

    it(
      "a listener whose connection is cut sees down, then up, and then receives again",
      { skip: options.killListeners ? false : "no killListeners hook" },
      async () => {
        const { store, feed } = await fresh();
        const { recorder } = await listen(feed);
        await options.killListeners!();
        await until(() => recorder.downs === 1, "down after the connection was cut");
        await until(() => recorder.ups === 2, "up after the feed reconnected");
        await store.destroy(sampleRecord().id, { notice: "after the cut" });
        await until(() => recorder.messages.includes("after the cut"), "delivery after reconnecting");
      },
    );
  });
}
