// On a Redis Cluster the feed listens through every master, and classic
// pub/sub delivers each message once on every one of those connections: first
// on the connection to the master it was published on, later (over the
// cluster bus) on the others. Only the first copy may reach the listener.

/** How many messages may wait for their later copies at once; beyond it the oldest is forgotten. */
export const MAX_AWAITED = 10_000;

/**
 * Tells the first copy of each message from the later ones, when every
 * message arrives `copies` times. A message is remembered only until its
 * last copy came (so memory follows what is in flight on the bus, not
 * traffic), and at most `max` messages are remembered: when more are in
 * flight, the oldest is forgotten, and its late copies pass as new. That
 * errs towards delivering twice, never towards dropping: a duplicate notice
 * forgets a session again, a duplicate acknowledgement is counted once.
 * Two messages with the same text count as one message sent twice, so each
 * still gets through once (latchkey's own messages are unique: publisher and
 * sequence number, or sender and acknowledged number).
 * @example
 * const firstCopies = new FirstCopies(3);
 * firstCopies.first("n{...}"); // true: deliver
 * firstCopies.first("n{...}"); // false: the same message, over the bus
 */
export class FirstCopies {
  readonly #copies: number;
  readonly #max: number;
  /** Each message whose first copy came: how many copies are still to come. Insertion order = age. */
  readonly #awaited = new Map<string, number>();

  constructor(copies: number, max = MAX_AWAITED) {
    if (!Number.isInteger(copies) || copies < 1) throw new RangeError(`copies must be a positive integer (got ${copies})`);
    if (!Number.isInteger(max) || max < 1) throw new RangeError(`max must be a positive integer (got ${max})`);
    this.#copies = copies;
    this.#max = max;
  }

  /** True for the first copy of `key`; false for its later copies. */
  first(key: string): boolean {
    if (this.#copies === 1) return true;
    const left = this.#awaited.get(key);
    if (left !== undefined) {
      if (left <= 1) this.#awaited.delete(key);
      else this.#awaited.set(key, left - 1);
      return false;
    }
    if (this.#awaited.size >= this.#max) this.#awaited.delete(this.#awaited.keys().next().value!);
    this.#awaited.set(key, this.#copies - 1);
    return true;
  }

  /** How many messages are waiting for later copies (bounded by `max`). */
  get size(): number {
    return this.#awaited.size;
  }
}
