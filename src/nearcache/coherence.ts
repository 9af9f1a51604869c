import { randomBytes } from "node:crypto";
import { redactCredentials } from "../store/redact.js";
import type { FeedSubscription, SessionRecord, StoreFeed } from "../store/contract.js";
import { AckWait } from "./acks.js";
import { NearCache } from "./cache.js";
import { Lease } from "./lease.js";
import { decodeMessage, encodeAck, encodeNotice, preciseNow, type Notice } from "./messages.js";
import { SequenceTracker } from "./sequence.js";
import { LatencySamples, type FeedState, type NearCacheStats } from "./stats.js";

/** Where the near-cache reports feed loss and recovery (the sessions' logger fits). */
export interface CoherenceLogger {
  warn(message: string): void;
}

export interface CoherenceOptions {
  feed: StoreFeed;
  storeName: string;
  logger: CoherenceLogger;
  /** A near-cache to keep coherent, or null: this process only publishes notices (and, when strict, collects acks). */
  cache: { maxEntries: number; maxBytes: number; leaseMs: number } | null;
  strict: boolean;
  /** Told each propagation delay and strict wait as it is measured (metrics), in ms. */
  timings?: { propagation(ms: number): void; strictWait(ms: number): void } | null;
}

/**
 * Told of the sessions that other processes' writes ended (sessions.watch).
 * `ended` may be async: under strict revocation this process acknowledges a
 * notice only once it settled, so a revoker resolves after the listeners ran.
 * `resync` is called when notices may have been missed (the feed came back
 * after a loss, a gap in sequence numbers): re-read everything watched.
 */
export interface NoticeObserver {
  ended(ids: readonly string[], users: readonly string[], reason: string): Promise<void> | void;
  resync(): void;
}

/** A failed acknowledgement is logged at most this often. */
const ACK_WARNING_INTERVAL_MS = 60_000;

/** The lease of a process that watches sessions but has no near-cache. */
const WATCHER_LEASE_MS = 2000;

/**
 * Keeps one process's near-cache coherent with every other process through
 * the store's feed, and implements strict revocation. The cache answers reads
 * only while this process's {@link Lease} is valid; any doubt — the feed
 * dropped or went silent, a notice lost, an unreadable message, a lapse —
 * flushes it before it serves again.
 */
export class Coherence {
  /** This process's address on the feed, and its publisher id in notices. */
  readonly inbox = randomBytes(12).toString("base64url");
  readonly strict: boolean;
  readonly cache: NearCache | null;
  readonly #feed: StoreFeed;
  readonly #storeName: string;
  readonly #logger: CoherenceLogger;
  #lease: Lease | null;
  #leaseMs: number;
  #observer: NoticeObserver | null = null;
  readonly #sequences: SequenceTracker;
  readonly #acks = new Map<number, AckWait>();
  #subscription: FeedSubscription | null = null;
  #timer: NodeJS.Timeout | undefined;
  /** The subscription's state; stats() tells "verifying" from "ready" by the lease. */
  #state: "off" | "connecting" | "up" | "down" | "closed" = "off";
  #seq = 0;
  /** A problem was logged and the cache has not served since: one line per episode, and one when it ends. */
  #troubled = false;
  #malformedLogged = false;
  /** performance.now() before which a failed acknowledgement is not logged again. */
  #ackWarnedUntil = 0;
  readonly #counts = { hits: 0, misses: 0, bypasses: 0, invalidations: 0, flushes: 0, feedLost: 0, gap: 0, lease: 0, malformed: 0, waitedOut: 0 };
  readonly #propagation = new LatencySamples();
  readonly #strictWaits = new LatencySamples();
  readonly #timings: CoherenceOptions["timings"];

  constructor(options: CoherenceOptions) {
    this.#feed = options.feed;
    this.#storeName = options.storeName;
    this.#logger = options.logger;
    this.strict = options.strict;
    this.#timings = options.timings ?? null;
    this.cache = options.cache ? new NearCache(options.cache.maxEntries, options.cache.maxBytes) : null;
    const leaseMs = options.cache?.leaseMs ?? 0;
    this.#leaseMs = leaseMs;
    this.#sequences = new SequenceTracker(gapWindowMs(leaseMs));
    this.#lease = options.cache ? this.#newLease(leaseMs) : null;
    if (this.cache || this.strict) this.#listen();
  }

  #newLease(leaseMs: number): Lease {
    return new Lease(this.#feed, this.inbox, leaseMs, {
      lapsed: (why) => {
        this.#flush("lease");
        this.#warnOnce(`the near-cache of ${this.#storeName} stopped serving: ${why}; reads go to the store until the next renewal`);
      },
      silent: (error) => this.#silent(error),
      failed: (error) =>
        this.#warnOnce(`could not renew the near-cache lease in ${this.#storeName} (${error.message}); the cache stops serving when the lease runs out`),
      renewed: () => {
        if (!this.#troubled) return;
        this.#troubled = false;
        this.#logger.warn(`latchkey: the near-cache of ${this.#storeName} serves again`);
      },
    });
  }

  /**
   * Watchers in this process (sessions.watch): tell `observer` of every
   * ending notice from other processes. Listens to the feed from now on, and
   * holds a lease like a near-cache does, so a strict revocation waits for
   * this process's acknowledgement — sent once the observer settled — or for
   * its lease to run out (a frozen or crashed process holds it at most one lease).
   */
  observe(observer: NoticeObserver): void {
    if (this.#observer || this.#state === "closed") return;
    this.#observer = observer;
    if (!this.#lease) {
      this.#leaseMs = WATCHER_LEASE_MS;
      this.#lease = this.#newLease(WATCHER_LEASE_MS);
    }
    if (this.#state === "off") this.#listen();
    else if (!this.#timer) this.#startTicking();
    if (this.#state === "up") void this.#lease.renew();
  }

  // ---- publishing ---------------------------------------------------------

  /**
   * The notice a write publishes with itself. With `ack`, acknowledgements
   * for it are collected from now on (so an early one is never missed).
   * `step` is the same notice asking for no acknowledgement, for a write done
   * in several steps (DestroyUserOptions.stepNotice): only the last step's
   * copy is acknowledged, so a process that acknowledged has forgotten what
   * it read between steps too. Equal to `payload` when no ack is asked.
   */
  notice(ids: string[], users: string[], ack: boolean, reason?: string): { payload: string; step: string; seq: number } {
    const seq = ++this.#seq;
    const requested = ack && this.strict;
    if (requested) this.#acks.set(seq, new AckWait());
    const notice: Notice = { publisher: this.inbox, seq, sentAt: preciseNow(), ids, users, ackRequested: requested };
    if (reason !== undefined) notice.reason = reason;
    const payload = encodeNotice(notice);
    return { payload, step: requested ? encodeNotice({ ...notice, ackRequested: false }) : payload, seq };
  }

  /** The write carrying notice `seq` failed: nothing to wait for. */
  cancel(seq: number): void {
    this.#acks.delete(seq);
  }

  /**
   * Strict revocation: resolves once every process holding a lease has
   * acknowledged notice `seq`, or its lease ran out by the store's clock.
   * Never waits longer than the longest lease.
   */
  async awaitAcks(seq: number): Promise<void> {
    const wait = this.#acks.get(seq);
    if (!wait) return;
    const started = performance.now();
    try {
      const leases = (await this.#feed.liveLeases()).filter((lease) => lease.inbox !== this.inbox);
      const waitedOut = await wait.untilAcknowledged(leases, () => this.#state === "closed");
      this.#counts.waitedOut += waitedOut;
      const waited = performance.now() - started;
      this.#strictWaits.add(waited);
      this.#timings?.strictWait(waited);
    } finally {
      this.#acks.delete(seq);
    }
  }

  // ---- the read path --------------------------------------------------------

  /** True while the cache may answer reads. Cheap: called on every read. */
  usable(): boolean {
    const now = performance.now();
    if (!this.#lease?.valid(now)) return false;
    if (now >= this.#sequences.deadline && this.#sequences.expire(now) > 0) this.#flush("gap");
    return true;
  }

  /** A cached record `accept` agrees to serve, counted as a hit; otherwise undefined. */
  lookup(id: string, accept: (record: SessionRecord) => boolean): SessionRecord | undefined {
    if (!this.cache || !this.usable()) return undefined;
    const record = this.cache.get(id);
    if (record === undefined || !accept(record)) return undefined;
    this.#counts.hits++;
    return record;
  }

  /** Reads through the store, caching the reply unless an invalidation raced it. */
  async fill(id: string, read: () => Promise<SessionRecord | null>): Promise<SessionRecord | null> {
    const cache = this.cache;
    if (!cache || !this.usable()) {
      if (cache) this.#counts.bypasses++;
      return read();
    }
    this.#counts.misses++;
    const ticket = cache.begin(id);
    try {
      const record = await read();
      if (this.usable()) cache.complete(ticket, record);
      else cache.abandon(ticket);
      return record;
    } catch (error) {
      cache.abandon(ticket);
      throw error;
    }
  }

  /** This process is writing these sessions: forget them now (and again when the write is done). */
  forget(ids: readonly string[], users: readonly string[]): void {
    if (!this.cache) return;
    if (ids.length > 0) this.cache.invalidateIds(ids);
    if (users.length > 0) this.cache.invalidateUsers(users);
  }

  touched(id: string, lastSeenAt: number, expiresAt: number): void {
    this.cache?.touched(id, lastSeenAt, expiresAt);
  }

  // ---- stats and lifecycle ----------------------------------------------------

  stats(): NearCacheStats {
    const c = this.#counts;
    const serving = this.#lease?.serving ?? false;
    const feed: FeedState = this.#state === "up" ? (this.cache && !serving ? "verifying" : "ready") : this.#state;
    return {
      enabled: this.cache !== null,
      revocation: this.strict ? "strict" : "bounded",
      feed,
      serving,
      entries: this.cache?.size ?? 0,
      bytes: this.cache?.bytes ?? 0,
      hits: c.hits,
      misses: c.misses,
      bypasses: c.bypasses,
      invalidations: c.invalidations,
      flushes: { total: c.flushes, feedLost: c.feedLost, gap: c.gap, lease: c.lease, malformed: c.malformed },
      propagationMs: this.#propagation.summary(),
      strictWaitMs: this.#strictWaits.summary(),
      strictWaitedOut: c.waitedOut,
    };
  }

  async close(): Promise<void> {
    if (this.#state === "closed") return;
    this.#state = "closed";
    clearInterval(this.#timer);
    this.cache?.flush();
    for (const wait of this.#acks.values()) wait.wake?.(); // each rejects: nothing is confirmed any more
    // A clean exit ends the lease at once, so no strict revocation waits for this process.
    await this.#lease?.close();
    await this.#subscription?.close().catch(() => undefined);
  }

  // ---- the feed -----------------------------------------------------------------

  #listen(): void {
    this.#state = "connecting";
    this.#subscription = this.#feed.listen(this.inbox, {
      message: (payload) => this.#onMessage(payload),
      up: () => this.#onUp(),
      down: (error) => this.#onDown(error),
    });
    if (this.#lease) this.#startTicking();
  }

  #startTicking(): void {
    this.#timer = setInterval(() => this.#tick(), Math.max(10, Math.floor(this.#leaseMs / 4)));
    this.#timer.unref();
  }

  /** Every lease/4: a renewal round, and the housekeeping of sequence numbers (gaps, silent publishers). */
  #tick(): void {
    if (this.#sequences.expire(performance.now()) > 0) {
      this.#flush("gap");
      this.#observer?.resync();
    }
    if (this.#state === "up") void this.#lease!.renew();
  }

  #warnOnce(message: string): void {
    if (this.#troubled) return;
    this.#troubled = true;
    this.#logger.warn(redactCredentials(`latchkey: ${message}`));
  }

  #onUp(): void {
    if (this.#state === "closed") return;
    this.#state = "up";
    this.#sequences.reset();
    // Notices may have been lost while down — or, on the first subscription, between a watch() and
    // the moment the feed was up (a logout in another process in that window would never be told).
    this.#observer?.resync();
    if (this.#lease) void this.#lease.renew();
    else if (this.#troubled) {
      this.#troubled = false;
      this.#logger.warn(`latchkey: the invalidation feed of ${this.#storeName} is back`);
    }
  }

  #onDown(error: Error): void {
    if (this.#state === "closed") return;
    this.#state = "down";
    this.#fence();
    const effect = this.cache ? "the near-cache is flushed and bypassed until it is back" : "strict revocations wait out leases until it is back";
    this.#warnOnce(`the invalidation feed of ${this.#storeName} is down (${error.message}); ${effect}`);
  }

  #onMessage(payload: string): void {
    const message = decodeMessage(payload);
    if (message === null) {
      // Not ours, or damaged: it might have named any session, so trust nothing cached.
      if (!this.#malformedLogged) {
        this.#malformedLogged = true;
        this.#logger.warn(`latchkey: an unreadable message arrived on the invalidation feed of ${this.#storeName}; the near-cache was flushed`);
      }
      this.#flush("malformed");
      return;
    }
    if (message.kind === "ping") {
      this.#lease?.echoed(message.round);
      return;
    }
    if (message.kind === "ack") {
      this.#acks.get(message.seq)?.acknowledged(message.from);
      return;
    }
    this.#counts.invalidations++;
    this.forget(message.ids, message.users);
    if (message.publisher === this.inbox) return; // this process's own watchers were told by the write itself
    const delay = Math.max(0, preciseNow() - message.sentAt);
    this.#propagation.add(delay);
    this.#timings?.propagation(delay);
    const observer = this.#observer;
    if ((this.cache || observer) && this.#sequences.observe(message.publisher, message.seq, performance.now())) {
      this.#flush("gap");
      observer?.resync();
    }
    const told = observer && message.reason !== undefined ? observer.ended(message.ids, message.users, message.reason) : undefined;
    // Acknowledge only after forgetting and after the watchers ran: the revoker may resolve the moment it has every ack.
    if (message.ackRequested && (this.cache || observer)) {
      const ack = (): void => void this.#feed.send(message.publisher, encodeAck(this.inbox, message.seq)).catch((error: unknown) => this.#ackFailed(error));
      if (told) void Promise.resolve(told).then(ack, ack);
      else ack();
    }
  }

  /**
   * An acknowledgement could not be sent (the store refused a connection, timed out): the revoker then waits
   * until this process's lease runs out — safe, but a strict logout takes a whole lease. Said at most once a
   * minute, so an operator sees why strict logouts became slow.
   */
  #ackFailed(error: unknown): void {
    const now = performance.now();
    if (now < this.#ackWarnedUntil || this.#state === "closed") return;
    this.#ackWarnedUntil = now + ACK_WARNING_INTERVAL_MS;
    const reason = error instanceof Error ? error.message : String(error);
    this.#logger.warn(
      redactCredentials(
        `latchkey: could not acknowledge a strict revocation through ${this.#storeName} (${reason}); the revoking process waits until this process's lease runs out instead`,
      ),
    );
  }

  /** Pings stopped coming back although the store answers: the subscription is deaf. Reconnect it. */
  #silent(error: Error): void {
    this.#warnOnce(`the invalidation feed of ${this.#storeName} went silent (${error.message}); the near-cache is bypassed and the feed reconnected`);
    if (this.#subscription?.reset)
      this.#subscription.reset(); // → down → fence → up
    else this.#fence();
  }

  /** The feed cannot be trusted: flush, and end the lease (a new epoch: no round begun before counts; strict revocations stop waiting for this process). */
  #fence(): void {
    this.#flush("feedLost");
    void this.#lease?.end();
  }

  #flush(reason: "feedLost" | "gap" | "lease" | "malformed"): void {
    if (!this.cache) return;
    this.cache.flush();
    this.#counts.flushes++;
    this.#counts[reason]++;
  }
}

/** How long a missing sequence number may be late before it counts as lost. */
function gapWindowMs(leaseMs: number): number {
  return Math.min(250, Math.max(20, Math.floor(leaseMs / 4)));
}
