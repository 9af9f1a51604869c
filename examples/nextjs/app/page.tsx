import { cookies } from "next/headers";
import { sessions } from "../lib/sessions";
import { login, logout, logoutEverywhere } from "./actions";

// A server component may read the session but not write a cookie: it loads and
// never commits (writes happen in the server actions and route handlers).
export default async function Home() {
  const jar = await cookies();
  const session = await sessions.load(jar.getAll(sessions.cookie.name).map((cookie) => cookie.value));
  return (
    <main>
      <p id="user">{session.userId ? `Signed in as ${session.userId}` : "Not signed in"}</p>
      <form action={login}>
        <input name="user" placeholder="name" />
        <button>Log in</button>
      </form>
      <form action={logout}>
        <button>Log out</button>
      </form>
      <form action={logoutEverywhere}>
        <button>Log out everywhere</button>
      </form>
    </main>
  );
}
