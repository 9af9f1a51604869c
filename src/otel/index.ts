// OpenTelemetry metrics for latchkey: `createSessions({ store, metrics: otelMetrics() })`.
// Needs the @opentelemetry/api package (an optional peer) and an SDK registered
// by the app (@opentelemetry/sdk-node, or a MeterProvider of
// @opentelemetry/sdk-metrics). Without one, otelMetrics() returns undefined and
// latchkey measures nothing at all.
import { createNoopMeter, metrics as otel, type Attributes, type Meter, type MeterProvider } from "@opentelemetry/api";
import type { DestroyReason, NearCacheStats, SessionsMetrics, StoreOperation } from "../core/index.js";

export interface OtelMetricsOptions {
  /** The provider to take the meter from. Default: the global one (`metrics.getMeterProvider()`). */
  meterProvider?: MeterProvider;
}

/** Metric names, per OpenTelemetry's naming conventions (dotted, unit in `unit`, `{thing}` for counts). */
export const METRICS = {
  created: "latchkey.session.created",
  rotated: "latchkey.session.rotated",
  ended: "latchkey.session.ended",
  storeDuration: "latchkey.store.operation.duration",
  propagation: "latchkey.nearcache.notice.propagation",
  strictWait: "latchkey.revocation.strict.wait",
  lookups: "latchkey.nearcache.lookups",
  invalidations: "latchkey.nearcache.invalidations",
  flushes: "latchkey.nearcache.flushes",
  entries: "latchkey.nearcache.entries",
  size: "latchkey.nearcache.size",
  feedStatus: "latchkey.feed.status",
} as const;

/** Sub-millisecond to seconds: store operations on loopback take tens of microseconds. */
const SECONDS_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const FEED_STATES = ["connecting", "verifying", "ready", "down", "closed"] as const;
const FLUSH_REASONS = [
  ["feedLost", "feed_lost"],
  ["gap", "gap"],
  ["lease", "lease"],
  ["malformed", "malformed"],
] as const;

const NOOP_METER = createNoopMeter().constructor as abstract new (...args: never[]) => Meter;

/**
 * A metrics backend for `createSessions({ metrics })` reporting through
 * OpenTelemetry, or undefined when no SDK is registered (then nothing is
 * measured: no cost anywhere). Near-cache hits and misses are read from
 * `sessions.stats()` when the SDK collects, never counted per read.
 * @example
 * import { otelMetrics } from "latchkey/otel";
 * const sessions = createSessions({ store, nearCache: true, metrics: otelMetrics() });
 */
export function otelMetrics(options: OtelMetricsOptions = {}): SessionsMetrics | undefined {
  if (options === null || typeof options !== "object") throw new TypeError("latchkey: otelMetrics(options) takes { meterProvider } or nothing");
  const provider = options.meterProvider ?? otel.getMeterProvider();
  if (typeof provider?.getMeter !== "function") throw new TypeError("latchkey: otelMetrics meterProvider must be an OpenTelemetry MeterProvider");
  const meter = provider.getMeter("latchkey");
  if (meter instanceof NOOP_METER) return undefined;
  return new OtelMetrics(meter);
}

class OtelMetrics implements SessionsMetrics {
  readonly #meter: Meter;
  readonly #created;
  readonly #rotated;
  readonly #ended;
  readonly #storeDuration;
  readonly #propagation;
  readonly #strictWait;
  /** One per createSessions this backend serves. */
  readonly #unobserve: Array<() => void> = [];
  /** One attributes object per (operation, outcome): nothing allocated per store call. */
  readonly #storeAttributes = new Map<string, Attributes>();

  constructor(meter: Meter) {
    this.#meter = meter;
    this.#created = meter.createCounter(METRICS.created, {
      unit: "{session}",
      description: "Sessions first written to the store (by login, or anonymous sessions with data)",
    });
    this.#rotated = meter.createCounter(METRICS.rotated, { unit: "{session}", description: "Sessions whose token login() replaced" });
    this.#ended = meter.createCounter(METRICS.ended, { unit: "{session}", description: "Sessions ended, by reason" });
    this.#storeDuration = meter.createHistogram(METRICS.storeDuration, {
      unit: "s",
      description: "Duration of session store operations",
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    });
    this.#propagation = meter.createHistogram(METRICS.propagation, {
      unit: "s",
      description: "Delay from publishing an invalidation notice in another process to receiving it here (by wall clocks)",
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    });
    this.#strictWait = meter.createHistogram(METRICS.strictWait, {
      unit: "s",
      description: "How long strict revocations waited for every process to acknowledge",
      advice: { explicitBucketBoundaries: SECONDS_BUCKETS },
    });
  }

  created(signedIn: boolean): void {
    this.#created.add(1, { "latchkey.session.signed_in": signedIn });
  }

  rotated(): void {
    this.#rotated.add(1);
  }

  ended(reason: DestroyReason, count: number): void {
    this.#ended.add(count, { "latchkey.session.end.reason": reason });
  }

  storeOperation(operation: StoreOperation, seconds: number, error: string | undefined): void {
    const key = error === undefined ? operation : `${operation}\u0000${error}`;
    let attributes = this.#storeAttributes.get(key);
    if (!attributes) {
      attributes = error === undefined ? { "latchkey.store.operation": operation } : { "latchkey.store.operation": operation, "error.type": error };
      if (this.#storeAttributes.size < 256) this.#storeAttributes.set(key, attributes);
    }
    this.#storeDuration.record(seconds, attributes);
  }

  propagation(seconds: number): void {
    this.#propagation.record(seconds);
  }

  strictWait(seconds: number): void {
    this.#strictWait.record(seconds);
  }

  observe(stats: () => NearCacheStats): void {
    const meter = this.#meter;
    const lookups = meter.createObservableCounter(METRICS.lookups, {
      unit: "{lookup}",
      description: "Near-cache lookups: hit (no store round trip), miss, bypass (cache not trusted)",
    });
    const invalidations = meter.createObservableCounter(METRICS.invalidations, {
      unit: "{notice}",
      description: "Invalidation notices applied by the near-cache",
    });
    const flushes = meter.createObservableCounter(METRICS.flushes, { unit: "{flush}", description: "Near-cache flushes, by reason" });
    const entries = meter.createObservableUpDownCounter(METRICS.entries, { unit: "{session}", description: "Sessions held by the near-cache" });
    const size = meter.createObservableUpDownCounter(METRICS.size, { unit: "By", description: "Approximate memory held by the near-cache" });
    const feed = meter.createObservableGauge(METRICS.feedStatus, { unit: "1", description: "1 for the invalidation feed's current state, 0 for the others" });
    const observables = [lookups, invalidations, flushes, entries, size, feed];
    const callback = (result: import("@opentelemetry/api").BatchObservableResult): void => {
      const s = stats();
      if (s.feed === "off") return; // no feed: neither a near-cache nor strict revocation
      for (const state of FEED_STATES) result.observe(feed, state === s.feed ? 1 : 0, { "latchkey.feed.state": state });
      if (!s.enabled) return;
      result.observe(lookups, s.hits, { "latchkey.nearcache.lookup.result": "hit" });
      result.observe(lookups, s.misses, { "latchkey.nearcache.lookup.result": "miss" });
      result.observe(lookups, s.bypasses, { "latchkey.nearcache.lookup.result": "bypass" });
      result.observe(invalidations, s.invalidations);
      for (const [field, reason] of FLUSH_REASONS) result.observe(flushes, s.flushes[field], { "latchkey.nearcache.flush.reason": reason });
      result.observe(entries, s.entries);
      result.observe(size, s.bytes);
    };
    meter.addBatchObservableCallback(callback, observables);
    this.#unobserve.push(() => meter.removeBatchObservableCallback(callback, observables));
  }

  close(): void {
    for (const unobserve of this.#unobserve.splice(0)) unobserve();
  }
}
