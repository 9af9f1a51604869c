"use server";
import { cookies, headers } from "next/headers";
import { redirect } from "next/navigation";
import type { Session } from "latchkey";
import { withCookieSession } from "latchkey/web";
import { sessions, type Data } from "../lib/sessions";

// Server actions have no after-hook: withCookieSession commits, then writes the
// cookie with cookies().set(), before it resolves. redirect() throws, so it
// comes after.
async function run<T>(action: (session: Session<Data>) => T | Promise<T>): Promise<T> {
  return withCookieSession(sessions, await cookies(), action, { headers: await headers() });
}

export async function login(form: FormData) {
  const user = String(form.get("user") ?? "").trim();
  if (user) await run((session) => session.login(user));
  redirect("/");
}

export async function logout() {
  await run((session) => session.logout());
  redirect("/");
}

export async function logoutEverywhere() {
  await run(async (session) => (session.userId ? sessions.revokeUser(session.userId) : 0));
  redirect("/");
}
