// What the manager reports to a metrics backend (`latchkey/otel` implements it
// with OpenTelemetry). Counters of the read path (near-cache hits and misses)
// are not pushed per read: the backend reads them from `stats()` when it
// collects, so a read costs nothing more with metrics on. Without a `metrics`
// option nothing here runs at all.
import type { DestroyReason } from "./types.js";
import type { NearCacheStats } from "../nearcache/index.js";
import type {
  CreateInput,
  DestroyOptions,
  DestroyUserOptions,
  ListUserOptions,
  PatchInput,
  RotateInput,
  SessionRecord,
  SessionStore,
} from "../store/contract.js";

/** The store operations whose durations are reported. */
export type StoreOperation = "get" | "create" | "patch" | "touch" | "rotate" | "destroy" | "destroyUser" | "listUser" | "sweep";

/** A metrics backend for createSessions({ metrics }). Build one with `otelMetrics()` from `latchkey/otel`. */
export interface SessionsMetrics {
  /** A session was first written (anonymous, or by login). */
  created(signedIn: boolean): void;
  /** login() replaced a session's token. */
  rotated(): void;
  /** `count` sessions ended for `reason`. */
  ended(reason: DestroyReason, count: number): void;
  /** A store operation took `seconds`; `error`: the error's name when it failed. */
  storeOperation(operation: StoreOperation, seconds: number, error: string | undefined): void;
  /** A notice from another process arrived `seconds` after it was published. */
  propagation(seconds: number): void;
  /** A strict revocation waited `seconds` for acknowledgements. */
  strictWait(seconds: number): void;
  /** Called once by createSessions: counters read from `stats()` at collection time (hits, misses, flushes, feed state). */
  observe(stats: () => NearCacheStats): void;
  /** Called by `sessions.close()`: stop observing. */
  close(): void;
}

/** Checks a `metrics` option. */
export function assertMetrics(value: unknown): asserts value is SessionsMetrics {
  const methods = ["created", "rotated", "ended", "storeOperation", "propagation", "strictWait", "observe", "close"];
  if (value === null || typeof value !== "object" || methods.some((name) => typeof (value as Record<string, unknown>)[name] !== "function")) {
    throw new TypeError(
      'latchkey: metrics must be what otelMetrics() returns, e.g. import { otelMetrics } from "latchkey/otel"; createSessions({ store, metrics: otelMetrics() })',
    );
  }
}

/**
 * `store` with each operation timed and reported. The feed is passed through
 * untouched (its traffic is not a store operation).
 */
export function timedStore(store: SessionStore, metrics: SessionsMetrics): SessionStore {
  return new TimedStore(store, metrics);
}

class TimedStore implements SessionStore {
  readonly #store: SessionStore;
  readonly #metrics: SessionsMetrics;
  readonly name: string;
  readonly processLocal: boolean;
  readonly feed: SessionStore["feed"];
  readonly sessionLimits: boolean | undefined;

  constructor(store: SessionStore, metrics: SessionsMetrics) {
    this.#store = store;
    this.#metrics = metrics;
    this.name = store.name;
    this.processLocal = store.processLocal;
    this.feed = store.feed;
    this.sessionLimits = store.sessionLimits;
  }

  async #timed<T>(operation: StoreOperation, run: () => Promise<T>): Promise<T> {
    const started = performance.now();
    try {
      const result = await run();
      this.#metrics.storeOperation(operation, (performance.now() - started) / 1000, undefined);
      return result;
    } catch (error) {
      this.#metrics.storeOperation(operation, (performance.now() - started) / 1000, (error as Error)?.name ?? "Error");
      throw error;
    }
  }

  create(record: SessionRecord, input?: CreateInput) {
    return this.#timed("create", () => (input === undefined ? this.#store.create(record) : this.#store.create(record, input)));
  }
  get(id: string) {
    return this.#timed("get", () => this.#store.get(id));
  }
  patch(id: string, input: PatchInput) {
    return this.#timed("patch", () => this.#store.patch(id, input));
  }
  touch(id: string, lastSeenAt: number, expiresAt: number) {
    return this.#timed("touch", () => this.#store.touch(id, lastSeenAt, expiresAt));
  }
  rotate(id: string, input: RotateInput) {
    return this.#timed("rotate", () => this.#store.rotate(id, input));
  }
  destroy(id: string, options?: DestroyOptions) {
    return this.#timed("destroy", () => this.#store.destroy(id, options));
  }
  destroyUser(userId: string, options?: DestroyUserOptions) {
    return this.#timed("destroyUser", () => this.#store.destroyUser(userId, options));
  }
  listUser(userId: string, options?: ListUserOptions) {
    return this.#timed("listUser", () => this.#store.listUser(userId, options));
  }
  sweep(now: number) {
    return this.#timed("sweep", () => this.#store.sweep(now));
  }
  close() {
    return this.#store.close();
  }
}
