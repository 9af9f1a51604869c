// The PostgreSQL store's invalidation feed: LISTEN/NOTIFY for notices and
// inboxes, and a small table of leases stamped by the server's clock.
import { createHash } from "node:crypto";
import type { Client, ClientConfig, QueryResult, QueryResultRow } from "pg";
import { keepListening } from "../../store/feed.js";
import type { FeedListener, FeedSubscription, LiveLease, StoreFeed } from "../../store/contract.js";

/** Shown in pg_stat_activity, so operators (and tests) can tell the feed's connections apart. */
export const LISTENER_NAME = "latchkey-feed";

/** Inboxes are base64url; 47 characters keep `<broadcast>_<inbox>` within PostgreSQL's 63-byte identifiers. */
const INBOX = /^[A-Za-z0-9_-]{1,47}$/;
/** A listener connection that cannot connect (or say goodbye) within this long counts as failed. */
const CONNECT_TIMEOUT_MS = 5_000;
const END_TIMEOUT_MS = 1_000;
/** Leases that ended longer ago than this are deleted by the next renewal (they only matter while running). */
const LEASE_GRACE_MS = 60_000;
/** The server's clock in ms: every lease time is read from it, never from a caller's. */
const SERVER_NOW = "(extract(epoch from clock_timestamp()) * 1000)::bigint";

/**
 * The channel every notice of one sessions table is published on: `lk_` and
 * 12 hex chars of SHA-256(qualified table name). Hashed, so any table name
 * gives a short, lowercase identifier; stores of one table share it.
 * @example
 * broadcastChannel('"auth"."sessions"'); // "lk_…" (15 characters)
 */
export function broadcastChannel(qualifiedTable: string): string {
  return `lk_${createHash("sha256").update(qualifiedTable).digest("hex").slice(0, 12)}`;
}

/**
 * The leases table that goes with a sessions table: `<table>_leases` in the
 * same schema (≤ 55 characters, since table names are ≤ 48).
 * @example
 * leasesTable("sessions", "auth"); // { qualified: '"auth"."sessions_leases"', display: "auth.sessions_leases" }
 */
export function leasesTable(table: string, schema: string | undefined): { qualified: string; display: string } {
  const name = `${table}_leases`;
  return { qualified: schema ? `"${schema}"."${name}"` : `"${name}"`, display: schema ? `${schema}.${name}` : name };
}

/**
 * The DDL of the leases table (idempotent), as part of `createSchemaSQL()`.
 * @example
 * leasesSchemaSQL('"sessions_leases"'); // "CREATE TABLE IF NOT EXISTS \"sessions_leases\" (…);\n"
 */
export function leasesSchemaSQL(qualifiedLeases: string): string {
  return `CREATE TABLE IF NOT EXISTS ${qualifiedLeases} (
  inbox text PRIMARY KEY,
  expires_at bigint NOT NULL
);
`;
}

/**
 * Connection options of a listener: the pool's (server, credentials, TLS),
 * named "latchkey-feed", with TCP keepalive and a connect timeout. A
 * connection string's own application_name would override the name (pg lets
 * the URL win), so it is taken out of the URL.
 * @example
 * new pg.Client(listenerConfig(pool.options));
 */
export function listenerConfig(poolOptions: ClientConfig): ClientConfig {
  // keepAliveInitialDelayMillis: pg's default 0 means the OS's two hours before a cut connection is noticed.
  const config: ClientConfig = {
    ...poolOptions,
    application_name: LISTENER_NAME,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
  };
  if (typeof config.connectionString === "string") {
    try {
      const url = new URL(config.connectionString);
      if (url.searchParams.has("application_name")) {
        url.searchParams.delete("application_name");
        config.connectionString = url.href;
      }
    } catch {
      // Not a URL (pg also takes other forms): leave it as it is.
    }
  }
  return config;
}

/**
 * SQL that wraps a data-modifying statement `write` (referred to as `w`) so
 * the same statement also calls pg_notify($n, $n+1), once, whatever `write`
 * matched. A single-row SELECT evaluates the notify in an uncorrelated scalar
 * subquery: a plain CTE that is not referenced, or a join that yields no
 * rows, would never run it. NOTIFY is delivered at commit, so the notice goes
 * out exactly when the write commits (and never when the statement fails).
 * @example
 * withNotice("DELETE FROM t WHERE id = $1 RETURNING 1", "(SELECT count(*) FROM w)::int AS deleted", 2);
 */
export function withNotice(write: string, result: string, n: number): string {
  return `WITH w AS (${write}) SELECT ${result}, ${notifyColumn(n)}`;
}

/** The select-list item that publishes notice $n+1 on channel $n (see {@link withNotice}). */
export function notifyColumn(n: number): string {
  return `(SELECT pg_notify($${n}, $${n + 1})) AS notified`;
}

/** What the feed needs from its store. */
export interface FeedBackend {
  /** The table whose notices this feed carries, as SQL (`"schema"."table"`). */
  qualifiedTable: string;
  /** Its leases table, as SQL and for messages. */
  leases: { qualified: string; display: string };
  /** The store's query path: prepares the schema first, and explains errors ("cannot reach PostgreSQL at …"). */
  query<R extends QueryResultRow = QueryResultRow>(text: string, values: unknown[], table?: string): Promise<QueryResult<R>>;
  /** The same for the leases table, which is created on its first use. */
  queryLeases<R extends QueryResultRow = QueryResultRow>(text: string, values: unknown[]): Promise<QueryResult<R>>;
  /** The store's notifyWrites option (see StoreFeed.publishByDefault). */
  publishByDefault: boolean;
  /** A new, unconnected client to the store's server (not from the pool: LISTEN needs a session of its own). */
  newClient(): Client;
  /** Adds what to do to connection errors. */
  explain(error: unknown): unknown;
}

/**
 * The PostgreSQL store's feed. Notices are NOTIFYed on {@link channel} by the
 * write statements themselves; each process's inbox is the channel
 * `<channel>_<inbox>`; leases are rows of `<table>_leases`, timed by the
 * server's clock. Each listening process holds one extra connection (not from
 * the pool), named "latchkey-feed" in pg_stat_activity.
 * @example
 * const store = postgresStore({ connectionString });
 * const subscription = store.feed!.listen(inbox, { message, up, down });
 */
export class PostgresFeed implements StoreFeed {
  /** The broadcast channel the write statements publish notices on. */
  readonly channel: string;
  readonly publishByDefault: boolean;
  readonly #backend: FeedBackend;
  readonly #sql: ReturnType<typeof leaseStatements>;
  /** Open subscriptions, so that closing the store never leaves a listener connection holding the process open. */
  readonly #subscriptions = new Set<FeedSubscription>();

  constructor(backend: FeedBackend) {
    this.#backend = backend;
    this.channel = broadcastChannel(backend.qualifiedTable);
    this.publishByDefault = backend.publishByDefault;
    this.#sql = leaseStatements(backend.leases.qualified);
  }

  listen(inbox: string, listener: FeedListener): FeedSubscription {
    const channels = [this.channel, this.#inboxChannel(inbox)];
    const inner = keepListening((lost) => this.#connect(channels, listener, lost), listener);
    const subscription: FeedSubscription = {
      reset: () => inner.reset?.(),
      close: async () => {
        this.#subscriptions.delete(subscription);
        await inner.close();
      },
    };
    this.#subscriptions.add(subscription);
    return subscription;
  }

  async send(inbox: string, payload: string): Promise<void> {
    await this.#backend.query("SELECT pg_notify($1, $2)", [this.#inboxChannel(inbox), payload]);
  }

  async renewLease(inbox: string, ttlMs: number): Promise<void> {
    if (!Number.isFinite(ttlMs)) throw new TypeError(`latchkey: renewLease ttlMs must be a finite number of milliseconds (got ${ttlMs})`);
    await this.#backend.queryLeases(this.#sql.renew, [inbox, Math.ceil(ttlMs)]);
  }

  async liveLeases(): Promise<LiveLease[]> {
    const { rows } = await this.#backend.queryLeases<{ inbox: string; remaining_ms: string }>(this.#sql.live, []);
    return rows.map((row) => ({ inbox: row.inbox, remainingMs: Number(row.remaining_ms) }));
  }

  async dropLease(inbox: string): Promise<void> {
    await this.#backend.queryLeases(this.#sql.drop, [inbox]);
  }

  /** Closes every subscription still open (the store is closing). */
  async closeAll(): Promise<void> {
    await Promise.all([...this.#subscriptions].map((subscription) => subscription.close().catch(() => undefined)));
  }

  /** One listening connection: resolves once both LISTENs are confirmed. */
  async #connect(channels: string[], listener: FeedListener, lost: (error: Error) => void): Promise<{ close(): Promise<void> }> {
    const client = this.#backend.newClient();
    // After close() nothing is delivered: notifications may still sit in the socket's buffer.
    let closed = false;
    // Always listen for "error": an unhandled one would crash the process.
    client.on("error", (error: Error) => lost(error));
    client.on("end", () => lost(new Error("the feed's PostgreSQL connection closed")));
    client.on("notification", (notification) => {
      if (!closed && channels.includes(notification.channel)) listener.message(notification.payload ?? "");
    });
    const close = async (): Promise<void> => {
      closed = true;
      // A graceful end waits for the server's goodbye; an unreachable server would make it wait forever.
      const timer = setTimeout(() => client.connection.stream.destroy(), END_TIMEOUT_MS);
      try {
        await client.end();
      } catch {
        // already broken: nothing left to close
      } finally {
        clearTimeout(timer);
      }
    };
    try {
      await client.connect();
      // Quoted, so the inbox keeps its case and its '-'; pg_notify takes the same exact text.
      await client.query(channels.map((channel) => `LISTEN "${channel}"`).join("; "));
    } catch (error) {
      await close();
      throw this.#backend.explain(error);
    }
    return { close };
  }

  #inboxChannel(inbox: string): string {
    if (typeof inbox !== "string" || !INBOX.test(inbox)) {
      throw new TypeError(`latchkey: a PostgreSQL feed inbox must be 1 to 47 base64url characters (A-Z, a-z, 0-9, _, -), got ${JSON.stringify(inbox)}`);
    }
    return `${this.channel}_${inbox}`;
  }
}

function leaseStatements(leases: string) {
  return {
    // The upsert also deletes leases that ended over a minute ago (never this inbox's own row:
    // one statement may not touch a row twice). The server's clock is read once, in `now`.
    renew: `WITH now AS (SELECT ${SERVER_NOW} AS ms),
      ended AS (DELETE FROM ${leases} WHERE expires_at < (SELECT ms FROM now) - ${LEASE_GRACE_MS} AND inbox <> $1)
      INSERT INTO ${leases} (inbox, expires_at) SELECT $1, ms + $2::bigint FROM now
      ON CONFLICT (inbox) DO UPDATE SET expires_at = excluded.expires_at`,
    live: `WITH now AS (SELECT ${SERVER_NOW} AS ms)
      SELECT inbox, expires_at - now.ms AS remaining_ms FROM ${leases}, now WHERE expires_at > now.ms`,
    drop: `DELETE FROM ${leases} WHERE inbox = $1`,
  };
}
