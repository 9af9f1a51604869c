// sessions.watch, sessions.touch and hooks.ended on the memory store: two
// managers in this process share one memoryStore (no feed: the other one polls).
import { runWatchSuite } from "../testing/watch-suite.js";
import { memoryStore } from "../memory/index.js";
import { localNode, WatchNode } from "../testing/watch-node.js";
import type { SessionStore } from "./index.js";

let shared: SessionStore | null = null;
runWatchSuite({
  name: "two managers, one memoryStore",
  feed: false,
  start: async (options) => {
    shared ??= memoryStore();
    // Closing one manager closes the store: the suite closes them all at the end.
    const node = new WatchNode(shared, options);
    return localNode(node, async () => {
      await node.sessions.close().catch(() => undefined);
    });
  },
});
