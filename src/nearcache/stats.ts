/** Percentiles over the most recent samples (a ring), for stats(). */
export class LatencySamples {
  readonly #ring: Float64Array;
  #next = 0;
  #count = 0;
  #max = 0;

  constructor(capacity = 4096) {
    this.#ring = new Float64Array(capacity);
  }

  add(ms: number): void {
    this.#ring[this.#next] = ms;
    this.#next = (this.#next + 1) % this.#ring.length;
    this.#count++;
    if (ms > this.#max) this.#max = ms;
  }

  /** count: all samples ever; p50 / p99: over the most recent ones; max: ever. Milliseconds, 3 decimals. */
  summary(): LatencySummary {
    const size = Math.min(this.#count, this.#ring.length);
    if (size === 0) return { count: 0, p50: null, p99: null, max: null };
    const sorted = Array.from(this.#ring.subarray(0, size)).sort((a, b) => a - b);
    const at = (q: number) => round(sorted[Math.min(size - 1, Math.floor(q * size))]!);
    return { count: this.#count, p50: at(0.5), p99: at(0.99), max: round(this.#max) };
  }
}

/** How the feed of this process stands, as stats() reports it. */
export type FeedState = "off" | "connecting" | "verifying" | "ready" | "down" | "closed";

export interface NearCacheStats {
  /** Whether this process has a near-cache (nearCache option). */
  enabled: boolean;
  revocation: "bounded" | "strict";
  feed: FeedState;
  /** Whether the cache may answer reads right now (feed verified, lease running). */
  serving: boolean;
  entries: number;
  bytes: number;
  /** Reads answered from the cache: no store round trip. */
  hits: number;
  /** Reads that went to the store and may have filled the cache. */
  misses: number;
  /** Reads that went to the store because the cache could not be trusted (feed down, lease lapsed, starting). */
  bypasses: number;
  /** Notices applied (from every process, this one included). */
  invalidations: number;
  flushes: { total: number; feedLost: number; gap: number; lease: number; malformed: number };
  /** Publish → receive delay of notices from other processes, by wall clocks (meaningful where clocks agree). */
  propagationMs: LatencySummary;
  /** Strict revocations by this process: how long each waited for acknowledgements. */
  strictWaitMs: LatencySummary;
  /** Processes a strict revocation stopped waiting for because their lease ran out (frozen, cut off). */
  strictWaitedOut: number;
}

export interface LatencySummary {
  count: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
