import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runMultiProcessSuite } from "../../testing/multiprocess-suite.js";

const dir = mkdtempSync(join(tmpdir(), "latchkey-mp-koa-"));
runMultiProcessSuite({
  name: "two Koa processes, one SQLite file",
  framework: "koa",
  storeSpec: () => `sqlite:${join(dir, "shared.db")}`,
  cleanup: () => rmSync(dir, { recursive: true, force: true }),
});
