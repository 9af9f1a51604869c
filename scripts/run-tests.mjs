// Runs every src/**/*.test.ts and demo/*.test.ts file with node's test runner (TypeScript via tsx).
// Usage: node scripts/run-tests.mjs [filter]   e.g. `npm test -- sqlite`
import { spawnSync } from "node:child_process";
import { readdirSync } from "node:fs";
import { join } from "node:path";

function findTests(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return findTests(path);
    return entry.name.endsWith(".test.ts") ? [path] : [];
  });
}

const filter = process.argv[2];
const files = [...findTests("src"), ...findTests("demo")].filter((file) => !filter || file.includes(filter)).sort();
if (files.length === 0) {
  console.error(`no test files match ${filter}`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-concurrency=2", "--test-reporter=spec", "--test-timeout=300000", ...files], {
  stdio: "inherit",
});
process.exit(result.status ?? 1);
