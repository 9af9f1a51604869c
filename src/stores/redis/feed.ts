import { keepListening } from "../../store/feed.js";
import type { FeedListener, FeedSubscription, LiveLease, StoreFeed } from "../../store/contract.js";
import { toFields, type RedisCommands } from "./commands.js";
import { DROP_LEASE, LIVE_LEASES, RENEW_LEASE } from "./scripts.js";

/**
 * The Redis store's feed: notices are PUBLISHed by the write scripts on
 * `<prefix>feed`; each process's inbox is the channel `<prefix>feed:<inbox>`;
 * leases live in the sorted set `<prefix>{feed}:leases`, scored by Redis's
 * TIME. Each listening process holds one extra connection, in subscriber
 * mode. On Redis Cluster, classic pub/sub reaches every node, so that
 * connection goes to any one master, and a ping goes through every master
 * (each copy arrives behind everything that master published before it).
 * PUBLISH costs next to nothing, so every process publishes notices.
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

  ping(inbox: string, payload: string): Promise<number> {
    return this.#redis.publishThroughEveryMaster(this.#inboxChannel(inbox), payload);
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
}
