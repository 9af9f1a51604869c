import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { runDataLimitSuite } from "../../testing/limits-suite.js";

const dir = mkdtempSync(join(tmpdir(), "latchkey-limits-"));
runDataLimitSuite({
  name: "two Fastify processes, one SQLite file",
  framework: "fastify",
  storeSpec: () => `sqlite:${join(dir, "shared.db")}`,
  cleanup: () => rmSync(dir, { recursive: true, force: true }),
});
