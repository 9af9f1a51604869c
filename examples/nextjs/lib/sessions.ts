// One sessions manager for the whole app (route handlers and server actions).
import { createSessions } from "latchkey";
import { sqliteStore } from "latchkey/sqlite";

export type Data = { visits?: number };

export const sessions = createSessions<Data>({
  store: sqliteStore({ path: process.env.SESSIONS_DB ?? "./sessions.db" }),
});
