// Types shared by the manager's modules (options, metrics, migration), kept in
// a leaf module so that those modules never import each other for a type.
import type { SessionMeta, SessionRecord } from "../store/contract.js";

/** "limit": ended by `maxSessionsPerUser` with `onSessionLimit: "end-oldest"` when the user signed in again. */
export type DestroyReason = "logout" | "revoke" | "revoke-user" | "logout-others" | "expired" | "limit";

export interface Logger {
  warn(message: string): void;
  error(message: string): void;
}

/** A new token and the record it names. */
export interface Issued {
  record: SessionRecord;
  token: string;
}

/** login() met `maxSessionsPerUser` with "refuse". `previousEnded`: the session's old token died anyway (see RotateResult). */
export interface Refused {
  refused: true;
  previousEnded: boolean;
}

/** login()'s per-session options, validated (see Session.login). */
export interface LoginSettings {
  persistent?: boolean;
  idleTimeout?: number;
  absoluteTimeout?: number;
}

/** What reauthenticate(), impersonate() and stopImpersonating() turn a session into. */
export interface ReplaceTarget {
  userId: string;
  meta: SessionMeta;
  wipe: boolean;
}
