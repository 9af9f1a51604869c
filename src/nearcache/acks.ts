// Strict revocation's acknowledgements of one notice: which processes acknowledged it, and the wait
// until every process holding a lease has, or its lease ran out. Coherence publishes the notice,
// receives the acknowledgements and keeps one AckWait per notice that asked for them.
import type { LiveLease } from "../store/contract.js";

/** A revocation cannot be confirmed: this process closed while waiting for acknowledgements. */
const CLOSED_WHILE_WAITING =
  "latchkey: the session manager was closed before every process acknowledged the revocation; it is written to the store, " +
  "but another process may accept the token from its cache until its lease ends";

export class AckWait {
  readonly acked = new Set<string>();
  /** Set while the wait sleeps: an acknowledgement (or close) wakes it to count again. */
  wake: (() => void) | null = null;

  /** `from` acknowledged the notice. */
  acknowledged(from: string): void {
    this.acked.add(from);
    this.wake?.();
  }

  /**
   * Resolves once every one of `leases` (just read from the store) has acknowledged or run out,
   * to how many ran out unacknowledged; rejects when `closed()` while some are pending.
   */
  async untilAcknowledged(leases: readonly LiveLease[], closed: () => boolean): Promise<number> {
    const read = performance.now();
    for (;;) {
      const now = performance.now();
      let next = Infinity;
      let pending = 0;
      for (const lease of leases) {
        if (this.acked.has(lease.inbox)) continue;
        const until = read + lease.remainingMs;
        if (now >= until) continue;
        pending++;
        next = Math.min(next, until);
      }
      if (pending === 0) break;
      if (closed()) throw new Error(CLOSED_WHILE_WAITING);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(
          () => {
            this.wake = null;
            resolve();
          },
          Math.ceil(next - now),
        );
        this.wake = () => {
          clearTimeout(timer);
          this.wake = null;
          resolve();
        };
      });
    }
    return leases.filter((lease) => !this.acked.has(lease.inbox)).length;
  }
}
