import { keepListening } from "../../store/feed.js";
import type { FeedListener, FeedSubscription, LiveLease, StoreFeed } from "../../store/contract.js";
import { toFields, type ClusterMaster, type RedisCommands } from "./commands.js";
import { FirstCopies } from "./first-copies.js";
import { DROP_LEASE, LIVE_LEASES, RENEW_LEASE } from "./scripts.js";
import type { RedisSubscriber } from "./subscriber.js";

/**
 * The Redis store's feed: notices are PUBLISHed by the write scripts on
 * `<prefix>feed`; each process's inbox is the channel `<prefix>feed:<inbox>`;
 * leases live in the sorted set `<prefix>{feed}:leases`, scored by Redis's
 * TIME. Each listening process holds one extra connection, in subscriber
 * mode. PUBLISH costs next to nothing, so every process publishes notices.
 *
 * On Redis Cluster a script publishes on the master that owns its keys, and
 * classic pub/sub forwards every message over the cluster bus to every other
 * node — a hop with a tail of tens of ms. So the feed holds one subscriber
 * connection per master and delivers the first copy of each message (the
 * direct one, normally), dropping the copies that follow over the bus
 * ({@link FirstCopies}). A ping goes through every master X on a channel
 * only the connection to X subscribes to, so its copy comes back on that
 * connection behind everything X published before it: all copies back means
 * every notice published before the ping has been delivered. Losing any of
 * the connections loses the feed; each subscription starts from the
 * cluster's current masters.
 */
export class RedisFeed implements StoreFeed {
  readonly publishByDefault = true;
  /** The broadcast channel the write scripts publish notices on. */
  readonly channel: string;
  readonly #redis: RedisCommands;
  readonly #leases: string;

  constructor(redis: RedisCommands, prefix: string) {
    this.#redis = redis;
    this.channel = `${prefix}feed`;
    this.#leases = `${prefix}{feed}:leases`;
  }

  listen(inbox: string, listener: FeedListener): FeedSubscription {
    if (this.#redis.topology === "cluster") return keepListening((lost) => this.#subscribeToEveryMaster(inbox, listener, lost), listener);
    const channels = [this.channel, this.#inboxChannel(inbox)];
    return keepListening(async (lost) => {
      const subscriber = await this.#redis.openSubscriber();
      subscriber.onLost(lost);
      try {
        await subscriber.subscribe(channels, (_channel, message) => listener.message(message));
      } catch (error) {
        await subscriber.close().catch(() => undefined);
        throw error;
      }
      return subscriber;
    }, listener);
  }

  send(inbox: string, payload: string): Promise<void> {
    return this.#redis.publish(this.#inboxChannel(inbox), payload);
  }

  async ping(inbox: string, payload: string): Promise<number> {
    if (this.#redis.topology !== "cluster") {
      await this.#redis.publish(this.#inboxChannel(inbox), payload);
      return 1;
    }
    // A master the subscription has no connection to (it became one since) never echoes: the lease's
    // ping times out, the feed is reset, and the new subscription covers it.
    const masters = await this.#redis.clusterMasters(false);
    await Promise.all(masters.map((master) => master.publish(this.#pingChannel(inbox, master.address), payload)));
    return masters.length;
  }

  async renewLease(inbox: string, ttlMs: number): Promise<void> {
    await this.#redis.run(RENEW_LEASE, [this.#leases], [inbox, String(Math.ceil(ttlMs))]);
  }

  async liveLeases(): Promise<LiveLease[]> {
    const pairs = toFields(await this.#redis.run(LIVE_LEASES, [this.#leases], []));
    return Object.entries(pairs).map(([inbox, remaining]) => ({ inbox, remainingMs: Number(remaining) }));
  }

  async dropLease(inbox: string): Promise<void> {
    await this.#redis.run(DROP_LEASE, [this.#leases], [inbox]);
  }

  #inboxChannel(inbox: string): string {
    return `${this.channel}:${inbox}`;
  }

  /** Where pings through `master` go: only the connection to that master subscribes to it. */
  #pingChannel(inbox: string, master: string): string {
    return `${this.channel}:${inbox}:ping:${master}`;
  }

  /** One connection per master of the cluster as it is now; all subscribed, or none kept. */
  async #subscribeToEveryMaster(inbox: string, listener: FeedListener, lost: (error: Error) => void): Promise<{ close(): Promise<void> }> {
    const masters = await this.#redis.clusterMasters(true);
    if (masters.length === 0) throw new Error("the Redis Cluster has no known master yet");
    // One per channel, so a notice and an inbox message with the same text are never taken for each other.
    const firstNotices = new FirstCopies(masters.length);
    const firstInInbox = new FirstCopies(masters.length);
    const inboxChannel = this.#inboxChannel(inbox);
    const subscribers: RedisSubscriber[] = [];
    const close = async (): Promise<void> => {
      await Promise.all(subscribers.map((subscriber) => subscriber.close().catch(() => undefined)));
    };
    const subscribeTo = async (master: ClusterMaster): Promise<void> => {
      const subscriber = await master.openSubscriber();
      subscribers.push(subscriber);
      subscriber.onLost((error) => lost(new Error(`lost the connection to master ${master.address}: ${error.message}`)));
      const ping = this.#pingChannel(inbox, master.address);
      await subscriber.subscribe([this.channel, inboxChannel, ping], (channel, message) => {
        // Notices and inbox messages arrive once per master: the first copy counts. A ping copy is its master's own.
        if (channel === ping || (channel === inboxChannel ? firstInInbox : firstNotices).first(message)) listener.message(message);
      });
    };
    const attempts = await Promise.allSettled(masters.map(subscribeTo));
    const failed = attempts.find((attempt): attempt is PromiseRejectedResult => attempt.status === "rejected");
    if (failed) {
      await close();
      throw failed.reason instanceof Error ? failed.reason : new Error(String(failed.reason));
    }
    return { close };
  }
}
