import type { Route } from "./+types/api.me";
import { sessionContext } from "../sessions.server";

// A resource route: counts the signed-in user's visits.
export function loader({ context }: Route.LoaderArgs) {
  const session = context.get(sessionContext);
  if (!session.userId) return Response.json({ userId: null, visits: 0 });
  const visits = (session.get("visits") ?? 0) + 1;
  session.set("visits", visits);
  return Response.json({ userId: session.userId, visits });
}
