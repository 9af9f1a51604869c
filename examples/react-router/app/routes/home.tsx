import { Form, redirect } from "react-router";
import type { Route } from "./+types/home";
import { sessionContext, sessions } from "../sessions.server";

export function loader({ context }: Route.LoaderArgs) {
  const session = context.get(sessionContext);
  return { user: session.userId };
}

export async function action({ request, context }: Route.ActionArgs) {
  const session = context.get(sessionContext);
  const form = await request.formData();
  const intent = form.get("intent");
  if (intent === "login") await session.login(String(form.get("user") ?? "guest"));
  else if (intent === "logout") await session.logout();
  else if (intent === "logout-everywhere" && session.userId) await sessions.revokeUser(session.userId);
  return redirect("/");
}

export default function Home({ loaderData }: Route.ComponentProps) {
  return (
    <main>
      <p id="user">{loaderData.user ? `Signed in as ${loaderData.user}` : "Not signed in"}</p>
      <Form method="post">
        <input name="user" placeholder="name" />
        <button name="intent" value="login">
          Log in
        </button>
      </Form>
      <Form method="post">
        <button name="intent" value="logout">
          Log out
        </button>
        <button name="intent" value="logout-everywhere">
          Log out everywhere
        </button>
      </Form>
    </main>
  );
}
