import { CsrfError, ImpersonationError, SessionLimitError, SessionSealedError } from "./errors.js";
import { resolveLoginOptions } from "./login-options.js";
import { deviceOf } from "../devices/index.js";
import { assertKey, assertUserId, RESERVED_KEY_PREFIX, toJsonValue } from "./validate.js";
import { CSRF_KEY, csrfMatches, FLASH_PREFIX, flashKey, newCsrfToken, shownFlashes, type Flashes, type LoginOptions, type Transport } from "./sign-in.js";
import type { Issued, Refused, ReplaceTarget } from "./types.js";
import type { CommitOutcome, CookieInstruction, FirstChangeHook, SessionHost } from "./session-host.js";
import type { RequestContext } from "./request.js";
import type { ChangeSet, JsonValue, SessionRecord } from "../store/contract.js";

type State = "fresh" | "stored";

export type { Flashes, LoginOptions, Transport } from "./sign-in.js";

const NO_COOKIES: readonly string[] = Object.freeze([]);
/** The cookie instruction of most requests, shared: one object less per request. */
const KEEP_COOKIE: CookieInstruction = Object.freeze({ action: "none" });

/**
 * One request's view of a session. Reads come from the record loaded at the
 * start of the request; writes are collected as a change set of top-level keys
 * and committed once, before the response (G2, G8).
 *
 * Values are stored as JSON. A value read with get() and mutated in place is
 * not saved: call set() with the new value.
 */
export class Session<Data extends object = Record<string, JsonValue>> {
  #engine: SessionHost;
  #state: State;
  #record: SessionRecord | null;
  #token: string | null;
  #data: Record<string, JsonValue>;
  /**
   * True while #data is the near-cache's shared, deeply frozen copy: it is
   * copied (deeply, see #writable) before this request reads an object value
   * or changes anything, so a read that only asks for userId copies nothing.
   */
  #borrowed = false;
  // Created on the first change: most requests only read.
  #set: Map<string, JsonValue> | null = null;
  #unset: Set<string> | null = null;
  #cookie: CookieInstruction = KEEP_COOKIE;
  #sealed = false;
  #beforeFirstChange: (() => void) | FirstChangeHook | null = null;
  /** Set-Cookie values beyond latchkey's own (a migration clearing the old library's cookie). */
  #extraCookies: ((secure: boolean) => string) | null = null;
  /** @internal The request this session belongs to, when the adapter passed one. */
  readonly request: RequestContext | undefined;

  /** Ids of the tokens this request presented that the store no longer knew (see Engine.settleVanished). */
  #vanished: readonly string[] | undefined;
  #transport: Transport;
  /** A token this request issued to a bearer client (session.token). */
  #issued: string | null = null;
  /** A form post admitted without its CSRF header: anonymous and read-only until verifyCsrf() accepts its field. */
  #csrfLocked = false;

  /** @internal Adapters get sessions from `sessions.load()`. */
  constructor(
    engine: SessionHost,
    record: SessionRecord | null,
    token: string | null,
    clearCookie: boolean,
    request?: RequestContext,
    vanished?: readonly string[],
    transport: Transport = "cookie",
  ) {
    this.#engine = engine;
    this.request = request;
    this.#vanished = vanished;
    this.#record = record;
    this.#token = record ? token : null;
    this.#state = record ? "stored" : "fresh";
    if (record === null) this.#data = {};
    else if (Object.isFrozen(record.data)) {
      this.#data = record.data;
      this.#borrowed = true;
    } else this.#data = { ...record.data };
    this.#transport = transport;
    if (clearCookie && transport === "cookie") this.#cookie = { action: "clear" };
  }

  /** The signed-in user, or null (also null in a form post locked for want of its CSRF token). */
  get userId(): string | null {
    return this.#csrfLocked ? null : (this.#record?.userId ?? null);
  }

  /** The public handle (as in `sessions.list()`), or null until the session is stored. Never the token. */
  get handle(): string | null {
    return this.#csrfLocked ? null : (this.#record?.id ?? null);
  }

  /** How this request's client carries its token: "bearer" when it presented `Authorization: Bearer` (or login() asked for it), else "cookie". */
  get transport(): Transport {
    return this.#transport;
  }

  /**
   * The token issued in this request to a bearer client — by login() or
   * another rotation — for the app to return in its response body; null in
   * every other request, and always for cookie sessions (their token stays
   * in an HttpOnly cookie). The previous token is dead once it is issued.
   * @example
   * await session.login(user.id, { transport: "bearer" });
   * res.json({ token: session.token });
   */
  get token(): string | null {
    return this.#issued;
  }

  /**
   * The session's CSRF synchronizer token (with `createSessions({ csrf: true })`):
   * created at first read (a change committed with the response), replaced
   * at login. Send it back in the `x-csrf-token` header, or in a form field
   * checked with verifyCsrf().
   * @example
   * res.send(`<form method="post"><input type="hidden" name="_csrf" value="${req.session.csrfToken}">…</form>`);
   */
  get csrfToken(): string {
    this.#assertCsrfEnabled("session.csrfToken");
    const existing = this.#data[CSRF_KEY];
    if (typeof existing === "string") return existing;
    this.#assertOpen();
    this.#assertStorable("session.csrfToken");
    const token = newCsrfToken();
    this.#write(CSRF_KEY, token);
    return token;
  }

  /**
   * True when `value` is this session's CSRF token (compared in constant
   * time). A form post admitted without the header is unlocked by it: until
   * then its session reads as anonymous and refuses changes.
   * @example
   * app.post("/transfer", express.urlencoded({ extended: false }), (req, res) => {
   *   if (!req.session.verifyCsrf(req.body._csrf)) return res.status(403).send("Reload the page and try again");
   *   // req.session.userId is the signed-in user again
   * });
   */
  verifyCsrf(value: unknown): boolean {
    this.#assertCsrfEnabled("session.verifyCsrf()");
    const expected = this.#data[CSRF_KEY];
    if (!csrfMatches(value, expected)) return false;
    this.#csrfLocked = false;
    return true;
  }

  /**
   * Leave a message for the next request that reads flashes() (on any
   * process): stored with this request's commit, before the response (a
   * redirect) goes out. Several values under one key are kept in order.
   * @example
   * req.session.flash("notice", "Saved");
   * res.redirect(303, "/");
   */
  flash(key: string, value: JsonValue): void {
    this.#assertOpen();
    assertKey(key);
    this.#assertStorable("session.flash()");
    const stored = toJsonValue<JsonValue>(key, value);
    this.#write(flashKey(this.#engine.options.now()), [key, stored]);
  }

  /**
   * Every pending flash message, then none: reading them removes them (a
   * change, committed with this request), so they are shown once.
   * @example
   * const { notice = [] } = req.session.flashes(); // e.g. { notice: ["Saved"] }
   */
  flashes(): Flashes {
    if (this.#csrfLocked) return {};
    const names = Object.keys(this.#data).filter((name) => name.startsWith(FLASH_PREFIX));
    if (names.length === 0) return {};
    this.#assertOpen();
    const shown = shownFlashes(names, this.#writable());
    for (const name of names) this.#remove(name);
    return shown;
  }

  /** True until the session has been written to the store. */
  get isNew(): boolean {
    return this.#state === "fresh";
  }

  get createdAt(): number | null {
    return this.#record?.createdAt ?? null;
  }

  /** When the session ends unless used again (the earlier of idle and absolute expiry). */
  get expiresAt(): number | null {
    return this.#record?.expiresAt ?? null;
  }

  /** When the user last proved who they are — login() or reauthenticate() — in ms; null when anonymous. */
  get authenticatedAt(): number | null {
    return this.#record?.authenticatedAt ?? null;
  }

  /** While impersonating: the user who called impersonate() (userId is the user being viewed as); otherwise null. */
  get impersonator(): string | null {
    return this.#record?.impersonator ?? null;
  }

  /**
   * True when the user authenticated (login or reauthenticate) within the
   * last `maxAgeMs`: guard sensitive actions with it. False when anonymous.
   * @example
   * if (!req.session.isFresh(5 * 60_000)) return res.redirect("/confirm-password");
   */
  isFresh(maxAgeMs: number): boolean {
    if (typeof maxAgeMs !== "number" || Number.isNaN(maxAgeMs) || maxAgeMs < 0) {
      throw new TypeError(`latchkey: isFresh(maxAgeMs) needs a number of milliseconds, e.g. isFresh(5 * 60_000) (got ${String(maxAgeMs)})`);
    }
    const at = this.authenticatedAt;
    return at !== null && this.#engine.options.now() - at <= maxAgeMs;
  }

  /**
   * @example
   * const cart = req.session.get("cart") ?? [];
   */
  get<K extends keyof Data & string>(key: K): Data[K] | undefined {
    // Only the data's own keys: never Object.prototype's ("constructor", "toString", "__proto__").
    if (this.#csrfLocked || key.startsWith(RESERVED_KEY_PREFIX) || !Object.hasOwn(this.#data, key)) return undefined;
    const value = this.#data[key]!;
    // An object value is the request's own (mutable, as without a near-cache): the shared copy is never handed out.
    if (this.#borrowed && value !== null && typeof value === "object") return this.#writable()[key] as Data[K];
    return value as Data[K];
  }

  has(key: keyof Data & string): boolean {
    return !this.#csrfLocked && !key.startsWith(RESERVED_KEY_PREFIX) && Object.hasOwn(this.#data, key);
  }

  /** A shallow copy of all values as this request sees them (without latchkey's own keys). */
  toJSON(): Partial<Data> {
    if (this.#csrfLocked) return {};
    const copy: Record<string, JsonValue> = {};
    const data = this.#writable();
    for (const key of Object.keys(data)) if (!key.startsWith(RESERVED_KEY_PREFIX)) copy[key] = data[key]!;
    return copy as Partial<Data>;
  }

  /**
   * Set one top-level key. Only changed keys are written, so requests that
   * change different keys never erase each other (G2).
   * @example
   * req.session.set("cart", [...cart, itemId]);
   */
  set<K extends keyof Data & string>(key: K, value: Data[K]): void {
    this.#assertOpen();
    assertKey(key);
    this.#assertStorable("session.set()");
    this.#write(key, toJsonValue<JsonValue>(key, value));
  }

  /** This request's own copy of the data, made on first need when it was borrowed from the near-cache. */
  #writable(): Record<string, JsonValue> {
    if (this.#borrowed) {
      this.#data = mutableCopy(this.#data) as Record<string, JsonValue>;
      this.#borrowed = false;
    }
    return this.#data;
  }

  #write(key: string, stored: JsonValue): void {
    this.#writable()[key] = stored;
    (this.#set ??= new Map()).set(key, stored);
    this.#unset?.delete(key);
  }

  #remove(key: string): void {
    delete this.#writable()[key];
    this.#set?.delete(key);
    (this.#unset ??= new Set()).add(key);
  }

  /**
   * Remove one top-level key.
   * @example
   * req.session.unset("theme");
   */
  unset(key: keyof Data & string): void {
    this.#assertOpen();
    assertKey(key);
    this.#remove(key);
  }

  /**
   * Sign `userId` in. Always issues a new token (fixation-safe); the old token
   * is dead everywhere once this resolves. Data is kept, unless a different
   * user was signed in (or an impersonation was running), in which case the
   * new session starts empty. Sets `authenticatedAt`. With `csrf`, the CSRF
   * token is replaced. With `transport: "bearer"` no cookie is set and
   * `session.token` holds the new token.
   *
   * `options` also give this session its own lifetime ("Keep me signed in"):
   * `persistent` (false: a browser-session cookie), `idleTimeout` and
   * `absoluteTimeout` in ms, kept with the session and enforced on every read.
   * With `maxSessionsPerUser` the limit is applied in the same atomic step:
   * the user's least recently used sessions end, or (`onSessionLimit:
   * "refuse"`) this rejects with SessionLimitError and nothing changes.
   * @example
   * await req.session.login(user.id);
   * @example
   * // "Keep me signed in": 30 days, beside the default 12-hour browser session
   * const DAY = 24 * 3_600_000;
   * await req.session.login(user.id, req.body.remember ? { persistent: true, idleTimeout: 30 * DAY, absoluteTimeout: 30 * DAY } : { persistent: false });
   * @example
   * await req.session.login(user.id, { transport: "bearer" });
   * res.json({ token: req.session.token });
   */
  async login(userId: string, options: LoginOptions = {}): Promise<void> {
    assertUserId(userId, "login");
    const settings = resolveLoginOptions(options);
    const transport = options.transport ?? this.#transport;
    if (transport !== "cookie" && transport !== "bearer")
      throw new TypeError(`latchkey: login(userId, { transport }): transport must be "cookie" or "bearer" (got ${String(transport)})`);
    if (transport === "bearer" && !this.#engine.options.bearer) {
      throw new TypeError(
        'latchkey: login(userId, { transport: "bearer" }) needs createSessions({ bearer: true }), or the token could never be presented back',
      );
    }
    this.#assertOpen();
    const switching = this.#record?.userId != null && (this.#record.userId !== userId || this.#record.impersonator !== undefined);
    if (switching) {
      await this.logout();
    }
    // A browser's cookie session handed over to a bearer client: the browser's (now dead) cookie is cleared.
    const dropCookie = transport === "bearer" && this.#transport === "cookie" && this.#record !== null;
    await this.#settleVanished();
    // A new CSRF token: one planted before login (login CSRF) or seen by another user of this browser stops working.
    if (this.#engine.options.csrf) this.#write(CSRF_KEY, newCsrfToken());
    const change = this.#takeChange();
    const device = deviceOf(this.request, this.#engine.options.recordIp);
    const result = await this.#engine.login(this.#record, userId, change, this.#writable(), device, settings);
    this.#transport = transport;
    this.#adoptOrRefuse(result, change);
    if (dropCookie) this.#cookie = { action: "clear" };
  }

  /**
   * The user re-entered their password: a new token (a privilege change, like
   * login) and `authenticatedAt` = now, so `isFresh()` holds again. The data,
   * the user and the session's lifetime are kept (the absolute expiry is not
   * extended). Rejects with SessionGoneError when the session ended meanwhile.
   * @example
   * if (!(await passwords.verify(user, req.body.password))) return res.status(403).end();
   * await req.session.reauthenticate();
   */
  async reauthenticate(): Promise<void> {
    const record = this.#signedIn("reauthenticate");
    await this.#replace({ userId: record.userId!, meta: { ...record, authenticatedAt: this.#engine.options.now() }, wipe: false });
  }

  /**
   * Act as `userId` (support staff viewing as a customer): a new token; the
   * session's userId becomes `userId` and `impersonator` the caller's id. The
   * impersonation starts with empty data (the caller's data is left behind,
   * and none comes back), keeps the caller's lifetime and authenticatedAt, is
   * listed for both users, and ends with `revokeUser()` of either. Checking
   * that the caller may impersonate is the app's job. Rejects with
   * ImpersonationError when not signed in, already impersonating, or asked to
   * impersonate oneself.
   * @example
   * if (!isAdmin(req.session.userId) || !req.session.isFresh(5 * 60_000)) return res.status(403).end();
   * await req.session.impersonate(req.params.userId);
   */
  async impersonate(userId: string): Promise<void> {
    assertUserId(userId, "impersonate");
    const record = this.#signedIn("impersonate");
    if (record.impersonator !== undefined) {
      throw new ImpersonationError(`latchkey: impersonate() while already impersonating ${JSON.stringify(record.userId)}; call stopImpersonating() first`);
    }
    if (record.userId === userId) throw new ImpersonationError("latchkey: impersonate() of the signed-in user itself; pass another user's id");
    await this.#replace({ userId, meta: { ...record, impersonator: record.userId! }, wipe: true });
  }

  /**
   * End an impersonation: a new token, signed in as the impersonator again,
   * with empty data (what was set while impersonating is discarded). Rejects
   * with ImpersonationError when not impersonating.
   * @example
   * await req.session.stopImpersonating();
   */
  async stopImpersonating(): Promise<void> {
    const record = this.#signedIn("stopImpersonating");
    const impersonator = record.impersonator;
    if (impersonator === undefined) throw new ImpersonationError("latchkey: stopImpersonating() on a session that is not impersonating anyone");
    await this.#replace({ userId: impersonator, meta: { ...record, impersonator: undefined }, wipe: true });
  }

  #signedIn(method: string): SessionRecord {
    this.#assertOpen();
    const record = this.#record;
    if (!record || record.userId === null) throw new ImpersonationError(`latchkey: ${method}() needs a signed-in session; call login(userId) first`);
    return record;
  }

  async #replace(next: ReplaceTarget): Promise<void> {
    const record = this.#record!;
    const change = this.#takeChange();
    const device = deviceOf(this.request, this.#engine.options.recordIp);
    let result: Issued;
    try {
      result = await this.#engine.replace(record, next, change, this.#writable(), device);
    } catch (error) {
      if ((error as Error).name === "SessionGoneError") this.#becomeAnonymous();
      throw error;
    }
    this.#adopt(result.record, result.token);
  }

  /** login()'s outcome: the new session, or the limit refused it (SessionLimitError; this request's changes are kept for its commit). */
  #adoptOrRefuse(result: Issued | Refused, change: ChangeSet): void {
    if ("token" in result) {
      this.#adopt(result.record, result.token);
      return;
    }
    for (const [key, value] of Object.entries(change.set)) (this.#set ??= new Map()).set(key, value);
    for (const key of change.unset) (this.#unset ??= new Set()).add(key);
    if (result.previousEnded) {
      // The old token is dead (a sharded store ended it first): the data goes to a new anonymous session at commit.
      this.#record = null;
      this.#token = null;
      this.#state = "fresh";
      this.#cookie = { action: "clear" };
    }
    throw new SessionLimitError(this.#engine.options.sessionLimit!.max);
  }

  #becomeAnonymous(): void {
    this.#record = null;
    this.#token = null;
    this.#state = "fresh";
    this.#data = {};
    this.#set = null;
    this.#unset = null;
    this.#cookie = { action: "clear" };
  }

  /**
   * Log out every other session of the signed-in user ("log out my other
   * devices", e.g. after a password change), atomically, like
   * `sessions.revokeUser`: a session signed in concurrently is either ended
   * here or was created after this resolved. This session stays signed in.
   * With `revocation: "strict"` it resolves once no process accepts them.
   * @returns how many sessions were ended
   * @example
   * const ended = await req.session.logoutOthers();
   * res.send(`Ended ${ended} other session${ended === 1 ? "" : "s"}`);
   */
  async logoutOthers(): Promise<number> {
    this.#assertOpen();
    const record = this.#record;
    if (!record || record.userId === null) {
      throw new TypeError("latchkey: logoutOthers() needs a signed-in session; call login(userId) first");
    }
    return this.#engine.destroyUser(record.userId, record.id);
  }

  /**
   * Destroy the session now: once this resolves no process accepts its token
   * (G1). The cookie is cleared. The object can be used again as a new
   * anonymous session.
   * @example
   * await req.session.logout();
   */
  async logout(): Promise<void> {
    this.#assertOpen();
    const record = this.#record;
    this.#set = null;
    this.#unset = null;
    this.#data = {};
    this.#borrowed = false;
    if (record) await this.#engine.destroy(record, "logout");
    await this.#settleVanished();
    this.#record = null;
    this.#token = null;
    this.#issued = null;
    this.#state = "fresh";
    // No session and no cookie to clear (none was presented, or it is already being cleared): a Set-Cookie
    // here would only reach a cross-site form post, whose browser held the cookie back (SameSite) and would
    // obey the clearing — a sign-out any site could trigger.
    if (this.#transport === "cookie" && record) this.#cookie = { action: "clear" };
  }

  /**
   * Write this request's changes now (adapters call this before the response).
   * Resolves "gone" when the session was destroyed meanwhile (nothing is
   * written, G1) and "conflict" under `conflicts: "reject"`.
   */
  async commit(): Promise<CommitOutcome> {
    const change = this.#takeChange();
    const hasChange = change.unset.length > 0 || Object.keys(change.set).length > 0;
    if (this.#state === "fresh") {
      if (Object.keys(this.#data).length === 0) return "unchanged"; // empty anonymous sessions are never stored
      const created = await this.#engine.create(null, this.#data);
      this.#adopt(created.record, created.token);
      return "saved";
    }
    const record = this.#record!;
    const outcome = hasChange ? await this.#engine.patch(record, change, this.#data) : await this.#engine.touchIfDue(record);
    if (outcome === "gone") {
      this.#record = null;
      this.#token = null;
      this.#state = "fresh";
      this.#data = {};
      this.#borrowed = false;
      this.#issued = null;
      if (this.#transport === "cookie") this.#cookie = { action: "clear" };
    }
    return outcome;
  }

  /**
   * @internal Adapters call this when the response starts: later changes
   * could not reach the client (G8), so they throw instead of being lost.
   */
  seal(): void {
    this.#sealed = true;
  }

  /**
   * @internal Adapters that skip holding the response for a read-only request
   * install the hold here, on the first set/unset/login/logout (the hook may
   * throw SessionSealedError when the response has already started). An
   * object with a beforeFirstChange() method saves a closure per request.
   */
  onFirstChange(hook: (() => void) | FirstChangeHook): void {
    this.#beforeFirstChange = hook;
  }

  /** The token this request presented is already gone: under strict revocation, wait until it is gone everywhere. */
  async #settleVanished(): Promise<void> {
    const vanished = this.#vanished;
    if (!vanished) return;
    await this.#engine.settleVanished(vanished);
    this.#vanished = undefined;
  }

  #assertOpen(): void {
    if (this.#sealed) {
      throw new SessionSealedError();
    }
    if (this.#csrfLocked) {
      throw new CsrfError(
        "latchkey: this form post came without its CSRF token header, so its session is locked: call session.verifyCsrf(the form's token field) before using or changing it",
      );
    }
    const hook = this.#beforeFirstChange;
    if (hook) {
      this.#beforeFirstChange = null;
      if (typeof hook === "function") hook();
      else hook.beforeFirstChange();
    }
  }

  /**
   * A bearer client gets its token only from login(): an anonymous session it
   * changed could never be presented again, so the change is refused.
   */
  #assertStorable(what: string): void {
    if (this.#transport === "bearer" && this.#state === "fresh") {
      throw new TypeError(
        `latchkey: ${what} on an anonymous bearer session cannot be stored (its Authorization: Bearer token is missing, expired or revoked, and a bearer client receives a token only from login()); sign the client in first, or answer 401`,
      );
    }
  }

  #assertCsrfEnabled(what: string): void {
    if (!this.#engine.options.csrf) throw new TypeError(`latchkey: ${what} needs createSessions({ csrf: true })`);
  }

  /**
   * @internal The lifecycle admitted a form post without its CSRF header:
   * until verifyCsrf() accepts the form's field, the session reads as
   * anonymous and refuses changes.
   */
  lockUntilCsrfVerified(): void {
    this.#csrfLocked = true;
  }

  /** @internal For adapters: what to do with the cookie. */
  cookieInstruction(): CookieInstruction {
    return this.#cookie;
  }

  /**
   * @internal Other Set-Cookie values the adapter appends to the response
   * (e.g. a migration clearing the old library's cookie). Usually none.
   */
  extraSetCookies(secure: boolean): readonly string[] {
    return this.#extraCookies === null ? NO_COOKIES : [this.#extraCookies(secure)];
  }

  /**
   * @internal True when the response must carry a Set-Cookie: latchkey's own
   * (set or clear) or an extra one. Adapters hold the response for it.
   */
  get hasCookiesToSend(): boolean {
    return this.#cookie.action !== "none" || this.#extraCookies !== null;
  }

  /**
   * @internal The session came out of a migration: the old library's cookie is
   * cleared (`clearOld`), and when `issue` the latchkey cookie is sent even
   * though the session was already stored (a parallel request created it).
   */
  migrated(clearOld: (secure: boolean) => string, issue: boolean): void {
    this.#extraCookies = clearOld;
    if (issue && this.#record && this.#token) {
      this.#cookie = { action: "set", token: this.#token, expires: this.#engine.cookieExpiry(this.#record) };
    }
  }

  /** @internal True when commit() would write something. */
  get dirty(): boolean {
    return (this.#set?.size ?? 0) > 0 || (this.#unset?.size ?? 0) > 0 || (this.#state === "fresh" && Object.keys(this.#data).length > 0);
  }

  /**
   * @internal False when commit() would do nothing (no change, no touch due,
   * not expired): adapters then skip holding the response back.
   */
  get needsCommit(): boolean {
    if (this.dirty) return true;
    if (this.#state === "fresh") return false;
    return this.#engine.commitDue(this.#record!);
  }

  #takeChange(): ChangeSet {
    const change: ChangeSet = { set: this.#set ? Object.fromEntries(this.#set) : {}, unset: this.#unset ? [...this.#unset] : [] };
    this.#set = null;
    this.#unset = null;
    return change;
  }

  #adopt(record: SessionRecord, token: string): void {
    this.#record = record;
    this.#token = token;
    this.#state = "stored";
    this.#data = { ...record.data };
    this.#borrowed = false;
    if (this.#transport === "bearer") this.#issued = token;
    else this.#cookie = { action: "set", token, expires: this.#engine.cookieExpiry(record) };
  }
}

/** A deep, mutable copy of a JSON value (a "__proto__" key stays an own property, as JSON.parse makes it). */
function mutableCopy(value: JsonValue): JsonValue {
  if (value === null || typeof value !== "object") return value;
  if (Array.isArray(value)) return value.map(mutableCopy);
  const copy: Record<string, JsonValue> = {};
  for (const key of Object.keys(value)) {
    const item = mutableCopy(value[key]!);
    if (key === "__proto__") Object.defineProperty(copy, key, { value: item, enumerable: true, writable: true, configurable: true });
    else copy[key] = item;
  }
  return copy;
}
