// Store specs shared by test processes: "memory", "sqlite:<path>".
import type { SessionStore } from "../core/index.js";
import { memoryStore } from "../memory/index.js";
import { sqliteStore } from "../sqlite/index.js";

export async function storeFromSpec(spec: string): Promise<SessionStore> {
  const [kind, ...rest] = spec.split(":");
  const arg = rest.join(":");
  switch (kind) {
    case "memory":
      return memoryStore();
    case "sqlite":
      return sqliteStore({ path: arg });
    default:
      throw new Error(`unknown store spec ${spec}`);
  }
}
