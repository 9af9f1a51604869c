import type { FeedListener, FeedSubscription } from "./contract.js";

/** One subscribed connection of a feed. */
export interface FeedConnection {
  close(): Promise<void>;
}

const FIRST_RETRY_MS = 50;
const MAX_RETRY_MS = 1000;

/**
 * Keeps a store's feed subscribed, for store authors: `connect(lost)` opens a
 * connection and subscribes (resolving once the server confirmed it), and
 * calls `lost(error)` if the connection drops later. Every drop is reported
 * to the listener as `down`, every (re)subscription as `up`; reconnection
 * backs off from 50 ms to 1 s and never gives up until `close()`. `reset()`
 * drops a connection that went silent and opens a new one.
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
export function keepListening(connect: (lost: (error: Error) => void) => Promise<FeedConnection>, listener: FeedListener): FeedSubscription {
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
      connection = await connect(lost);
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
