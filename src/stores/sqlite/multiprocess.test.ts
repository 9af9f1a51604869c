import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runMultiProcessSuite } from "../../testing/multiprocess-suite.js";
import { runSessionLimitSuite } from "../../testing/limit-suite.js";

const dir = mkdtempSync(join(tmpdir(), "latchkey-mp-"));
runMultiProcessSuite({
  name: "two processes, one SQLite file",
  storeSpec: () => `sqlite:${join(dir, "shared.db")}`,
  cleanup: () => rmSync(dir, { recursive: true, force: true }),
});
const limitDir = mkdtempSync(join(tmpdir(), "latchkey-limit-"));
runSessionLimitSuite({
  name: "two processes, one SQLite file",
  storeSpec: () => `sqlite:${join(limitDir, "limit.db")}`,
  cleanup: () => rmSync(limitDir, { recursive: true, force: true }),
});
