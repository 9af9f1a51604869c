import { withSession } from "latchkey/web";
import { sessions } from "../../../lib/sessions";

export const GET = withSession(sessions, async (_request, { session }) => {
  const visits = (session.get("visits") ?? 0) + 1;
  if (session.userId) session.set("visits", visits);
  return Response.json({ userId: session.userId, visits: session.userId ? visits : 0 });
});
