import type { StoreFeed } from "../store/contract.js";
import { encodePing } from "./messages.js";

/** Below this margin a lease could end on the store's clock before the process stops trusting its cache. */
const MIN_FENCE_MARGIN_MS = 50;

export interface LeaseEvents {
  /** The lease lapsed while the cache was trusted: flush it before it serves again. */
  lapsed(why: string): void;
  /** A ping was sent but never came back: the subscription delivers nothing. */
  silent(error: Error): void;
  /** A renewal or a ping could not be sent (the store did not answer). */
  failed(error: Error): void;
  /** A round succeeded: the cache may serve. */
  renewed(): void;
}

/** The ping could not be sent at all: the store, not the subscription, is the problem. */
class NotSent extends Error {}

interface PendingPing {
  needed: number;
  got: number;
  done: () => void;
}

/**
 * One process's lease, and the only thing that lets its cache serve.
 *
 * A *round* renews the lease in the store (stamped by the store's clock),
 * then sends a ping to this process's own inbox through every shard of the
 * feed and waits until every copy came back (a process not serving pings
 * once before renewing, so a deaf subscription never holds a lease). On success the cache may serve
 * until `sentAt + lease − margin` by this process's monotonic clock, `sentAt`
 * taken before the renewal was sent: the store ends the lease no earlier than
 * `sentAt + lease`, so the process stops first. The pings prove the
 * subscription is alive and, since each shard delivers in order, that every
 * notice published before them has been applied.
 *
 * Lease operations run one after another (a drop never lands after a later
 * renewal), and every feed loss starts a new epoch: a round that began in an
 * older epoch changes nothing.
 */
export class Lease {
  readonly #feed: StoreFeed;
  readonly #inbox: string;
  readonly #leaseMs: number;
  readonly #margin: number;
  readonly #events: LeaseEvents;
  readonly #pings = new Map<number, PendingPing>();
  #ops: Promise<void> = Promise.resolve();
  #validUntil = 0;
  #epoch = 0;
  #round = 0;
  #inFlight = false;
  #closed = false;

  constructor(feed: StoreFeed, inbox: string, leaseMs: number, events: LeaseEvents) {
    this.#feed = feed;
    this.#inbox = inbox;
    this.#leaseMs = leaseMs;
    this.#margin = Math.max(MIN_FENCE_MARGIN_MS, Math.floor(leaseMs / 10));
    this.#events = events;
  }

  /** Whether the cache may serve now. Cheap: called on every read. A lapse is reported once. */
  valid(now = performance.now()): boolean {
    if (this.#validUntil === 0) return false;
    if (now < this.#validUntil) return true;
    this.#validUntil = 0;
    this.#events.lapsed("its lease was not renewed in time (store or feed unreachable, or the process stalled)");
    return false;
  }

  /** Ends trust now and starts a new epoch (feed lost, or closing); drops the lease so no strict revocation waits for this process. */
  end(): Promise<void> {
    this.#epoch++;
    this.#validUntil = 0;
    for (const ping of this.#pings.values()) ping.done(); // their rounds are stale now
    return this.#serially(() => this.#feed.dropLease(this.#inbox)).catch(() => undefined);
  }

  close(): Promise<void> {
    this.#closed = true;
    return this.end();
  }

  /** A ping copy came back. */
  echoed(round: number): void {
    const ping = this.#pings.get(round);
    if (ping && ++ping.got >= ping.needed) ping.done();
  }

  /** One round; does nothing while another is in flight. */
  async renew(): Promise<void> {
    if (this.#inFlight || this.#closed) return;
    this.#inFlight = true;
    const epoch = this.#epoch;
    try {
      // Not serving: first make sure the subscription delivers at all, so a deaf one
      // never takes a lease that strict revocations would wait out.
      if (!this.serving && !(await this.#pingedIn(epoch, performance.now() + this.#leaseMs - this.#margin))) return;
      const sentAt = performance.now();
      const until = sentAt + this.#leaseMs - this.#margin;
      try {
        await this.#serially(() => this.#feed.renewLease(this.#inbox, this.#leaseMs));
      } catch (error) {
        this.#events.failed(error as Error); // the lease runs out on its own; valid() fences when it does
        return;
      }
      if (epoch !== this.#epoch || !(await this.#pingedIn(epoch, until))) return;
      const now = performance.now();
      if (this.#validUntil !== 0 && now >= this.#validUntil) this.valid(now); // lapsed meanwhile: flush first
      if (until > now && until > this.#validUntil) {
        this.#validUntil = until;
        this.#events.renewed();
      }
    } finally {
      this.#inFlight = false;
    }
  }

  /** A ping round trip within `deadline`, still in `epoch`. A failure in the current epoch is reported: not sent → failed, sent but not back → silent. */
  async #pingedIn(epoch: number, deadline: number): Promise<boolean> {
    try {
      await this.#ping(++this.#round, deadline);
    } catch (error) {
      if (epoch === this.#epoch) {
        if (error instanceof NotSent) this.#events.failed(error);
        else this.#events.silent(error as Error);
      }
      return false;
    }
    return epoch === this.#epoch;
  }

  get serving(): boolean {
    return this.#validUntil > performance.now();
  }

  /** Sends the round's ping through every shard; resolves when all copies came back, rejects at `deadline`. */
  #ping(round: number, deadline: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const epoch = this.#epoch;
      const timer = setTimeout(
        () => {
          this.#pings.delete(round);
          reject(new Error(`a ping through the feed did not come back within ${Math.round(this.#leaseMs - this.#margin)} ms`));
        },
        Math.max(1, deadline - performance.now()),
      );
      const ping: PendingPing = {
        needed: Infinity,
        got: 0,
        done: () => {
          clearTimeout(timer);
          this.#pings.delete(round);
          resolve();
        },
      };
      this.#pings.set(round, ping);
      const payload = encodePing(round);
      const sent = this.#feed.ping ? this.#feed.ping(this.#inbox, payload) : this.#feed.send(this.#inbox, payload).then(() => 1);
      const notSent = (why: string): void => {
        clearTimeout(timer);
        this.#pings.delete(round);
        reject(new NotSent(why));
      };
      sent.then(
        (copies) => {
          // Through no shard at all (a cluster between topologies) proves nothing.
          if (!(copies >= 1)) return notSent("a ping could not be sent through any shard of the feed");
          ping.needed = copies;
          if (epoch === this.#epoch && ping.got >= copies) ping.done();
        },
        (error: unknown) => notSent(`a ping could not be sent: ${error instanceof Error ? error.message : String(error)}`),
      );
    });
  }

  /** Runs lease operations one at a time, in the order they were asked for. */
  #serially(operation: () => Promise<void>): Promise<void> {
    const run = this.#ops.then(operation);
    this.#ops = run.catch(() => undefined);
    return run;
  }
}
