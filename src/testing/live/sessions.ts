// The session manager every recipe server opens: the store of LATCHKEY_STORE
// (a spec, see ../stores.ts), shared by the recipe's two processes.
import { createSessions, type Sessions } from "../../core/index.js";
import { storeFromSpec } from "../stores.js";

export async function recipeSessions(): Promise<Sessions> {
  return createSessions({ store: await storeFromSpec(process.env.LATCHKEY_STORE ?? "memory"), allowProcessLocalStore: true, sweepInterval: false });
}

/** Prints {"port": N} (what startScript waits for) and closes the sessions on SIGTERM. */
export function announce(port: number, sessions: Sessions, close: () => unknown = () => undefined): void {
  console.log(JSON.stringify({ port }));
  process.on("SIGTERM", () => {
    void Promise.resolve(close()).finally(() => sessions.close().finally(() => process.exit(0)));
  });
}
