// A Session's two boundaries: what it asks of the manager that creates it (SessionHost, which
// the Engine implements) and what it tells the adapter serving its request (CookieInstruction,
// CommitOutcome, FirstChangeHook).
import type { ChangeSet, DeviceInfo, JsonValue, SessionRecord } from "../store/contract.js";
import type { DestroyReason, Issued, LoginSettings, Refused, ReplaceTarget } from "./types.js";

/** What the adapter must do with the cookie when the response goes out. */
export type CookieInstruction = { action: "set"; token: string; expires: number | undefined } | { action: "clear" } | { action: "none" };

/** How a commit ended. Adapters map gone → 401, conflict → 409, store errors → 503. */
export type CommitOutcome = "saved" | "unchanged" | "gone" | "conflict";

/** For adapters: what an adapter installs with onFirstChange(), as an object. */
export interface FirstChangeHook {
  beforeFirstChange(): void;
}

/**
 * What a Session asks of the manager (the Engine implements it): a narrow
 * interface, so session.ts does not import the engine that creates sessions.
 */
export interface SessionHost {
  readonly options: {
    readonly recordIp: boolean;
    readonly now: () => number;
    readonly bearer: boolean;
    readonly csrf: { readonly header: string; readonly forms: boolean } | null;
    readonly sessionLimit: { readonly max: number } | null;
  };
  cookieExpiry(record: SessionRecord): number | undefined;
  create(userId: string | null, data: Record<string, JsonValue>, device?: DeviceInfo): Promise<{ record: SessionRecord; token: string }>;
  login(
    previous: SessionRecord | null,
    userId: string,
    change: ChangeSet,
    data: Record<string, JsonValue>,
    device?: DeviceInfo,
    settings?: LoginSettings,
  ): Promise<Issued | Refused>;
  replace(previous: SessionRecord, next: ReplaceTarget, change: ChangeSet, data: Record<string, JsonValue>, device?: DeviceInfo): Promise<Issued>;
  patch(record: SessionRecord, change: ChangeSet, data: Record<string, JsonValue>): Promise<CommitOutcome>;
  commitDue(record: SessionRecord): boolean;
  touchIfDue(record: SessionRecord): Promise<CommitOutcome>;
  destroy(record: Pick<SessionRecord, "id" | "userId">, reason: DestroyReason): Promise<boolean>;
  destroyUser(userId: string, except?: string): Promise<number>;
  settleVanished(ids: readonly string[]): Promise<void>;
}
