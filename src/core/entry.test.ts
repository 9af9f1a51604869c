// The root entry `latchkey` is what an app uses; store and adapter helpers live in their own subpaths.
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { test } from "node:test";
import * as root from "./index.js";
import * as store from "../store/index.js";

test("the root entry offers at most 20 runtime names", () => {
  const names = Object.keys(root);
  assert.ok(names.length <= 20, `latchkey exports ${names.length} runtime names: ${names.sort().join(", ")}`);
  for (const name of ["createSessions", "Sessions", "deviceLabel", "StoreUnavailableError", "SessionInputError", "SessionValueError", "SessionSealedError"]) {
    assert.ok(name in root, `latchkey should export ${name}`);
  }
});

test("store and adapter helpers are not in the root entry but store helpers are in latchkey/store", () => {
  const storeHelpers = [
    "applyChange",
    "SessionExistsError",
    "encodeDevice",
    "decodeDevice",
    "keepListening",
    "idOfToken",
    "isWellFormedId",
    "isWellFormedToken",
    "routeOfId",
    "userRoute",
    "MAX_KEY_LENGTH",
    "MAX_USER_ID_LENGTH",
    "MAX_USER_AGENT_LENGTH",
  ];
  const adapterHelpers = ["readCookie", "serializeCookie", "recordColumns", "multiProcessReason", "Session"];
  for (const name of [...storeHelpers, ...adapterHelpers]) assert.ok(!(name in root), `latchkey should not export ${name}`);
  for (const name of storeHelpers) assert.ok(name in store, `latchkey/store should export ${name}`);
  assert.ok(!("recordColumns" in store), "recordColumns is an internal helper of the SQL stores");
});

test("every error class of the root entry is thrown somewhere in the library", () => {
  const sources = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
      e.isDirectory()
        ? e.name === "testing"
          ? []
          : sources(join(dir, e.name))
        : e.name.endsWith(".ts") && !e.name.endsWith(".test.ts")
          ? [join(dir, e.name)]
          : [],
    );
  const code = sources(join(import.meta.dirname, ".."))
    .map((file) => readFileSync(file, "utf8"))
    .join("\n");
  const errors = Object.entries(root)
    .filter(([, value]) => typeof value === "function" && value.prototype instanceof Error)
    .map(([name]) => name);
  assert.ok(errors.length > 0);
  assert.deepEqual(
    errors.filter((name) => !new RegExp(`new ${name}\\(`).test(code)),
    [],
    "error classes apps are told to catch but nothing throws",
  );
});
