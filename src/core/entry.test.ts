// The root entry `latchkey` is what an app uses; store and adapter helpers live in their own subpaths.
import assert from "node:assert/strict";
import { test } from "node:test";
import * as root from "./index.js";
import * as store from "../store/index.js";

test("the root entry offers at most 20 runtime names", () => {
  const names = Object.keys(root);
  assert.ok(names.length <= 20, `latchkey exports ${names.length} runtime names: ${names.sort().join(", ")}`);
  for (const name of ["createSessions", "Sessions", "deviceLabel", "StoreUnavailableError", "SessionGoneError", "SessionConflictError", "SessionInputError", "SessionValueError", "SessionSealedError"]) {
    assert.ok(name in root, `latchkey should export ${name}`);
  }
});

test("store and adapter helpers are not in the root entry but store helpers are in latchkey/store", () => {
  const storeHelpers = ["applyChange", "SessionExistsError", "encodeDevice", "decodeDevice", "keepListening", "idOfToken", "isWellFormedId", "isWellFormedToken", "routeOfId", "userRoute", "MAX_KEY_LENGTH", "MAX_USER_ID_LENGTH", "MAX_USER_AGENT_LENGTH"];
  const adapterHelpers = ["readCookie", "serializeCookie", "recordColumns", "multiProcessReason", "Session"];
  for (const name of [...storeHelpers, ...adapterHelpers]) assert.ok(!(name in root), `latchkey should not export ${name}`);
  for (const name of storeHelpers) assert.ok(name in store, `latchkey/store should export ${name}`);
  assert.ok(!("recordColumns" in store), "recordColumns is an internal helper of the SQL stores");
});
