/** A hole wider than this is not tracked number by number: it counts as a gap at once. */
const MAX_TRACKED_HOLE = 1024;
/** A publisher not heard from for this long is forgotten (processes come and go). */
const FORGET_AFTER_MS = 10 * 60_000;

interface PublisherState {
  /** The lowest sequence number not yet seen. */
  next: number;
  /** Missing numbers below `next`, each with the time it stops being "late" and becomes "lost". */
  missing: Map<number, number>;
  lastHeard: number;
}

/**
 * Detects lost notices from their per-publisher sequence numbers.
 *
 * Notices can arrive out of order (a PostgreSQL pool commits concurrent
 * writes in any order; Redis Cluster nodes forward on their own), so a
 * missing number is a *hole* first, and a *gap* — a notice lost, which
 * flushes the near-cache — only if it has not arrived within `window` ms.
 * The first notice heard from a publisher sets its baseline.
 */
export class SequenceTracker {
  readonly #window: number;
  readonly #publishers = new Map<string, PublisherState>();
  /** The earliest deadline of any hole, or Infinity: a cheap check on the read path. */
  #deadline = Infinity;

  constructor(windowMs: number) {
    this.#window = windowMs;
  }

  /** When the oldest open hole becomes a gap (Infinity when there is none). */
  get deadline(): number {
    return this.#deadline;
  }

  /** Records a notice. Returns true when it reveals a gap that cannot wait (a hole too wide to track). */
  observe(publisher: string, seq: number, now: number): boolean {
    const state = this.#publishers.get(publisher);
    if (state === undefined) {
      this.#publishers.set(publisher, { next: seq + 1, missing: new Map(), lastHeard: now });
      return false;
    }
    state.lastHeard = now;
    if (seq < state.next) {
      state.missing.delete(seq); // a late one filled its hole; a duplicate changes nothing
      return false;
    }
    const hole = seq - state.next;
    if (hole > MAX_TRACKED_HOLE || state.missing.size + hole > MAX_TRACKED_HOLE) {
      state.missing.clear();
      state.next = seq + 1;
      return true;
    }
    const deadline = now + this.#window;
    for (let missing = state.next; missing < seq; missing++) state.missing.set(missing, deadline);
    if (hole > 0 && deadline < this.#deadline) this.#deadline = deadline;
    state.next = seq + 1;
    return false;
  }

  /**
   * Drops holes whose deadline passed and returns how many publishers had one
   * (each is a gap: the caller flushes). Also forgets long-silent publishers.
   */
  expire(now: number): number {
    let gaps = 0;
    let deadline = Infinity;
    for (const [publisher, state] of this.#publishers) {
      let lost = false;
      for (const [seq, due] of state.missing) {
        if (due <= now) {
          state.missing.delete(seq);
          lost = true;
        } else if (due < deadline) {
          deadline = due;
        }
      }
      if (lost) gaps++;
      if (state.missing.size === 0 && now - state.lastHeard > FORGET_AFTER_MS) this.#publishers.delete(publisher);
    }
    this.#deadline = deadline;
    return gaps;
  }

  /** Forget everything: after a resubscription every publisher starts a new baseline. */
  reset(): void {
    this.#publishers.clear();
    this.#deadline = Infinity;
  }
}
