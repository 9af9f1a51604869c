#!/usr/bin/env node
// The `latchkey` admin CLI: list and end sessions, sweep, upgrade the schema — from a
// shell, against the store the app uses. Revocations go through the session
// manager, so they publish on the store's feed like any other: running apps
// with a near-cache stop accepting the session at once.
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { createSessions, StoreUnavailableError, type SessionInfo, type Sessions } from "../core/index.js";
import { redactCredentials } from "../store/redact.js";
import { countLegacy } from "./legacy.js";
import { openStore, StoreUrlError, type StoreSettings } from "./store.js";

export const USAGE = `Usage: latchkey [options] <command>

Commands:
  sessions list <userId>         the user's live sessions (handle, device, last seen)
  sessions revoke <handle>       end one session (handle from "sessions list")
  sessions revoke-user <userId>  end every session of the user ("log out everywhere")
  sweep                          delete expired sessions now
  schema upgrade                 create or update the PostgreSQL table (and SQLite file);
                                 "migrate" is the same command under its older name
  legacy count                   live sessions left in the store of the library you switched from
                                 (connect-redis: --prefix, default "sess:"; connect-pg-simple: --table,
                                 default "session"): when it reaches 0, remove migrateFrom

Options:
  --store <url>     sqlite:./sessions.db | redis://host:6379 | rediss://… | postgres://user@host/db
                    (default: $LATCHKEY_STORE)
  --prefix <p>      Redis key prefix (default "latchkey:")
  --table <t>       SQLite / PostgreSQL table (default "latchkey_sessions")
  --schema <s>      PostgreSQL schema (default: the search_path)
  --strict          revoke under strict revocation: return once no process can still accept the session
  --json            print JSON only on stdout
  -h, --help        show this help

Exit status: 0 done, 1 the store failed, 2 bad usage or input.
Examples:
  latchkey --store sqlite:./sessions.db sessions list alice
  LATCHKEY_STORE=redis://127.0.0.1:6379 latchkey sessions revoke-user alice --json
  latchkey legacy count --store redis://127.0.0.1:6379 --prefix sess:
`;

/** A mistake in how the CLI was called: exit status 2. */
class UsageError extends Error {}

interface Io {
  out(text: string): void;
  err(text: string): void;
  env: NodeJS.ProcessEnv;
}

/**
 * Runs the CLI with `argv` (without node and the script) and resolves to the exit status.
 * @example
 * process.exitCode = await main(process.argv.slice(2));
 */
export async function main(argv: string[], io: Io = defaultIo()): Promise<number> {
  let json = argv.includes("--json");
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        store: { type: "string" },
        prefix: { type: "string" },
        table: { type: "string" },
        schema: { type: "string" },
        strict: { type: "boolean", default: false },
        json: { type: "boolean", default: false },
        help: { type: "boolean", short: "h", default: false },
      },
    });
    json = values.json;
    if (values.help) {
      io.out(USAGE);
      return 0;
    }
    const command = parseCommand(positionals);
    const url = values.store ?? io.env.LATCHKEY_STORE;
    if (!url) throw new UsageError("no store: pass --store <url> (e.g. --store sqlite:./sessions.db) or set LATCHKEY_STORE");
    const settings: StoreSettings = { url, prefix: values.prefix, table: values.table, schema: values.schema };
    if (command.name === "legacy-count") {
      const { count, source } = await countLegacy(settings);
      print(io, json, { count }, `${count} old session${count === 1 ? "" : "s"} left (${source})`);
      return 0;
    }
    if (command.name === "schema-upgrade") {
      const done = await openStore(settings, { upgradeSchema: true });
      print(io, json, { upgraded: done.description }, `Upgraded ${done.description}`);
      return 0;
    }
    const { store } = await openStore(settings, { upgradeSchema: false });
    const sessions = createSessions({ store, sweepInterval: false, revocation: values.strict ? "strict" : "bounded", logger: quietLogger(io) });
    try {
      await run(command, sessions, io, json);
    } finally {
      await sessions.close();
    }
    return 0;
  } catch (error) {
    return fail(io, json, error);
  }
}

type Command =
  | { name: "list"; userId: string }
  | { name: "revoke"; handle: string }
  | { name: "revoke-user"; userId: string }
  | { name: "sweep" }
  | { name: "schema-upgrade" }
  | { name: "legacy-count" };

function parseCommand(positionals: string[]): Command {
  const [first, second, third, ...rest] = positionals;
  const none = (extra: unknown[], what: string) => {
    if (extra.some((x) => x !== undefined))
      throw new UsageError(`${what} takes no more arguments (got ${JSON.stringify(extra.filter((x) => x !== undefined))})`);
  };
  if (first === "sweep") {
    none([second, third, ...rest], first);
    return { name: first };
  }
  // "migrate" is the schema upgrade's older name (DESIGN.md's); switching from express-session is migrateFrom, not a CLI verb.
  if (first === "migrate" || first === "schema") {
    if (first === "schema" && second !== "upgrade")
      throw new UsageError(`"schema" needs upgrade (got ${second === undefined ? "nothing" : JSON.stringify(second)})`);
    none(first === "schema" ? [third, ...rest] : [second, third, ...rest], first === "schema" ? "schema upgrade" : first);
    return { name: "schema-upgrade" };
  }
  if (first === "legacy") {
    if (second !== "count") throw new UsageError(`"legacy" needs count (got ${second === undefined ? "nothing" : JSON.stringify(second)})`);
    none([third, ...rest], "legacy count");
    return { name: "legacy-count" };
  }
  if (first === "sessions") {
    if (second !== "list" && second !== "revoke" && second !== "revoke-user") {
      throw new UsageError(`"sessions" needs list, revoke or revoke-user (got ${second === undefined ? "nothing" : JSON.stringify(second)})`);
    }
    const what = second === "revoke" ? "handle" : "userId";
    if (third === undefined) throw new UsageError(`sessions ${second} needs a ${what}: latchkey sessions ${second} <${what}>`);
    none(rest, `sessions ${second} <${what}>`);
    return second === "revoke" ? { name: "revoke", handle: third } : { name: second, userId: third };
  }
  throw new UsageError(first === undefined ? "no command given (see latchkey --help)" : `unknown command ${JSON.stringify(first)} (see latchkey --help)`);
}

async function run(command: Exclude<Command, { name: "schema-upgrade" } | { name: "legacy-count" }>, sessions: Sessions, io: Io, json: boolean): Promise<void> {
  switch (command.name) {
    case "list": {
      const listed = await sessions.list(command.userId);
      print(io, json, listed, formatList(command.userId, listed));
      return;
    }
    case "revoke": {
      const revoked = await sessions.revoke(command.handle);
      print(io, json, { revoked }, revoked ? "Revoked 1 session" : "No live session has that handle (already ended?)");
      return;
    }
    case "revoke-user": {
      const count = await sessions.revokeUser(command.userId);
      print(io, json, { count }, `Revoked ${count} session${count === 1 ? "" : "s"} of ${command.userId}`);
      return;
    }
    case "sweep": {
      const removed = await sessions.sweep();
      print(io, json, { removed }, `Removed ${removed} expired session${removed === 1 ? "" : "s"}`);
    }
  }
}

function formatList(userId: string, listed: SessionInfo[]): string {
  if (listed.length === 0) return `No live sessions for ${userId}`;
  const rows = listed.map((s) => [s.handle, s.device, s.ip ?? "", iso(s.lastSeenAt), iso(s.createdAt), iso(s.expiresAt)]);
  const header = ["HANDLE", "DEVICE", "IP", "LAST SEEN", "SIGNED IN", "EXPIRES"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  return [header, ...rows]
    .map((r) =>
      r
        .map((cell, i) => cell.padEnd(widths[i]!))
        .join("  ")
        .trimEnd(),
    )
    .join("\n");
}

const iso = (ms: number): string => new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");

function print(io: Io, json: boolean, value: unknown, text: string): void {
  io.out(json ? `${JSON.stringify(value, null, 2)}\n` : `${text}\n`);
}

function fail(io: Io, json: boolean, error: unknown): number {
  const message = redactCredentials(error instanceof Error ? error.message.replace(/^latchkey: /, "") : String(error));
  const usage = error instanceof UsageError || error instanceof StoreUrlError || (error instanceof TypeError && !(error instanceof StoreUnavailableError));
  const parse = (error as { code?: string }).code?.startsWith("ERR_PARSE_ARGS");
  io.err(`latchkey: ${message}\n`);
  if (usage || parse) {
    if (!json) io.err("Run latchkey --help for usage.\n");
    return 2;
  }
  return 1;
}

/** Warnings of the manager (a feed reconnecting…) go to stderr, never into --json output. */
function quietLogger(io: Io) {
  return { warn: (message: string) => io.err(`${redactCredentials(message)}\n`), error: (message: string) => io.err(`${redactCredentials(message)}\n`) };
}

function defaultIo(): Io {
  return { out: (text) => process.stdout.write(text), err: (text) => process.stderr.write(text), env: process.env };
}

// Run when executed (the bin, or `node dist/cli/index.js`), not when imported.
const invoked = process.argv[1] ? realpathSync(process.argv[1]) : "";
if (invoked === realpathSync(fileURLToPath(import.meta.url))) {
  process.exitCode = await main(process.argv.slice(2));
}
