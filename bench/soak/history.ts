// What the soak's clients saw, and the checks run on it. Every request is
// stamped on CLOCK_MONOTONIC (process.hrtime.bigint), which every process of
// the machine shares: the server stamps when it read a request (`arrivedAt`)
// and when a revocation resolved (`resolvedAt`); the client stamps when it
// sent a request and when the answer came back.

/** A session that must be refused by any request that arrives after `deadAt`. */
export interface Death {
  handle: string;
  user: string;
  /** When the revocation resolved (server clock stamp). */
  deadAt: bigint;
  how: "logout" | "revoke-user" | "rotation" | "revoke";
  /** The process that revoked it, when known. */
  server?: number;
  /** A logout with a slow write of the same session in flight on another process. */
  slowWrite?: boolean;
}

export interface Acceptance {
  handle: string;
  user: string;
  how: Death["how"];
  server: number;
  /** How long after the revocation resolved the accepting request arrived, in ms. */
  lateMs: number;
  revokedBy?: number;
  slowWrite?: boolean;
  op: string;
}

export interface LostWrite {
  handle: string;
  key: string;
  expected: number;
  saw: number | null;
  server: number;
}

export class History {
  readonly deaths = new Map<string, Death>();
  readonly acceptances: Acceptance[] = [];
  readonly lostWrites: LostWrite[] = [];
  /** Reads in another process than the writer's that lagged an acknowledged write (allowed with a near-cache, within the propagation bound). */
  staleReads = 0;
  readonly wrongUser: Array<{ expected: string; saw: string; server: number }> = [];
  readonly counts = new Map<string, number>();
  readonly statuses = new Map<number, number>();
  /** Revoke-user calls: sessions of `user` whose login answered before `sentAt` must be dead from `deadAt`. */
  readonly userRevocations: Array<{ user: string; sentAt: bigint; deadAt: bigint }> = [];
  /** Logins: handle → user and when the client had the answer. */
  readonly logins = new Map<string, { user: string; answeredAt: bigint }>();
  operations = 0;
  /** Requests with no answer within the client's bound (a 503 is an answer; silence is not). */
  hung = 0;
  /** The latest sessions whose logout answered 200, with their cookie: re-sent after a failover, they must still be refused. */
  readonly loggedOut: Array<{ cookie: string; handle: string; user: string }> = [];
  /** Those re-checks: how many, and what they got (a 200 as the session is an acceptance, judged like any other). */
  readonly rechecks = { logouts: 0, requests: 0, refused: 0, unavailable: 0, accepted: 0 };

  loggedOutNow(entry: { cookie: string; handle: string; user: string }): void {
    this.loggedOut.push(entry);
    if (this.loggedOut.length > 200) this.loggedOut.shift();
  }

  count(op: string, status: number): void {
    this.operations++;
    this.counts.set(op, (this.counts.get(op) ?? 0) + 1);
    this.statuses.set(status, (this.statuses.get(status) ?? 0) + 1);
  }

  died(death: Death): void {
    const known = this.deaths.get(death.handle);
    if (!known || known.deadAt > death.deadAt) this.deaths.set(death.handle, death);
  }

  /** The earliest moment from which `handle` must be refused, if any is known. */
  #deadline(handle: string, user: string): Pick<Death, "deadAt" | "how" | "server" | "slowWrite"> | null {
    let best: Pick<Death, "deadAt" | "how" | "server" | "slowWrite"> | null = this.deaths.get(handle) ?? null;
    const login = this.logins.get(handle);
    if (login) {
      for (const revocation of this.userRevocations) {
        if (revocation.user !== user || login.answeredAt >= revocation.sentAt) continue;
        if (!best || revocation.deadAt < best.deadAt) best = { deadAt: revocation.deadAt, how: "revoke-user" };
      }
    }
    return best;
  }

  readonly #accepted: Array<{ handle: string; user: string; arrivedAt: bigint; server: number; op: string }> = [];

  /** A request sent with `handle`'s cookie was answered as that session; it arrived at `arrivedAt`. */
  accepted(handle: string, user: string, arrivedAt: bigint, server: number, op: string): void {
    this.#accepted.push({ handle, user, arrivedAt, server, op });
  }

  /** Judged once the whole history is known: a revocation may be recorded after a request it covers was answered. */
  judge(): void {
    this.acceptances.length = 0;
    for (const read of this.#accepted) {
      const deadline = this.#deadline(read.handle, read.user);
      if (deadline && read.arrivedAt > deadline.deadAt) {
        this.acceptances.push({
          ...read,
          how: deadline.how,
          revokedBy: deadline.server,
          slowWrite: deadline.slowWrite,
          lateMs: Number(read.arrivedAt - deadline.deadAt) / 1e6,
        });
      }
    }
  }

  summary(): Record<string, unknown> {
    const late = this.acceptances.map((a) => a.lateMs).sort((x, y) => x - y);
    return {
      operations: this.operations,
      byOperation: Object.fromEntries(this.counts),
      byStatus: Object.fromEntries(this.statuses),
      revocations: this.deaths.size + this.userRevocations.length,
      acceptedAfterRevoke: this.acceptances.length,
      acceptedAfterRevokeMaxMs: late.length ? late[late.length - 1] : null,
      acceptedAfterRevokeP50Ms: late.length ? late[late.length >> 1] : null,
      acceptedAfterRevokeByHow: Object.fromEntries(
        ["logout", "revoke-user", "rotation", "revoke"].map((how) => [how, this.acceptances.filter((a) => a.how === how).length]),
      ),
      lostWrites: this.lostWrites.length,
      staleReadsElsewhere: this.staleReads,
      wrongUser: this.wrongUser.length,
      hung: this.hung,
      logoutsRecheckedAfterFailover: this.rechecks,
    };
  }
}
