// Tests of the live-connection recipes (one *.test.ts file per recipe calls
// these), with real clients over two processes on one
// Redis: a browser signs in through process A, opens its connection (WebSocket,
// Socket.IO, server-sent events) on process B, then logs out through A — B
// closes the connection with the documented code and reason.
import assert from "node:assert/strict";
import { after, before, describe, it, test } from "node:test";
import { io as connectSocketIo } from "socket.io-client";
import WebSocket from "ws";
import { Client, type ServerProcess } from "../client.js";
import { startScript } from "../process.js";
import { deletePrefix, REDIS_URL, requireRedis, testPrefix } from "../redis-server.js";

const BOUND_MS = 2000;
const redis = await requireRedis();

/** Resolves with what `event` was emitted with, or rejects after `ms`. */
function next<T>(emitter: { once(event: string, listener: (...args: any[]) => void): unknown }, event: string, ms = 10_000): Promise<T[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no ${event} within ${ms} ms`)), ms);
    emitter.once(event, (...args: T[]) => {
      clearTimeout(timer);
      resolve(args);
    });
  });
}

/** Reads a server-sent-events response until `until` matches what came so far (or the stream ends). */
async function readEvents(response: Response, until: (text: string) => boolean): Promise<{ text: string; ended: boolean }> {
  const reader = response.body!.getReader();
  const decoder = new TextDecoder();
  let text = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return { text, ended: true };
    text += decoder.decode(value, { stream: true });
    if (until(text)) {
      reader.releaseLock();
      return { text, ended: false };
    }
  }
}

async function signIn(server: ServerProcess, user: string): Promise<Client> {
  const browser = new Client();
  assert.equal((await browser.post(`${server.url}/login/${user}`)).status, 200);
  assert.ok(browser.cookie?.startsWith("sid="), "plain-HTTP localhost: the cookie is sid");
  return browser;
}

/** Runs the tests of one recipe server script (`live/<script>`): "ws" at `path`, "socket.io" or "sse". */
export function testRecipe(script: string, kind: "ws" | "socket.io" | "sse", path = "/live"): void {
  if (redis.skip) {
    test(`live-connection recipe ${script}`, { skip: redis.skip }, () => undefined);
    return;
  }
  const prefix = testPrefix();
  const env = { LATCHKEY_STORE: `redis:${REDIS_URL}|${prefix}` };
  after(async () => void (await deletePrefix(REDIS_URL, prefix)));
  if (kind === "ws") wsRecipe(env, script, path);
  else if (kind === "socket.io") socketIoRecipe(env, script);
  else sseRecipe(env, script);
}

type Env = Record<string, string>;

function recipe(env: Env, script: string, body: (a: ServerProcess, b: ServerProcess) => void): void {
  describe(`recipe ${script}: two processes`, () => {
    const servers: ServerProcess[] = [];
    before(async () => {
      servers.push(...(await Promise.all([startScript(`live/${script}`, env), startScript(`live/${script}`, env)])));
    });
    after(async () => {
      await Promise.all(servers.map((server) => server.stop()));
    });
    body(
      new Proxy({} as ServerProcess, { get: (_, key) => (servers[0] as any)[key] }),
      new Proxy({} as ServerProcess, { get: (_, key) => (servers[1] as any)[key] }),
    );
  });
}

function wsRecipe(env: Env, script: string, path: string): void {
  recipe(env, script, (a, b) => {
    it("a WebSocket opened on B closes with 4401 'session ended: logout' when the browser logs out through A; activity is echoed", async () => {
      const browser = await signIn(a, `ws-${script}`);
      const ws = new WebSocket(`${b.url.replace("http", "ws")}${path}`, { headers: { cookie: browser.cookie! } });
      const [hello] = await next<Buffer>(ws, "message");
      assert.deepEqual(JSON.parse(String(hello)), { userId: `ws-${script}` });
      ws.send("ping");
      assert.equal(String((await next<Buffer>(ws, "message"))[0]), "echo ping");
      const closed = next<unknown>(ws, "close");
      const started = Date.now();
      await browser.post(`${a.url}/logout`);
      const [code, reason] = await closed;
      assert.equal(code, 4401);
      assert.equal(String(reason), "session ended: logout");
      assert.ok(Date.now() - started < BOUND_MS, `closed ${Date.now() - started} ms after the logout`);
    });

    it("an upgrade without a session is refused with 401", async () => {
      const ws = new WebSocket(`${b.url.replace("http", "ws")}${path}`);
      ws.on("error", () => undefined); // terminate() of a refused handshake reports one
      const [, response] = await next<any>(ws, "unexpected-response");
      assert.equal(response.statusCode, 401);
      ws.terminate();
    });
  });
}

function socketIoRecipe(env: Env, script: string): void {
  recipe(env, script, (a, b) => {
    it("a Socket.IO client on B is told 'session-ended' { reason: 'logout' } and disconnected when the browser logs out through A", async () => {
      const browser = await signIn(a, "sio-user");
      const socket = connectSocketIo(b.url, { extraHeaders: { cookie: browser.cookie! }, transports: ["polling", "websocket"], reconnection: false });
      try {
        const [hello] = await next<{ userId: string }>(socket, "hello");
        assert.deepEqual(hello, { userId: "sio-user" });
        assert.equal(await socket.timeout(5000).emitWithAck("ping"), true, "touch from the socket: still live");
        const ended = next<{ reason: string }>(socket, "session-ended");
        const disconnected = next<string>(socket, "disconnect");
        const started = Date.now();
        await browser.post(`${a.url}/logout`);
        assert.deepEqual((await ended)[0], { reason: "logout" });
        assert.equal((await disconnected)[0], "io server disconnect");
        assert.ok(Date.now() - started < BOUND_MS, `disconnected ${Date.now() - started} ms after the logout`);
      } finally {
        socket.close();
      }
    });

    it("a handshake without a session is refused (connect_error 'unauthorized')", async () => {
      const socket = connectSocketIo(b.url, { transports: ["polling"], reconnection: false });
      try {
        const [error] = await next<Error>(socket, "connect_error");
        assert.equal(error!.message, "unauthorized");
      } finally {
        socket.close();
      }
    });
  });
}

function sseRecipe(env: Env, script: string): void {
  recipe(env, script, (a, b) => {
    it("a server-sent-events stream on B gets 'session-ended' { reason } and ends when the browser logs out through A", async () => {
      const browser = await signIn(a, `sse-${script}`);
      const response = await fetch(`${b.url}/events`, { headers: { cookie: browser.cookie! } });
      assert.equal(response.status, 200);
      assert.match(response.headers.get("content-type") ?? "", /text\/event-stream/);
      const hello = await readEvents(response, (text) => text.includes("\n\n"));
      assert.match(hello.text, /event: hello\ndata: \{"userId":"sse-/);
      const started = Date.now();
      const rest = readEvents(response, () => false);
      await browser.post(`${a.url}/logout`);
      const { text, ended } = await rest;
      assert.match(text, /event: session-ended\ndata: \{"reason":"logout"\}/);
      assert.equal(ended, true, "the stream ends");
      assert.ok(Date.now() - started < BOUND_MS, `ended ${Date.now() - started} ms after the logout`);
    });

    it("a stream without a session is refused with 401", async () => {
      assert.equal((await fetch(`${b.url}/events`)).status, 401);
    });
  });
}
