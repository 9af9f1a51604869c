import {
  rotatedRecord,
  endedSession,
  applyChange,
  decodeDevice,
  encodeDevice,
  routeOfId,
  SessionExistsError,
  userRoute,
  type DestroyOptions,
  type DestroyUserOptions,
  type EndedSession,
  type CreateInput,
  type CreateResult,
  type ListUserOptions,
  type PatchInput,
  type PatchResult,
  type RotateInput,
  type RotateResult,
  type SessionRecord,
  type SessionStore,
} from "../../store/index.js";
import { decodeRecord, encodeChange, encodeData, encodeMeta, expiryMs, limitArg, limitArgs, splitChange, tooLargeReply } from "./records.js";
import { toFields, type RedisCommands } from "./commands.js";
import { ReplicationUnconfirmedError, type ResolvedDurability } from "./durability.js";
import { RedisFeed } from "./feed.js";
import { yieldAfterStep } from "../../store/revoke-yield.js";
import type { Script } from "./scripts.js";
import { CREATE, DESTROY, PATCH, ROTATE, TAKE, TOUCH } from "./scripts.js";
import { DESTROY_USER, DESTROY_USER_STEP, DEVICES, PRUNE, readDestroyUserStep, REFER } from "./user-scripts.js";

export { ReplicationUnconfirmedError, type RedisDurabilityOptions } from "./durability.js";
export type { RedisClientLike, RedisStoreOptions } from "./options.js";
import { resolveRedisStoreOptions, type RedisStoreOptions } from "./options.js";

/** The Redis store: a SessionStore plus a startup check. */
export interface RedisSessionStore extends SessionStore {
  /**
   * Resolves once Redis answers; rejects with "latchkey: cannot reach Redis at
   * host:port: ..." otherwise. Optional: every operation waits for the first
   * connection anyway. Useful to fail fast at startup.
   */
  ready(): Promise<void>;
}

/** User indexes remembered for sweep(), per process. */
const MAX_TRACKED_INDEXES = 10_000;
const SWEEP_CONCURRENCY = 64;

/**
 * Sessions in Redis (standalone or Cluster), shared by every process of the
 * app. Each write is one Lua script (atomic, update-only, per-key: G1, G2);
 * an authenticated read is one HGETALL. Redis expires sessions itself
 * (PEXPIREAT), and "log out everywhere" is one script on the user's slot.
 *
 * Keys: `<prefix>{<route>}:s:<hash>` (one hash per session: metadata fields
 * u c l e a v, and one `d:<key>` field of JSON per top-level session key),
 * `<prefix>{<route>}:m:<hash>` (the device recorded at login, expiring with
 * the session; kept out of the hash so the read never fetches it) and
 * `<prefix>{<route>}:u:<userId>` (the user's sessions, a sorted set scored by
 * expiry). `{route}` is the Cluster hash tag: all of a user's sessions and
 * their index live in one slot.
 *
 * Durability (G8) is Redis's own: a commit is in Redis's memory before the
 * response; to survive a Redis crash too, run Redis with `appendonly yes` and
 * `appendfsync always` (or `everysec` to risk one second). Tested with Redis 7.
 * @example
 * import { createClient } from "redis";
 * import { redisStore } from "latchkey/redis";
 * const client = await createClient({ url: process.env.REDIS_URL, disableOfflineQueue: true }).connect();
 * const sessions = createSessions({ store: redisStore({ client }) });
 * @example
 * // The store opens (and closes) its own node-redis connection:
 * const store = redisStore({ url: "redis://127.0.0.1:6379", prefix: "myapp:sess:" });
 * await store.ready(); // optional: fail at startup if Redis is unreachable
 */
export function redisStore(options: RedisStoreOptions): RedisSessionStore {
  const { commands, prefix, durability, revokeUserYield } = resolveRedisStoreOptions(options);
  return new RedisStore(commands, prefix, durability, revokeUserYield);
}

class RedisStore implements RedisSessionStore {
  readonly processLocal = false;
  readonly sessionLimits = true;
  readonly name: string;
  readonly #redis: RedisCommands;
  readonly #prefix: string;
  /** User indexes this process wrote since the last sweep (insertion-ordered, capped). */
  readonly #indexes = new Set<string>();
  readonly feed: RedisFeed;
  readonly #durability: ResolvedDurability | null;
  readonly #revokeUserYield: number;

  constructor(redis: RedisCommands, prefix: string, durability: ResolvedDurability | null, revokeUserYield: number) {
    this.#redis = redis;
    this.#prefix = prefix;
    this.#durability = durability;
    this.#revokeUserYield = revokeUserYield;
    this.name = `redis(${redis.endpoint} ${prefix})`;
    this.feed = new RedisFeed(redis, prefix);
  }

  /**
   * Runs a write script; with `durability` (and `durable`), resolves only once
   * enough replicas confirmed it, and otherwise rejects: the write stands on
   * the primary, but is never reported as done (see durability.ts).
   */
  async #write(operation: string, durable: boolean, script: Script, keys: string[], args: string[]): Promise<unknown> {
    const durability = this.#durability;
    if (!durability || !durable) return this.#redis.run(script, keys, args);
    const { reply, acknowledged } = await this.#redis.runDurable(script, keys, args, durability.replicas, durability.timeout);
    if (acknowledged < durability.replicas) {
      throw new ReplicationUnconfirmedError(this.#redis.endpoint, operation, acknowledged, durability.replicas, durability.timeout);
    }
    return reply;
  }

  /** ARGV[1], ARGV[2] of the scripts that publish: the feed channel and the notice, or '' for none. */
  #notify(notice: string | undefined): [string, string] {
    return notice === undefined ? ["", ""] : [this.feed.channel, notice];
  }

  ready(): Promise<void> {
    return this.#redis.ready();
  }

  async create(record: SessionRecord, input: CreateInput = {}): Promise<void | CreateResult> {
    const index = this.#userIndex(record.id, record.impersonator ?? record.userId);
    const expireAt = expiryMs(record.expiresAt);
    const keys = [this.#sessionKey(record.id), this.#deviceKey(record.id)];
    if (index) keys.push(index);
    await this.#refer(record);
    const reply = await this.#write("the new session", this.#durability?.everyWrite === true || input.notice !== undefined, CREATE, keys, [
      expireAt,
      expiryMs(Math.max(record.absoluteExpiresAt, record.expiresAt)),
      record.id,
      encodeDevice(record.device) ?? "",
      ...this.#notify(input.notice),
      this.#prefix,
      ...limitArgs(input.limit, record.userId),
      ...encodeMeta(record),
      "v",
      String(record.version),
      ...encodeData(record.data),
    ]);
    const [status, ...ended] = Array.isArray(reply) ? reply.map(String) : [String(reply)];
    if (status === "2") return { status: "limit" };
    if (status !== "1") throw new SessionExistsError(record.id);
    if (input.limit) return { status: "ok", ended };
  }

  /** An impersonation: its id goes into the viewed user's index too (another slot), before the session exists. */
  async #refer(record: Pick<SessionRecord, "id" | "userId" | "absoluteExpiresAt" | "impersonator">): Promise<void> {
    if (record.impersonator === undefined || record.userId === null) return;
    await this.#redis.run(REFER, [this.#indexKey(userRoute(record.userId), record.userId)], [record.id, expiryMs(record.absoluteExpiresAt)]);
  }

  /** Exactly one command: HGETALL (the device lives in its own key, so it is not fetched). */
  async get(id: string): Promise<SessionRecord | null> {
    return decodeRecord(id, await this.#redis.hgetall(this.#sessionKey(id)));
  }

  async patch(id: string, input: PatchInput): Promise<PatchResult> {
    const reply = (await this.#write(
      "the patch",
      this.#durability?.everyWrite === true,
      PATCH,
      [this.#sessionKey(id), this.#deviceKey(id)],
      [
        ...this.#notify(input.notice),
        this.#prefix,
        id,
        input.expectVersion === undefined ? "" : String(input.expectVersion),
        String(input.lastSeenAt),
        String(input.expiresAt),
        expiryMs(input.expiresAt),
        limitArg(input.maxDataBytes),
        ...encodeChange(input.change),
      ],
    )) as number[];
    const [status, version] = reply.map(Number);
    if (status === 0) return { status: "gone" };
    if (status === 2) return { status: "conflict", version: version! };
    if (status === 3) return { status: "too-large", bytes: version! };
    return { status: "ok", version: version! };
  }

  async touch(id: string, lastSeenAt: number, expiresAt: number): Promise<boolean> {
    const reply = await this.#redis.run(
      TOUCH,
      [this.#sessionKey(id), this.#deviceKey(id)],
      [this.#prefix, id, String(lastSeenAt), String(expiresAt), expiryMs(expiresAt)],
    );
    return Number(reply) === 1;
  }

  async rotate(id: string, input: RotateInput): Promise<RotateResult> {
    const newIndex = this.#userIndex(input.newId, input.impersonator ?? input.userId);
    await this.#refer({ ...input, id: input.newId });
    const expireAt = expiryMs(input.expiresAt);
    const indexUntil = expiryMs(Math.max(input.absoluteExpiresAt, input.expiresAt));

    if (routeOfId(id) === routeOfId(input.newId)) {
      // One slot: one script moves the hash (RENAME), applies the change and moves the index membership.
      const keys = [this.#sessionKey(id), this.#sessionKey(input.newId), this.#deviceKey(id), this.#deviceKey(input.newId)];
      if (newIndex) keys.push(newIndex);
      const { unset, set } = splitChange(input.change);
      const reply = await this.#write("the rotation", true, ROTATE, keys, [
        ...this.#notify(input.notice),
        this.#prefix,
        id,
        input.newId,
        expireAt,
        indexUntil,
        encodeDevice(input.device) ?? "",
        limitArg(input.maxDataBytes),
        ...limitArgs(input.limit, input.userId),
        String(unset.length),
        ...unset,
        ...encodeMeta(input), // v is incremented by the script
        ...set,
      ]);
      if (reply === null || reply === undefined) return { status: "gone" };
      if (!Array.isArray(reply)) {
        if (Number(reply) === -2) return { status: "limit" };
        throw new SessionExistsError(input.newId);
      }
      const tooLarge = tooLargeReply(reply);
      if (tooLarge) return tooLarge;
      const fields = toFields(reply);
      const record = decodeRecord(input.newId, fields);
      if (!record) throw new Error(`latchkey: redisStore rotate produced an unreadable session ${input.newId.slice(0, 12)}…`);
      if (encodeDevice(input.device) !== null) record.device = input.device!;
      if (!input.limit) return { status: "ok", record };
      return { status: "ok", record, ended: fields["!ended"] ? fields["!ended"].split(" ") : [] };
    }

    // Different routes (anonymous → signed in, or another user) hash to different
    // Cluster slots, and a script may touch one slot only. Two steps:
    //   1. take: read the old session, delete it, drop it from its index (atomic);
    //   2. create the new session (insert-only) with the merged data.
    // A crash or an outage between the two only logs the user out: the old
    // token is already dead, so nothing is ever resurrected (G1).
    const taken = await this.#write(
      "the rotation",
      true,
      TAKE,
      [this.#sessionKey(id), this.#deviceKey(id)],
      [...this.#notify(input.notice), this.#prefix, id, limitArg(input.maxDataBytes), ...encodeChange(input.change)],
    );
    if (taken === null || taken === undefined) return { status: "gone" };
    const tooLarge = tooLargeReply(taken);
    if (tooLarge) return tooLarge;
    const old = decodeRecord(id, toFields(taken));
    if (!old) return { status: "gone" };
    const record = rotatedRecord(input, applyChange(old.data, input.change), old.version);
    if (encodeDevice(input.device) !== null) record.device = input.device!;
    if (!input.limit) {
      await this.create(record);
      return { status: "ok", record };
    }
    // The old token is already dead: a refusal now leaves the user signed out of it (previousEnded).
    const created = (await this.create(record, { limit: input.limit })) as CreateResult;
    return created.status === "limit" ? { status: "limit", previousEnded: true } : { status: "ok", record, ended: created.ended };
  }

  async destroy(id: string, { notice }: DestroyOptions = {}): Promise<EndedSession | null> {
    const reply = (await this.#write(
      "the logout",
      true,
      DESTROY,
      [this.#sessionKey(id), this.#deviceKey(id)],
      [...this.#notify(notice), this.#prefix, id],
    )) as unknown[];
    if (Number(reply[0]) !== 1) return null;
    return endedSession(id, String(reply[1]) === "" ? null : String(reply[1]), String(reply[2] ?? ""));
  }

  /**
   * The user's sessions this call deleted; members whose keys Redis had
   * already expired come back too, with `expired: true` (the index is gone, so
   * no sweep would report them).
   */
  async destroyUser(userId: string, { notice, stepNotice, except }: DestroyUserOptions = {}): Promise<EndedSession[]> {
    const index = this.#indexKey(userRoute(userId), userId);
    const ended: EndedSession[] = [];
    // DESTROY_USER_STEP sessions per script, so Redis serves other clients between steps (one script for
    // 10^4 sessions blocked every other command for ~150 ms). Each step publishes the notice naming the
    // user, so each step's deletions are noticed whatever happens to this call after it; the last step's
    // is `notice`, the one strict revocation's acknowledgements answer. Impersonations of this user live
    // in their impersonators' slots: a step returns those it met, they are ended here, one script each,
    // and the next step (never the last one, then) takes them out of the index. Between steps the store
    // waits `revokeUserYield` × the last step's time: back to back, steps took most of Redis and of the
    // CPU, and other users' reads' p99 was 2.5–3.7× idle at 10^6 sessions (with 2: 1.3–2.1×).
    const [channel, last] = this.#notify(notice);
    const step = channel === "" ? "" : (stepNotice ?? last);
    let references: string[] = [];
    for (let more = true; more;) {
      const began = performance.now();
      const reply = (await this.#write(
        "the user's revocation",
        true,
        DESTROY_USER,
        [index],
        [channel, last, step, this.#prefix, except ?? "", String(DESTROY_USER_STEP), ...references],
      )) as unknown[];
      const taken = readDestroyUserStep(reply, userId);
      more = taken.more;
      references = taken.references;
      ended.push(...taken.ended);
      // Before the impersonations met are ended (without a notice of their own), so the next step's notice
      // follows them at once; only after a full step: one that ended fewer has only those left to do.
      if (more && taken.ended.length >= DESTROY_USER_STEP) await yieldAfterStep(began, this.#revokeUserYield);
      for (const id of references) {
        const record = decodeRecord(id, await this.#redis.hgetall(this.#sessionKey(id)));
        if (record?.userId !== userId) continue; // a stale reference: that session ended or is another user's now
        const gone = (await this.#write(
          "the user's revocation",
          true,
          DESTROY,
          [this.#sessionKey(id), this.#deviceKey(id)],
          ["", "", this.#prefix, id],
        )) as unknown[];
        if (Number(gone[0]) === 1) ended.push(endedSession(id, userId, String(gone[2] ?? "")));
      }
    }
    return ended;
  }

  /**
   * ZRANGE of the user's index, then one pipelined HGETALL per session and their devices (one script per 100, one slot).
   * A page sorts the index's ids here (the index is scored by expiry, which every touch moves, so
   * a cursor on the score would skip a session touched mid-listing) and fetches only that page.
   */
  async listUser(userId: string, options?: ListUserOptions): Promise<SessionRecord[]> {
    let ids = await this.#redis.zrange(this.#indexKey(userRoute(userId), userId));
    if (options?.limit === undefined && options?.after === undefined) return this.#records(userId, ids);
    const after = options.after;
    ids = (after === undefined ? ids : ids.filter((id) => id > after)).sort();
    const limit = options.limit ?? ids.length;
    const page: SessionRecord[] = [];
    // Index entries of sessions that just ended are skipped: read on until the page is full or the index ends.
    for (let start = 0; page.length < limit && start < ids.length;) {
      const chunk = ids.slice(start, start + (limit - page.length));
      start += chunk.length;
      page.push(...(await this.#records(userId, chunk)));
    }
    // #records groups ids by route (one DEVICES script per slot): the page goes back to id order.
    return page.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
  }

  /** The live records among `ids` that belong to `userId`, in the order of `ids`, with their devices. */
  async #records(userId: string, unsorted: string[]): Promise<SessionRecord[]> {
    // Grouped by route: the DEVICES script reads one slot (impersonations of this user have another route).
    const ids = [...unsorted].sort((a, b) => (routeOfId(a) < routeOfId(b) ? -1 : routeOfId(a) > routeOfId(b) ? 1 : 0));
    const devices: Promise<unknown>[] = [];
    for (let i = 0; i < ids.length;) {
      const route = routeOfId(ids[i]!);
      let end = i;
      while (end < ids.length && end - i < 100 && routeOfId(ids[end]!) === route) end++;
      devices.push(
        this.#redis.run(
          DEVICES,
          ids.slice(i, end).map((id) => this.#deviceKey(id)),
          [],
        ),
      );
      i = end;
    }
    const [hashes, deviceChunks] = await Promise.all([Promise.all(ids.map((id) => this.#redis.hgetall(this.#sessionKey(id)))), Promise.all(devices)]);
    const deviceTexts = (deviceChunks as unknown[][]).flat();
    const records: SessionRecord[] = [];
    ids.forEach((id, i) => {
      const record = decodeRecord(id, hashes[i]!);
      if (!record || (record.userId !== userId && record.impersonator !== userId)) return;
      const device = decodeDevice(String(deviceTexts[i] ?? ""));
      if (device) record.device = device;
      records.push(record);
    });
    return records;
  }

  /**
   * Redis deletes expired sessions itself (PEXPIREAT), so there is nothing to
   * scan: sweep takes the members of expired sessions out of the user indexes
   * this process wrote (created or rotated a session in), and resolves to
   * those sessions — each taken by exactly one sweep, whichever process runs
   * it. Never KEYS or SCAN. An index stays tracked while it has members (up
   * to 10 000 indexes per process, least recently written dropped first).
   * Anonymous sessions have no index: their expiry by TTL is not reported,
   * and a session's device has expired with it.
   */
  async sweep(now: number): Promise<EndedSession[]> {
    const indexes = [...this.#indexes];
    const removed: EndedSession[] = [];
    for (let i = 0; i < indexes.length; i += SWEEP_CONCURRENCY) {
      const batch = indexes.slice(i, i + SWEEP_CONCURRENCY);
      const replies = await Promise.all(batch.map((key) => this.#redis.run(PRUNE, [key], [String(Math.floor(now))])));
      replies.forEach((reply, j) => {
        const [left, ...ids] = (reply as unknown[]).map(String);
        const key = batch[j]!;
        const userId = key.slice(key.indexOf("}:u:") + 4);
        for (const id of ids) removed.push({ id, userId });
        if (Number(left) === 0) this.#indexes.delete(key); // empty: Redis drops it; a new login tracks it again
      });
    }
    return removed;
  }

  async close(): Promise<void> {
    await this.#redis.close();
  }

  #sessionKey(id: string): string {
    return `${this.#prefix}{${routeOfId(id)}}:s:${id.slice(5)}`;
  }

  /** Beside the session's hash, in its slot: the device recorded at login. */
  #deviceKey(id: string): string {
    return `${this.#prefix}{${routeOfId(id)}}:m:${id.slice(5)}`;
  }

  #indexKey(route: string, userId: string): string {
    return `${this.#prefix}{${route}}:u:${userId}`;
  }

  /** The index key of a user session (null for anonymous), checking the routing the scripts rely on. */
  #userIndex(id: string, userId: string | null): string | null {
    if (userId === null) return null;
    const route = userRoute(userId);
    if (routeOfId(id) !== route) {
      throw new TypeError(
        `latchkey: redisStore keeps a user's sessions in one slot, so a session of user ${JSON.stringify(userId)} must have route ${route} (userRoute(userId)); ` +
          `id ${id.slice(0, 12)}… has route ${routeOfId(id)}. Mint user tokens with the user id (createSessions does).`,
      );
    }
    const key = this.#indexKey(route, userId);
    this.#indexes.delete(key);
    this.#indexes.add(key);
    if (this.#indexes.size > MAX_TRACKED_INDEXES) this.#indexes.delete(this.#indexes.values().next().value!);
    return key;
  }
}
