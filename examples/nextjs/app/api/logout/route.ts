import { withSession } from "latchkey/web";
import { sessions } from "../../../lib/sessions";

export const POST = withSession(sessions, async (_request, { session }) => {
  await session.logout();
  return Response.json({ userId: session.userId });
});
