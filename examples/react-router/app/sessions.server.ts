// One sessions manager, and a middleware that gives every loader and action
// the request's session through the router context.
import { createContext, type MiddlewareFunction, type RouterContextProvider } from "react-router";
import { createSessions, type Session } from "latchkey";
import { sqliteStore } from "latchkey/sqlite";
import { withSession } from "latchkey/web";

export type Data = { visits?: number };

export const sessions = createSessions<Data>({
  store: sqliteStore({ path: process.env.SESSIONS_DB ?? "./sessions.db" }),
});

export const sessionContext = createContext<Session<Data>>();

// withSession commits after next() has produced the response, and appends the
// cookie to it, before the response leaves.
const handle = withSession(sessions, (_request, { session }, context: Readonly<RouterContextProvider>, next: () => Promise<Response>) => {
  context.set(sessionContext, session);
  return next();
});

export const sessionMiddleware: MiddlewareFunction<Response> = ({ request, context }, next) => handle(request, context, next);
