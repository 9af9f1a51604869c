import { withSession } from "latchkey/web";
import { sessions } from "../../../lib/sessions";

// POST /api/login?user=alice
export const POST = withSession(sessions, async (request, { session }) => {
  const user = new URL(request.url).searchParams.get("user");
  if (!user) return Response.json({ error: "user is required" }, { status: 400 });
  await session.login(user);
  return Response.json({ userId: session.userId });
});
