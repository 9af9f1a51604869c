// A bound on every command, whatever the client library does while a server is frozen.
import type { RedisCommands } from "./commands.js";

/** Every command fails after `ms` without an answer, so a frozen server yields a 503, not a hung request (G6). */
export function withDeadline(commands: RedisCommands, ms: number): RedisCommands {
  // One watchdog interval for all in-flight commands: cheaper than a timer per command on the hot path.
  const inFlight = new Set<{ started: number; operation: string; reject: (error: Error) => void }>();
  let watchdog: NodeJS.Timeout | undefined;
  const check = (): void => {
    const now = performance.now();
    for (const entry of inFlight) {
      if (now - entry.started < ms) continue;
      inFlight.delete(entry);
      entry.reject(new Error(`latchkey: Redis at ${commands.endpoint} did not answer ${entry.operation} within ${ms} ms`));
    }
    if (inFlight.size === 0) {
      clearInterval(watchdog);
      watchdog = undefined;
    }
  };
  const deadline = <T>(operation: string, promise: Promise<T>): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const entry = { started: performance.now(), operation, reject };
      inFlight.add(entry);
      if (watchdog === undefined) {
        watchdog = setInterval(check, Math.max(5, Math.floor(ms / 4)));
        watchdog.unref();
      }
      promise.then(
        (value) => {
          inFlight.delete(entry);
          resolve(value);
        },
        (error: unknown) => {
          inFlight.delete(entry);
          reject(error);
        },
      );
    });
  return {
    get endpoint() {
      return commands.endpoint;
    },
    topology: commands.topology,
    run: (script, keys, args) => deadline("a script", commands.run(script, keys, args)),
    runDurable: (script, keys, args, replicas, timeout) => deadline("a script and WAIT", commands.runDurable(script, keys, args, replicas, timeout)),
    hgetall: (key) => deadline("HGETALL", commands.hgetall(key)),
    zrange: (key) => deadline("ZRANGE", commands.zrange(key)),
    ping: () => deadline("PING", commands.ping()),
    publish: (channel, message) => deadline("PUBLISH", commands.publish(channel, message)),
    clusterMasters: async (refresh) =>
      (await deadline("CLUSTER SLOTS", commands.clusterMasters(refresh))).map((master) => ({
        address: master.address,
        publish: (channel: string, message: string) => deadline("PUBLISH", master.publish(channel, message)),
        openSubscriber: () => master.openSubscriber(),
      })),
    // Bounded by the connection's own connect timeout; a deadline here could orphan a late connection.
    openSubscriber: () => commands.openSubscriber(),
    ready: () => commands.ready(),
    close: () => commands.close(),
  };
}
