import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { createSessions } from "../../core/index.js";
import type { SessionStore } from "../../store/index.js";
import { memoryStore } from "../../stores/memory/index.js";
import { runHttpSuite } from "../../testing/http-suite.js";
import { webServer } from "../../testing/servers.js";
import { withSession } from "./index.js";

runHttpSuite({ name: "withSession (web fetch handler)", makeServer: webServer });

const quiet = { warn: () => undefined, error: () => undefined };
type Data = { cart?: string[] };

/** The memory store, its patch taking 50 ms: a commit that were not awaited would still be under way. */
function slowPatches(store: SessionStore): SessionStore {
  const patch = store.patch.bind(store);
  store.patch = async (id, input) => (await new Promise((resolve) => setTimeout(resolve, 50)), patch(id, input));
  return store;
}

/** The session cookie as the next request sends it: `__Host-sid` on http://app.test (a public host: Secure, as behind a TLS proxy). */
const cookieOf = (response: Response) =>
  response.headers
    .getSetCookie()
    .find((line) => line.startsWith("__Host-sid="))
    ?.split(";")[0];

describe("withSession", () => {
  it("rejects a bad argument with a clear TypeError", () => {
    const sessions = createSessions({ store: memoryStore(), sweepInterval: false });
    assert.throws(() => withSession({} as never, () => new Response()), /withSession\(sessions\) needs the object returned by createSessions/);
    assert.throws(() => withSession(sessions, undefined as never), /needs a handler/);
    assert.throws(() => withSession(sessions, () => new Response(), { onError: 503 as never }), /option onError must be a function/);
    return sessions.close();
  });

  it("the commit is stored before the returned promise resolves, and the cookie is appended to the handler's response", async () => {
    const store = slowPatches(memoryStore());
    const sessions = createSessions<Data>({ store, sweepInterval: false, logger: quiet });
    const handler = withSession(sessions, async (request, { session }) => {
      if (new URL(request.url).pathname === "/login") await session.login("ann");
      else session.set("cart", ["apple"]);
      const response = Response.json({ handle: session.handle });
      response.headers.append("set-cookie", "theme=dark; Path=/");
      return response;
    });
    const login = await handler(new Request("http://app.test/login", { method: "POST" }));
    const cookie = cookieOf(login)!;
    assert.match(cookie, /^__Host-sid=/);
    assert.deepEqual(
      login.headers.getSetCookie().map((line) => line.split("=")[0]),
      ["theme", "__Host-sid"],
      "the app's cookie is kept, ours appended",
    );
    assert.equal(login.headers.get("cache-control"), "no-store");
    const changed = await handler(new Request("http://app.test/cart", { method: "POST", headers: { cookie } }));
    const { handle } = (await changed.json()) as { handle: string };
    assert.deepEqual((await store.get(handle))?.data.cart, ["apple"], "stored when the promise resolved");
    await sessions.close();
  });

  it("a Response.redirect() (immutable headers) is copied with the cookie, never a 500; extra arguments reach the handler", async () => {
    const sessions = createSessions({ store: memoryStore(), sweepInterval: false, logger: quiet });
    const handler = withSession(sessions, async (_request, { session }, context: { params: Promise<{ user: string }> }) => {
      await session.login((await context.params).user);
      return Response.redirect("http://app.test/home", 303);
    });
    const response = await handler(new Request("http://app.test/login/bo", { method: "POST" }), { params: Promise.resolve({ user: "bo" }) });
    assert.equal(response.status, 303);
    assert.equal(response.headers.get("location"), "http://app.test/home");
    assert.ok(cookieOf(response));
    assert.equal((await sessions.list("bo")).length, 1);
    await sessions.close();
  });

  it("a handler that throws commits nothing: the error reaches the caller", async () => {
    const store = memoryStore();
    const sessions = createSessions<Data>({ store, sweepInterval: false, logger: quiet });
    let handle: string | null = null;
    const handler = withSession(sessions, async (request, { session }) => {
      if (request.method === "POST") {
        await session.login("cy");
        return new Response("in");
      }
      handle = session.handle;
      session.set("cart", ["lost"]);
      throw new Error("boom");
    });
    const cookie = cookieOf(await handler(new Request("http://app.test/", { method: "POST" })))!;
    await assert.rejects(handler(new Request("http://app.test/", { headers: { cookie } })), /boom/);
    assert.equal((await store.get(handle!))?.data.cart, undefined);
    const notResponse = withSession(sessions, () => "text" as never);
    await assert.rejects(notResponse(new Request("http://app.test/")), /returned string, not a Response/);
    await sessions.close();
  });

  it("a store outage answers 503 (Retry-After) and the handler never runs; onError may answer instead", async () => {
    const store = memoryStore();
    const sessions = createSessions({ store, sweepInterval: false, logger: quiet });
    let ran = 0;
    const handler = withSession(sessions, async (_request, { session }) => (ran++, await session.login("di"), new Response("in")));
    const cookie = cookieOf(await handler(new Request("http://app.test/")))!;
    await store.close();
    const down = await handler(new Request("http://app.test/", { headers: { cookie } }));
    assert.equal(down.status, 503);
    assert.equal(down.headers.get("retry-after"), "1");
    assert.match(await down.text(), /session store cannot be reached/);
    const custom = withSession(sessions, () => (ran++, new Response("never")), {
      onError: (failure) => Response.json({ failed: failure.status }, { status: failure.status }),
    });
    const answered = await custom(new Request("http://app.test/", { headers: { cookie } }));
    assert.deepEqual([answered.status, await answered.json()], [503, { failed: 503 }]);
    assert.equal(ran, 1, "only the first request ran");
    await sessions.close().catch(() => undefined);
  });
});
