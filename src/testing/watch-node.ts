// One "process" of the watch tests: a session manager that can sign in, end
// sessions every way there is, watch handles and record what its listeners
// and its `ended` hook were told — with CLOCK_MONOTONIC times, which every
// process on the machine shares. In-process (memory store) or behind a tiny
// HTTP server in its own OS process (watch-worker.ts).
import { createSessions, type SessionEndedEvent, type Sessions, type SessionsOptions, type WatchEvent } from "../core/index.js";
import type { SessionStore } from "../store/contract.js";

export interface Heard extends WatchEvent {
  /** process.hrtime.bigint() when the listener ran, as a string. */
  at: string;
}

export type WatchOp =
  | { op: "login"; user: string }
  | { op: "logout"; token: string }
  | { op: "logoutOthers"; token: string }
  | { op: "relogin"; token: string }
  | { op: "revoke"; handle: string }
  | { op: "revokeUser"; user: string }
  | { op: "touch"; handle: string }
  | { op: "sweep" }
  | { op: "watch"; handles: string[] }
  | { op: "heard" }
  | { op: "ended" }
  | { op: "stats" };

export class WatchNode {
  readonly sessions: Sessions;
  readonly heard: Heard[] = [];
  readonly endedEvents: SessionEndedEvent[] = [];

  constructor(store: SessionStore, options: Partial<SessionsOptions> = {}) {
    this.sessions = createSessions({
      sweepInterval: false,
      allowProcessLocalStore: true,
      ...options,
      store,
      hooks: { ended: (event) => this.endedEvents.push(event) },
      logger: { warn: () => undefined, error: (message) => console.error(message) },
    });
  }

  /** Runs one operation; `resolvedAt` is when it resolved (hrtime, as a string). */
  async run(request: WatchOp): Promise<{ result: unknown; resolvedAt: string }> {
    const result = await this.#run(request);
    return { result, resolvedAt: process.hrtime.bigint().toString() };
  }

  async #run(request: WatchOp): Promise<unknown> {
    const sessions = this.sessions;
    switch (request.op) {
      case "login": {
        const session = await sessions.load(undefined);
        await session.login(request.user);
        return { handle: session.handle, token: tokenOf(session) };
      }
      case "relogin": {
        const session = await sessions.load(request.token);
        await session.login(session.userId!);
        return { handle: session.handle, token: tokenOf(session) };
      }
      case "logout":
        return (await sessions.load(request.token)).logout();
      case "logoutOthers":
        return (await sessions.load(request.token)).logoutOthers();
      case "revoke":
        return sessions.revoke(request.handle);
      case "revokeUser":
        return sessions.revokeUser(request.user);
      case "touch":
        return sessions.touch(request.handle);
      case "sweep":
        return sessions.sweep();
      case "watch":
        for (const handle of request.handles) {
          sessions.watch(handle, (event) => this.heard.push({ ...event, at: process.hrtime.bigint().toString() }));
        }
        return request.handles.length;
      case "heard":
        return this.heard;
      case "ended":
        return this.endedEvents;
      case "stats":
        return sessions.stats();
    }
  }
}

function tokenOf(session: { cookieInstruction(): { action: string; token?: string } }): string {
  const cookie = session.cookieInstruction();
  if (cookie.action !== "set" || !cookie.token) throw new Error("no token was issued");
  return cookie.token;
}

/** A node to drive: in this process, or over HTTP in another. */
export interface NodeHandle {
  run<T = unknown>(request: WatchOp): Promise<{ result: T; resolvedAt: bigint }>;
  close(): Promise<void>;
  /** The OS process (for SIGSTOP / SIGKILL), when it has its own. */
  pid?: number;
  kill?(signal: NodeJS.Signals): void;
}

export function localNode(node: WatchNode, close: () => Promise<void>): NodeHandle {
  return {
    async run<T>(request: WatchOp) {
      const { result, resolvedAt } = await node.run(request);
      return { result: JSON.parse(JSON.stringify(result ?? null)) as T, resolvedAt: BigInt(resolvedAt) };
    },
    close,
  };
}

/** A WatchNode in its own OS process (watch-worker.ts) on the store `spec`. */
export async function remoteNode(spec: string, options: Partial<SessionsOptions> = {}): Promise<NodeHandle> {
  const { startScript } = await import("./process.js");
  const server = await startScript("watch-worker.ts", { LATCHKEY_STORE: spec, LATCHKEY_OPTIONS: JSON.stringify(options) });
  return {
    pid: server.pid,
    kill: (signal) => server.child.kill(signal),
    async run<T>(request: WatchOp) {
      const response = await fetch(server.url, { method: "POST", body: JSON.stringify(request) });
      const answer = (await response.json()) as { result: T; resolvedAt: string; error?: string };
      if (answer.error) throw new Error(`${request.op} failed in ${server.pid}: ${answer.error}`);
      return { result: answer.result, resolvedAt: BigInt(answer.resolvedAt) };
    },
    async close() {
      if (server.child.exitCode !== null || server.child.signalCode !== null) return; // killed by the test
      server.child.kill("SIGCONT");
      await server.stop();
    },
  };
}
