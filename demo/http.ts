// Small HTTP pieces the demo's app (app.ts) and handlers (routes.ts) share.
import type express from "express";
import type { Session } from "../src/core/index.js";

/** What the demo keeps in a session beside latchkey's own keys. */
export type Data = { note?: string };

/** The request's latchkey session, typed with the demo's data. */
export const session = (req: express.Request) => req.session as unknown as Session<Data>;

/** At most this many sessions per user: a login beyond it ends the one used longest ago. */
export const MAX_DEVICES = 5;

/** The user who may view as others ("Support" on the page). */
export const ADMIN = "admin";

/** A request the page refuses, with the sentence it shows. */
export class BadInput extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

/** One text field of the form: present once, at most `max` characters, no control characters. */
export function field(req: express.Request, name: string, label: string, max: number): string {
  const value: unknown = (req.body as Record<string, unknown> | undefined)?.[name];
  if (Array.isArray(value)) throw new BadInput(400, `Send ${label} once, not ${value.length} times.`);
  const text = typeof value === "string" ? value.trim() : "";
  const length = [...text].length;
  if (length > max) throw new BadInput(400, `${capital(label)} is at most ${max} characters; this one has ${length}.`);
  // NUL and other control characters: refused here, so they never reach the store.
  if (/[\u0000-\u001f\u007f-\u009f]/.test(text)) throw new BadInput(400, `${capital(label)} cannot contain control characters (such as NUL).`);
  return text;
}

export const capital = (text: string) => text[0]!.toUpperCase() + text.slice(1);

/**
 * UNTIL, a cookie of the demo's own beside latchkey's "sid": when this
 * device's session would end on its own (its expiry as last loaded, a lower
 * bound). A dead "sid" that arrives before that time was ended by someone
 * else: in this demo, another device (or an operator). After it, the session
 * may simply have expired, and the page says so rather than guess.
 */
export const UNTIL = "demo_signed_in_until";

/** Set-Cookie for UNTIL: `until` (ms) kept an hour past itself; null clears it. */
export function untilCookie(until: number | null, now = Date.now()): string {
  if (until === null) return `${UNTIL}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0; Expires=Thu, 01 Jan 1970 00:00:00 GMT`;
  const maxAge = Math.max(0, Math.ceil((until - now) / 1000)) + 3600;
  return `${UNTIL}=${until}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${maxAge}`;
}

/** Why a device finds itself signed out: keys of the `?signed-out=` redirect, and the sentences shown. */
export const ENDED = {
  elsewhere: "This device was signed out from another device.",
  expired: "This device's session expired (30 minutes without activity, or 12 hours after signing in; 30 days with “Keep me signed in”).",
} as const;
export type Ended = keyof typeof ENDED;
