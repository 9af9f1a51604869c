// What travels on a store's feed. The store moves these as opaque strings;
// only this file knows their shape.
//
//   notice (broadcast, published atomically with a write):
//     {"v":1,"p":<publisher inbox>,"s":<seq>,"t":<sent, ms>,"i":[ids],"u":[users],"a":1?,"r":<reason>?}
//   ack  (to the publisher's inbox): {"v":1,"k":"ack","p":<from inbox>,"s":<seq>}
//   ping (to one's own inbox):       {"v":1,"k":"ping","n":<round>}
//
// "a":1 asks every process holding a lease to acknowledge (strict revocation).
// "r" is why the named sessions ended (logout, revoke, rotated, ...): absent on
// data changes, which end nothing. Watchers (sessions.watch) read it.
// "t" is wall-clock time with sub-millisecond precision, used only for the
// propagation-latency statistic (meaningful where clocks agree).

export interface Notice {
  publisher: string;
  seq: number;
  sentAt: number;
  ids: string[];
  users: string[];
  ackRequested: boolean;
  /** Why the named sessions ended; undefined when the write ended nothing (a patch). */
  reason?: string;
}

export type FeedMessage = ({ kind: "notice" } & Notice) | { kind: "ack"; from: string; seq: number } | { kind: "ping"; round: number };

/** Wall-clock ms with sub-ms precision (performance.now() on the epoch). */
export function preciseNow(): number {
  return performance.timeOrigin + performance.now();
}

export function encodeNotice(notice: Notice): string {
  const body: Record<string, unknown> = { v: 1, p: notice.publisher, s: notice.seq, t: Math.round(notice.sentAt * 1000) / 1000 };
  if (notice.ids.length > 0) body.i = notice.ids;
  if (notice.users.length > 0) body.u = notice.users;
  if (notice.ackRequested) body.a = 1;
  if (notice.reason !== undefined) body.r = notice.reason;
  return JSON.stringify(body);
}

export function encodeAck(from: string, seq: number): string {
  return JSON.stringify({ v: 1, k: "ack", p: from, s: seq });
}

export function encodePing(round: number): string {
  return JSON.stringify({ v: 1, k: "ping", n: round });
}

const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every((item) => typeof item === "string");
const isSeq = (value: unknown): value is number => typeof value === "number" && Number.isSafeInteger(value) && value >= 0;

/** The message, or null when the payload is not one of ours (the caller decides what that means). */
export function decodeMessage(payload: string): FeedMessage | null {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(payload) as Record<string, unknown>;
  } catch {
    return null;
  }
  if (!body || typeof body !== "object" || body.v !== 1) return null;
  if (body.k === "ack") {
    return typeof body.p === "string" && isSeq(body.s) ? { kind: "ack", from: body.p, seq: body.s } : null;
  }
  if (body.k === "ping") {
    return isSeq(body.n) ? { kind: "ping", round: body.n } : null;
  }
  const ids = body.i ?? [];
  const users = body.u ?? [];
  if (body.k !== undefined || typeof body.p !== "string" || !isSeq(body.s) || typeof body.t !== "number" || !isStringArray(ids) || !isStringArray(users)) {
    return null;
  }
  const notice: FeedMessage = { kind: "notice", publisher: body.p, seq: body.s, sentAt: body.t, ids, users, ackRequested: body.a === 1 };
  if (typeof body.r === "string") notice.reason = body.r;
  return notice;
}
