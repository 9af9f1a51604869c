import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runMultiProcessSuite } from "../../testing/multiprocess-suite.js";

const dir = mkdtempSync(join(tmpdir(), "latchkey-mp-hono-"));
runMultiProcessSuite({
  name: "two Hono processes (@hono/node-server), one SQLite file",
  framework: "hono",
  storeSpec: () => `sqlite:${join(dir, "shared.db")}`,
  cleanup: () => rmSync(dir, { recursive: true, force: true }),
});
