// Redis Sentinel on either library: ioredis clients revived after ioredis ends
// them mid-failover, and the node-redis Sentinel client (`createSentinel()`)
// whose commands wait a bounded time for a primary.
import { hostPort, toFields, type AnyClient, type DurableReply } from "./commands.js";
import { NodeRedisAdapter } from "./node-redis.js";
import { nodeRedisSubscriber, type RedisSubscriber } from "./subscriber.js";

/**
 * ioredis (5.x) can end a Sentinel client for good during a failover: when its
 * failover detector (`+switch-master`) fires while the client is asking a
 * Sentinel for the primary, the detector's disconnect makes that pending
 * connect fail with "Connection is closed." and the client goes to status
 * "end" with no reconnection scheduled, so every later command fails with
 * "Connection is closed." although Sentinel names a healthy primary. The
 * slower the machine, the longer that question takes and the likelier the
 * race. A client that ends straight from "connecting" without its owner
 * having closed it is reconnected here (backing off from 50 ms to 2 s); one
 * its owner closed (`disconnect()`, `quit()`) is left closed.
 */
export function reconnectWhenEndedBySentinelRace(client: AnyClient): void {
  let previous = "";
  let attempts = 0;
  let timer: NodeJS.Timeout | undefined;
  const track = (event: string) => client.on(event, () => (previous = event));
  track("connecting");
  track("close");
  client.on("ready", () => {
    previous = "ready";
    attempts = 0;
  });
  client.on("end", () => {
    const endedWhileConnecting = previous === "connecting";
    previous = "end";
    // manuallyClosing: set by disconnect()/quit(), and still set when the owner's close interrupted a connect.
    if (!endedWhileConnecting || client.manuallyClosing === true) return;
    clearTimeout(timer);
    timer = setTimeout(
      () => {
        if (client.status === "end" && client.manuallyClosing !== true) client.connect().catch(() => undefined);
      },
      Math.min(2000, 50 * 2 ** attempts++),
    );
    timer.unref();
  });
}

type TrackedSubscriber = RedisSubscriber & { primaryChanged(): void };

/** node-redis's Sentinel client (`createSentinel()`, redis v5), by its shape. */
export function isNodeRedisSentinel(c: AnyClient): boolean {
  return typeof c.getMasterNode === "function" && typeof c.getSentinelNode === "function" && typeof c._execute === "function";
}

/**
 * How long a command may wait for node-redis's Sentinel client to have a
 * primary before it fails. That client holds every command while there is
 * none (its `disableOfflineQueue` does not apply), so without this bound each
 * store operation of a request waited its whole commandTimeout through a
 * failover, a request of several operations went unanswered for many seconds
 * with nothing logged, and a command the request had already given up on was
 * sent to the new primary later. ioredis with `enableOfflineQueue: false`
 * fails at once.
 */
const PRIMARY_WAIT_MS = 1000;

/**
 * node-redis's Sentinel client: commands go to the current primary (the client
 * follows failovers itself), and fail after {@link PRIMARY_WAIT_MS} without
 * one; the feed's subscriber is a plain connection to the
 * primary of the moment, with the pool's own options (credentials, TLS), so a
 * failover closes it and the feed flushes, then resubscribes on the new primary.
 */
export class NodeRedisSentinelAdapter extends NodeRedisAdapter {
  /** Open feed connections: all closed when Sentinel names a new primary. */
  readonly #subscribers = new Set<TrackedSubscriber>();

  constructor(client: AnyClient) {
    const sentinel = client.getSentinelNode?.();
    super(client, `sentinel via ${sentinel ? hostPort(sentinel.host, sentinel.port) : "unknown"}`);
    // A failover that leaves the old primary running (SENTINEL FAILOVER, a partition) does not close
    // connections to it until Sentinel demotes it, seconds later; meanwhile notices published on the new
    // primary never reach a subscriber on the old one. Close it at once: the feed flushes and resubscribes.
    client.on("topology-change", (event: { type?: string }) => {
      if (event?.type !== "MASTER_CHANGE") return;
      for (const subscriber of [...this.#subscribers]) subscriber.primaryChanged();
    });
  }

  override get topology(): "sentinel" {
    return "sentinel";
  }

  /**
   * Runs `send` on the primary's client once node-redis has one. Rejects when
   * it had none for {@link PRIMARY_WAIT_MS} (also between a failed attempt and
   * node-redis's retry on a new primary); after that, nothing is sent.
   */
  #onPrimary<T>(operation: string, send: (primary: AnyClient) => Promise<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      let gaveUp = false;
      let timer: NodeJS.Timeout | undefined;
      const waitForPrimary = (): void => {
        timer = setTimeout(() => {
          gaveUp = true;
          reject(
            new Error(`latchkey: no Redis primary to send ${operation} to within ${PRIMARY_WAIT_MS} ms (${this.endpoint}; a Sentinel failover in progress?)`),
          );
        }, PRIMARY_WAIT_MS);
      };
      waitForPrimary();
      (
        this.client._execute(false, async (primary: AnyClient) => {
          if (gaveUp) throw new Error(`latchkey: ${operation} was given up while there was no primary; not sent`);
          clearTimeout(timer);
          try {
            return await send(primary);
          } catch (error) {
            if (!gaveUp) waitForPrimary(); // node-redis may retry on the next primary
            throw error;
          }
        }) as Promise<T>
      ).then(
        (value) => {
          clearTimeout(timer);
          if (!gaveUp) resolve(value);
        },
        (error: unknown) => {
          clearTimeout(timer);
          if (!gaveUp) reject(error);
        },
      );
    });
  }

  protected override evalsha(sha: string, keys: string[], args: string[]): Promise<unknown> {
    return this.#onPrimary("a script", (primary) => primary.evalSha(sha, { keys, arguments: args }));
  }

  protected override eval(source: string, keys: string[], args: string[]): Promise<unknown> {
    return this.#onPrimary("a script", (primary) => primary.eval(source, { keys, arguments: args }));
  }

  protected override async evalThenWait(source: string, keys: string[], args: string[], replicas: number, timeout: number): Promise<DurableReply> {
    const [reply, acknowledged] = (await this.#onPrimary("a script and WAIT", (primary) =>
      primary.multi().eval(source, { keys, arguments: args }).wait(replicas, timeout).execAsPipeline(),
    )) as [unknown, number];
    return { reply, acknowledged: Number(acknowledged) };
  }

  override hgetall(key: string): Promise<Record<string, string>> {
    return this.#onPrimary("HGETALL", (primary) => primary.hGetAll(key)).then(toFields);
  }

  override zrange(key: string): Promise<string[]> {
    return this.#onPrimary("ZRANGE", (primary) => primary.zRange(key, 0, -1));
  }

  override async ping(): Promise<void> {
    await this.#onPrimary("PING", (primary) => primary.ping());
  }

  override async publish(channel: string, message: string): Promise<void> {
    await this.#onPrimary("PUBLISH", (primary) => primary.publish(channel, message));
  }

  override async openSubscriber(): Promise<RedisSubscriber> {
    // _execute hands over the pool's client for the primary: duplicate() copies its options, not its socket.
    const primary: AnyClient = await this.client._execute(false, async (master: AnyClient) => master);
    const subscriber = await nodeRedisSubscriber(primary);
    let lost: ((error: Error) => void) | null = null;
    const report = (error: Error): void => {
      this.#subscribers.delete(tracked);
      const listener = lost;
      lost = null; // once
      listener?.(error);
    };
    const tracked: TrackedSubscriber = {
      subscribe: (channels, onMessage) => subscriber.subscribe(channels, onMessage),
      onLost: (listener) => {
        lost = listener;
        subscriber.onLost(report);
      },
      close: () => {
        this.#subscribers.delete(tracked);
        return subscriber.close();
      },
      primaryChanged: () => {
        report(new Error("Sentinel named a new primary"));
        void subscriber.close().catch(() => undefined);
      },
    };
    this.#subscribers.add(tracked);
    return tracked;
  }
}
