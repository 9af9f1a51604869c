// sessions.watch and hooks.ended with two OS processes on one SQLite file (no feed: watchers poll).
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { remoteNode } from "../../testing/watch-node.js";
import { runWatchSuite } from "../../testing/watch-suite.js";

const dir = mkdtempSync(join(tmpdir(), "latchkey-watch-"));
runWatchSuite({
  name: "two processes, one SQLite file",
  feed: false,
  start: (options) => remoteNode(`sqlite:${join(dir, "shared.db")}`, options),
  cleanup: () => rmSync(dir, { recursive: true, force: true }),
});
