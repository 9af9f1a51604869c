import { cookies, headers } from "next/headers";
import { readCookieSession } from "latchkey/web";
import { sessions } from "../lib/sessions";
import { login, logout, logoutEverywhere } from "./actions";

// A server component may read the session but not write a cookie: it reads the
// cookie withCookieSession writes (__Host-sid, or sid on plain-HTTP localhost)
// and never commits (writes happen in the server actions and route handlers).
export default async function Home() {
  const session = await readCookieSession(sessions, await cookies(), { headers: await headers() });
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
