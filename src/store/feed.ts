import type { FeedListener, FeedSubscription } from "./contract.js";

/** One subscribed connection of a feed. */
export interface FeedConnection {
  close(): Promise<void>;
}

const FIRST_RETRY_MS = 50;
const MAX_RETRY_MS = 1000;
const DEFAULT_ATTEMPT_TIMEOUT_MS = 10_000;

export interface KeepListeningOptions {
  /**
   * How long one attempt (`connect` resolving) may take, in ms, before it is
   * given up and a new one starts; a connection that arrives later is closed.
   * Without it, one connect or SUBSCRIBE that never settles (a frozen server
   * or Sentinel, a half-open socket) would keep the feed down forever. Default 10 000.
   */
  attemptTimeout?: number;
}

/**
 * Keeps a store's feed subscribed, for store authors: `connect(lost)` opens a
 * connection and subscribes (resolving once the server confirmed it), and
 * calls `lost(error)` if the connection drops later. Every drop is reported
 * to the listener as `down`, every (re)subscription as `up`; reconnection
 * backs off from 50 ms to 1 s and never gives up until `close()`. An attempt
 * that has not resolved within `attemptTimeout` counts as failed (its late
 * connection is closed). `reset()` drops a connection that went silent and
 * opens a new one.
 * @example
 * listen(inbox, listener) {
 *   return keepListening(async (lost) => {
 *     const client = await openSubscriber();
 *     client.on("close", () => lost(new Error("connection closed")));
 *     await client.subscribe([channel, inboxChannel(inbox)], listener.message);
 *     return client;
 *   }, listener);
 * }
 */
export function keepListening(
  connect: (lost: (error: Error) => void) => Promise<FeedConnection>,
  listener: FeedListener,
  options: KeepListeningOptions = {},
): FeedSubscription {
  const attemptTimeout = options.attemptTimeout ?? DEFAULT_ATTEMPT_TIMEOUT_MS;
  if (typeof attemptTimeout !== "number" || !(attemptTimeout > 0) || !Number.isFinite(attemptTimeout)) {
    throw new TypeError(
      `latchkey: keepListening attemptTimeout must be a positive number of ms, e.g. { attemptTimeout: 10_000 } (got ${String(attemptTimeout)})`,
    );
  }
  let closed = false;
  let current: FeedConnection | null = null;
  let down = false;
  let attempt = 0;
  let timer: NodeJS.Timeout | undefined;

  const fail = (error: Error): void => {
    if (closed) return;
    if (!down) {
      down = true;
      listener.down(error);
    }
    const delay = Math.min(MAX_RETRY_MS, FIRST_RETRY_MS * 2 ** attempt++);
    timer = setTimeout(() => void open(), delay);
    timer.unref();
  };

  const open = async (): Promise<void> => {
    if (closed) return;
    let connection: FeedConnection | null = null;
    let lostEarly: Error | null = null;
    const lost = (error: Error): void => {
      if (connection === null || connection !== current) {
        lostEarly ??= error; // dropped while connecting: the attempt fails below
        return;
      }
      current = null;
      void connection.close().catch(() => undefined);
      fail(error);
    };
    try {
      connection = await withinAttemptTimeout(connect(lost), attemptTimeout);
    } catch (error) {
      fail(error instanceof Error ? error : new Error(String(error)));
      return;
    }
    if (closed || lostEarly) {
      await connection.close().catch(() => undefined);
      if (lostEarly) fail(lostEarly);
      return;
    }
    current = connection;
    attempt = 0;
    down = false;
    listener.up();
  };

  void open();
  return {
    reset() {
      const connection = current;
      if (closed || connection === null) return;
      current = null;
      void connection.close().catch(() => undefined);
      fail(new Error("the feed went silent"));
    },
    async close() {
      closed = true;
      clearTimeout(timer);
      const connection = current;
      current = null;
      await connection?.close();
    },
  };
}

/** The attempt's connection, or a rejection after `ms`; a connection that arrives after that is closed. */
function withinAttemptTimeout(attempt: Promise<FeedConnection>, ms: number): Promise<FeedConnection> {
  return new Promise<FeedConnection>((resolve, reject) => {
    let late = false;
    const timer = setTimeout(() => {
      late = true;
      reject(new Error(`the feed's connection was not subscribed within ${ms} ms`));
    }, ms);
    timer.unref();
    attempt.then(
      (connection) => {
        clearTimeout(timer);
        if (late) void connection.close().catch(() => undefined);
        else resolve(connection);
      },
      (error: unknown) => {
        clearTimeout(timer);
        reject(error);
      },
    );
  });
}
