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

export interface LatencySummary {
  count: number;
  p50: number | null;
  p99: number | null;
  max: number | null;
}

function round(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
