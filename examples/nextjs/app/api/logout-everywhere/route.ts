import { withSession } from "latchkey/web";
import { sessions } from "../../../lib/sessions";

// Ends every session of the signed-in user, on every device.
export const POST = withSession(sessions, async (_request, { session }) => {
  if (!session.userId) return Response.json({ error: "not signed in" }, { status: 401 });
  return Response.json({ ended: await sessions.revokeUser(session.userId) });
});
