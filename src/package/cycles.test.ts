// No import cycles in src/: none between files (type-only imports count) and
// none between the folders under src/ (core, store, nearcache, http, each
// store and adapter). See scripts/import-cycles.ts.
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { describeCycles } from "../../scripts/import-cycles.js";

const fixture = mkdtempSync(join(tmpdir(), "latchkey-cycles-"));
after(() => rmSync(fixture, { recursive: true, force: true }));

test("the checker finds a type-only file cycle and a folder cycle", () => {
  mkdirSync(join(fixture, "core"));
  mkdirSync(join(fixture, "cache"));
  writeFileSync(join(fixture, "core/a.ts"), 'import type { B } from "./b.js";\nexport type A = B[];\n');
  writeFileSync(join(fixture, "core/b.ts"), 'import type { A } from "./a.js";\nexport type B = { a: A };\n');
  writeFileSync(join(fixture, "core/c.ts"), 'export { cache } from "../cache/index.js";\n');
  writeFileSync(join(fixture, "cache/index.ts"), 'import type { B } from "../core/b.js";\nexport const cache = new Map<string, B>();\n');
  const { fileCycles, folderCycles } = describeCycles(fixture);
  assert.deepEqual(fileCycles, ["core/a.ts ↔ core/b.ts"]);
  assert.equal(folderCycles.length, 1);
  assert.match(folderCycles[0]!, /^cache ↔ core \(/);
});

test("src has no import cycle between files or folders", () => {
  const { fileCycles, folderCycles } = describeCycles(join(import.meta.dirname, ".."));
  assert.deepEqual(fileCycles, [], "files that import each other (directly or around a loop)");
  assert.deepEqual(folderCycles, [], "folders under src that import each other");
});
