// Loading a request's session: its cookie (or bearer) values → token → id, the near-cache fast path,
// expiry noticed on read (G4), and the one place a migration from another library is consulted.
// The Engine owns one SessionLoader (engine.loader) and implements LoadHost.
import type { Coherence } from "../nearcache/index.js";
import type { SessionRecord, SessionStore } from "../store/contract.js";
import { idOfToken, isWellFormedToken } from "../store/token.js";
import type { MigrationHost, SessionMigration } from "./migration.js";
import type { RequestContext } from "./request.js";
import { Session, type Transport } from "./session.js";
import type { SessionHost } from "./session-host.js";

/** At most this many same-named cookies are looked up; the rest are ignored. */
const MAX_COOKIE_CANDIDATES = 3;
/** Tokens whose id loadCached() remembers (see #ids). */
const MAX_REMEMBERED_IDS = 1024;

/** What the loader asks of the engine beyond what its sessions ask (the Engine implements it). */
export interface LoadHost extends SessionHost {
  readonly store: SessionStore;
  readonly coherence: Coherence | null;
  call<T>(operation: () => Promise<T>): Promise<T>;
  isExpired(record: SessionRecord): boolean;
  expire(record: SessionRecord): Promise<void>;
}

export class SessionLoader {
  readonly #engine: LoadHost;
  /** Whether a cached copy may answer (one function for every read, not a closure per read). */
  readonly #servable = (record: SessionRecord): boolean => !this.#engine.isExpired(record);
  /**
   * token → id (SHA-256) for tokens whose session the near-cache answered: a
   * hit then hashes nothing. Only tokens of cached sessions get in (a stream
   * of made-up tokens cannot churn it); an entry goes when its lookup misses
   * (revoked, expired, evicted), and the oldest when it is full. It decides
   * nothing: the id is still looked up, and refused once revoked (G3).
   */
  readonly #ids = new Map<string, string>();
  readonly #migration: SessionMigration | null;
  readonly #migrationHost: MigrationHost;

  constructor(engine: LoadHost, migration: SessionMigration | null, migrationHost: MigrationHost) {
    this.#engine = engine;
    this.#migration = migration;
    this.#migrationHost = migrationHost;
  }

  /** `transport` "bearer": the values came from an Authorization header; no cookie is read, set or cleared, and no migration is consulted. */
  async load<Data extends object>(cookieValues: readonly string[], request?: RequestContext, transport: Transport = "cookie"): Promise<Session<Data>> {
    const wellFormed = cookieValues.filter(isWellFormedToken);
    const tokens = wellFormed.length > MAX_COOKIE_CANDIDATES ? wellFormed.slice(0, MAX_COOKIE_CANDIDATES) : wellFormed;
    // Clearing deletes the host's own cookie, which may be among the unchecked (cookies tossed in ahead of it).
    const clear = cookieValues.length > 0 && wellFormed.length <= MAX_COOKIE_CANDIDATES;
    let vanished: string[] | undefined;
    for (const token of tokens) {
      const id = idOfToken(token);
      const record = await this.read(id);
      if (!record) {
        (vanished ??= []).push(id);
        continue;
      }
      if (this.#engine.isExpired(record)) {
        await this.#engine.expire(record);
        continue;
      }
      // A live session that was not the first cookie still carries the ids of the vanished ones before it.
      return new Session<Data>(this.#engine, record, token, false, request, vanished, transport);
    }
    // No live latchkey session: the only place a migration from another library is consulted.
    const header = request?.cookieHeader;
    if (transport === "cookie" && this.#migration && header?.includes(this.#migration.cookieName))
      return this.#migrate<Data>(this.#migration, header, clear, request, vanished);
    return new Session<Data>(this.#engine, null, null, clear, request, vanished, transport);
  }

  /**
   * A request with another library's cookie and no live latchkey session: the
   * migration claims the old session (or finds it claimed by a parallel
   * request) and this request gets that one latchkey session, with its cookie
   * set and the old cookie cleared; otherwise it is anonymous and the old cookie
   * is cleared all the same.
   */
  async #migrate<Data extends object>(
    migration: SessionMigration,
    header: string,
    clearOwn: boolean,
    request: RequestContext | undefined,
    vanished: string[] | undefined,
  ): Promise<Session<Data>> {
    const result = await migration.migrate(header, this.#migrationHost);
    if (result === null) return new Session<Data>(this.#engine, null, null, clearOwn, request, vanished);
    const clearOld = (secure: boolean) => migration.clearCookie(secure);
    let session: Session<Data> | null = null;
    if (result.created) {
      session = new Session<Data>(this.#engine, result.created.record, result.created.token, false, request, vanished);
    } else if (result.token !== null && isWellFormedToken(result.token)) {
      const id = idOfToken(result.token);
      const record = await this.read(id);
      if (record && !this.#engine.isExpired(record)) session = new Session<Data>(this.#engine, record, result.token, false, request, vanished);
      else if (!record) (vanished ??= []).push(id); // the migrated session was revoked meanwhile: settle it like any vanished token
    }
    if (!session) {
      const anonymous = new Session<Data>(this.#engine, null, null, clearOwn, request, vanished);
      anonymous.migrated(clearOld, false);
      return anonymous;
    }
    session.migrated(clearOld, true);
    return session;
  }

  /**
   * The common authenticated read, answered by the near-cache synchronously
   * (no promise, no store): one well-formed token whose session is cached and
   * not expired. Undefined otherwise: then call load().
   */
  loadCached<Data extends object>(cookieValues: readonly string[], request?: RequestContext, transport: Transport = "cookie"): Session<Data> | undefined {
    const coherence = this.#engine.coherence;
    if (!coherence?.cache || cookieValues.length !== 1) return undefined;
    const token = cookieValues[0]!;
    let id = this.#ids.get(token);
    const remembered = id !== undefined;
    if (!remembered) {
      if (!isWellFormedToken(token)) return undefined;
      id = idOfToken(token);
    }
    const record = coherence.lookup(id!, this.#servable);
    if (!record) {
      if (remembered) this.#ids.delete(token);
      return undefined;
    }
    if (!remembered) {
      if (this.#ids.size >= MAX_REMEMBERED_IDS) this.#ids.delete(this.#ids.keys().next().value!);
      this.#ids.set(token, id!);
    }
    return new Session<Data>(this.#engine, record, token, false, request, undefined, transport);
  }

  /** A cache hit costs no store round trip; a cached copy that looks expired is re-read (another process may have touched it). */
  read(id: string): Promise<SessionRecord | null> | SessionRecord {
    const coherence = this.#engine.coherence;
    if (coherence?.cache) {
      const hit = coherence.lookup(id, this.#servable);
      if (hit) return hit;
      return coherence.fill(id, () => this.#engine.call(() => this.#engine.store.get(id)));
    }
    return this.#engine.call(() => this.#engine.store.get(id));
  }
}
