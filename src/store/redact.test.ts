// No message shows a password: store URLs and connection strings are redacted wherever they reach an
// error or a log line (store construction, connection failures, the store's name).
import assert from "node:assert/strict";
import { createServer } from "node:net";
import { describe, it } from "node:test";
import { Redis } from "ioredis";
import { postgresStore } from "../stores/postgres/index.js";
import { redisStore } from "../stores/redis/index.js";
import { createSessions, StoreUnavailableError } from "../core/index.js";
import { redactCredentials, redactUrl } from "./redact.js";

const SECRET = "S3cretPW";

/** A port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

/** The message of what `action` throws or rejects with, with its causes' messages. */
async function failureOf(action: () => unknown): Promise<string> {
  try {
    await action();
  } catch (error) {
    const messages: string[] = [];
    for (let e: unknown = error; e instanceof Error; e = e.cause) messages.push(e.message);
    return messages[0]!;
  }
  assert.fail("expected a failure");
}

describe("redactUrl / redactCredentials", () => {
  it("hide the password of a URL and keep the rest", () => {
    assert.equal(redactUrl(`redis://default:${SECRET}@redis.internal:6379/0`), "redis://default:***@redis.internal:6379/0");
    assert.equal(redactUrl(`rediss://:${SECRET}@cache:6380`), "rediss://:***@cache:6380");
    assert.equal(redactUrl(`postgres://app:${SECRET}@db/app?sslmode=require`), "postgres://app:***@db/app?sslmode=require");
    assert.equal(redactUrl("postgres://postgres@127.0.0.1/test"), "postgres://postgres@127.0.0.1/test", "a user name alone stays");
    assert.equal(redactUrl("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    assert.equal(redactUrl(`postgres://db/app?user=app&password=${SECRET}&sslmode=require`), "postgres://db/app?user=app&password=***&sslmode=require");
  });

  it("hide it in strings that are not valid URLs too (the ones error messages quote)", () => {
    assert.equal(redactUrl(`redis://default:${SECRET}@redis.internal:63x79`), "redis://default:***@redis.internal:63x79");
    assert.doesNotMatch(redactUrl(`redis://default:p@ss/w@rd${SECRET}@host:6379`), /ss|rd|S3cret/);
  });

  it("find every URL and password= parameter in free text", () => {
    const text = `cannot reach "redis://u:${SECRET}@a:1" nor redis://:${SECRET}2@b:2, host=db password=${SECRET}3 user=x`;
    const redacted = redactCredentials(text);
    assert.doesNotMatch(redacted, /S3cret/);
    assert.equal(redacted, 'cannot reach "redis://u:***@a:1" nor redis://:***@b:2, host=db password=*** user=x');
  });

  it("StoreUnavailableError never repeats a password from its cause", () => {
    const error = new StoreUnavailableError("redis(cache:6379 app:)", new Error(`connect to redis://default:${SECRET}@cache:6379 failed`));
    assert.doesNotMatch(error.message, /S3cret/);
    assert.match(error.message, /redis:\/\/default:\*\*\*@cache:6379 failed/);
  });
});

describe("store errors never show a password", () => {
  it("redisStore: a URL it refuses", async () => {
    for (const url of [`redis://default:${SECRET}@redis.internal:63x79`, `http://default:${SECRET}@redis.internal:6379`]) {
      const message = await failureOf(() => redisStore({ url }));
      assert.match(message, /redisStore url/);
      assert.doesNotMatch(message, /S3cret/, message);
    }
  });

  it("redisStore: a server it cannot reach", async () => {
    const store = redisStore({ url: `redis://default:${SECRET}@127.0.0.1:${await closedPort()}`, connectTimeout: 2000 });
    try {
      const message = await failureOf(() => store.ready());
      assert.match(message, /cannot reach Redis at 127\.0\.0\.1/);
      assert.doesNotMatch(message, /S3cret/, message);
      assert.doesNotMatch(store.name, /S3cret/);
    } finally {
      await store.close().catch(() => undefined);
    }
  });

  it("redisStore: an ioredis Cluster whose startup node is a URL with a password", async () => {
    const cluster = new Redis.Cluster([`redis://:${SECRET}@127.0.0.1:${await closedPort()}`], { lazyConnect: true, enableOfflineQueue: false });
    try {
      const store = redisStore({ client: cluster });
      assert.match(store.name, /cluster redis:\/\/:\*\*\*@127\.0\.0\.1/);
      assert.doesNotMatch(store.name, /S3cret/);
    } finally {
      cluster.disconnect();
    }
  });

  it("postgresStore: a server it cannot reach, as the request sees it and as the log line says it", async () => {
    const logged: string[] = [];
    const store = postgresStore({ connectionString: `postgres://app:${SECRET}@127.0.0.1:${await closedPort()}/app` });
    const sessions = createSessions({
      store,
      sweepInterval: false,
      logger: { warn: (line: string) => logged.push(line), error: (line: string) => logged.push(line) },
    });
    try {
      const message = await failureOf(() => sessions.list("alice"));
      assert.match(message, /cannot reach PostgreSQL at 127\.0\.0\.1/);
      assert.doesNotMatch(`${message}\n${store.name}\n${logged.join("\n")}`, /S3cret/);
    } finally {
      await sessions.close().catch(() => undefined);
    }
  });
});
