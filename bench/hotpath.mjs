// The near-cache read path inside one process, call by call: CPU ns per call of the steps an authenticated
// read takes before the app runs (cookie parse, token → id, cache lookup, Session, the hold decision), in
// a tight loop: the figure load on a shared machine disturbs least; then a whole adapter's read (node:http, Koa,
// fetch handlers) with the framework left out: what latchkey adds to a request before and after the app's
// handler, and no more. Needs Redis (REDIS_URL) and a built dist/.
//   npm run build && node bench/hotpath.mjs                 this checkout
//   node bench/hotpath.mjs ../other-checkout                another checkout's dist/ (before/after)
import { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";
import { resolve } from "node:path";
import { createClient } from "redis";

const root = resolve(process.argv[2] ?? ".");
const { createSessions } = await import(`${root}/dist/core/index.js`);
const { redisStore } = await import(`${root}/dist/stores/redis/index.js`);
const { idOfToken } = await import(`${root}/dist/store/token.js`);
const { readCookie } = await import(`${root}/dist/core/cookie.js`);
const client = createClient({ url: process.env.REDIS_URL ?? "redis://127.0.0.1:6379" });
await client.connect();
const prefix = `latchkey-hotpath:${process.pid}:`;
const sessions = createSessions({ store: redisStore({ client, prefix }), nearCache: true, sweepInterval: false });
const first = await sessions.load([]);
await first.login("bench-user");
first.set("cart", ["a", "b", { sku: "c" }]);
first.set("theme", "dark");
await first.commit();
const token = first.cookieInstruction().token;
const header = `_ga=GA1.2.3; sid=${token}; other=1`;
// Each token as a fresh string, as each request's Cookie header gives it (a reused string caches its hash).
const fresh = () => readCookie(header, "sid");

/** Until the near-cache serves this session (its own notices may drop a fill). */
async function cached() {
  while (!sessions.stats().serving || !sessions.loadCached([token])) {
    await sessions.load([token]);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** CPU ns per call over `n` calls, in batches that let the event loop renew the near-cache's lease. */
async function time(name, fn, n = 100_000) {
  for (let i = 0; i < 20_000; i++) fn();
  await cached();
  let cpu = 0;
  const hitsBefore = sessions.stats().hits;
  for (let batch = 0; batch < n / 1000; batch++) {
    const before = process.cpuUsage();
    for (let i = 0; i < 1000; i++) fn();
    // Counted with the batch: the promise callbacks its calls queued (an adapter's work after the handler).
    await new Promise((r) => setImmediate(r));
    const used = process.cpuUsage(before);
    cpu += used.user + used.system;
  }
  const hits = sessions.stats().hits - hitsBefore;
  console.log(`| ${name} | ${((cpu / n) * 1000).toFixed(0)} |${hits > 0 ? ` ${(hits / n).toFixed(2)} hits/call` : ""}`);
}

console.log(`${root}: CPU ns per call (median-free: one run; repeat it)\n| step | ns |\n|---|---:|`);
await time("readCookie (3 cookies)", () => fresh());
await time("idOfToken (SHA-256)", () => idOfToken(fresh()[0]));
await time("cookie → Session (a hit), read userId", () => sessions.loadCached(fresh())?.userId);
await time("… and get('theme') (a string)", () => sessions.loadCached(fresh())?.get("theme"));
await time("… and get('cart') (an object: copied)", () => sessions.loadCached(fresh())?.get("cart"));
await time("… and the hold decision (needsCommit, cookies)", () => {
  const session = sessions.loadCached(fresh());
  return session && (session.needsCommit || session.hasCookiesToSend);
});

// Whole adapters, the framework left out: one request object reused (nothing is written to it on a read),
// its Cookie header a fresh string each time, as a parsed request's would be.
const { nodeSessions } = await import(`${root}/dist/adapters/node/index.js`);
const { koaSessions } = await import(`${root}/dist/adapters/koa/index.js`);
const { withSession } = await import(`${root}/dist/adapters/web/index.js`);
const freshHeader = () => ` ${header}`.slice(1);
const req = new IncomingMessage(new Socket());
Object.assign(req, { method: "GET", url: "/page", headers: { host: "127.0.0.1:3000", cookie: header } });
const res = new ServerResponse(req);
let seen = null;
const listener = nodeSessions(sessions, (request) => void (seen = request.session.userId));
await time("node:http adapter: nodeSessions(handler), a read", () => {
  req.headers.cookie = freshHeader();
  listener(req, res);
  return seen;
});
const koa = koaSessions(sessions);
const done = Promise.resolve();
const next = () => done;
const ctx = { req, res, method: "GET", originalUrl: "/page", headers: req.headers, response: { get: () => "" }, set() {}, secure: false };
let pending = 0;
await time("Koa adapter: koaSessions() around next(), a read", () => {
  req.headers.cookie = freshHeader();
  pending++;
  koa(ctx, next).then(() => pending--);
  return ctx.session.userId;
});
const response = new Response("ok");
const handler = withSession(sessions, (_request, { session }) => ((seen = session.userId), response));
const request = new Request("http://127.0.0.1:3000/page", { headers: { host: "127.0.0.1:3000", cookie: header } });
await time("fetch-handler adapter: withSession(handler), a read (Node's Request)", () => {
  handler(request);
  return seen;
});
const { honoSessions } = await import(`${root}/dist/adapters/hono/index.js`);
const hono = honoSessions(sessions);
const c = {
  req: { raw: request, method: "GET", url: request.url },
  env: undefined,
  error: undefined,
  session: null,
  set: (_key, value) => (c.session = value),
};
await time("Hono adapter: honoSessions() around next(), a read (Node's Request)", () => {
  pending++;
  hono(c, next).then(() => pending--);
  return c.session.userId;
});
if (pending !== 0) await new Promise((r) => setTimeout(r, 10));
await sessions.close();
for await (const keys of client.scanIterator({ MATCH: `${prefix}*` })) if (keys.length) await client.del(keys);
await client.quit();
