// G6 with a real SQLite failure: another process holds the write lock past the
// busy timeout. Writes answer 503 (never a silent success, never signed in),
// reads keep working (WAL), and everything recovers when the lock goes.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { test } from "node:test";
import express from "express";
import { createSessions } from "../../core/index.js";
import { buildApp } from "../../testing/app.js";
import { Client } from "../../testing/client.js";
import { sqliteStore } from "./index.js";

const HOLD_LOCK = `
const Database = require("better-sqlite3");
const db = new Database(process.argv[1]);
db.pragma("busy_timeout = 5000");
db.exec("BEGIN IMMEDIATE");
console.log("locked");
setInterval(() => {}, 1000);
`;

test("a SQLite write lock held elsewhere answers 503, never signed in, and recovers when it goes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "latchkey-fault-"));
  const path = join(dir, "sessions.db");
  const errors: string[] = [];
  const sessions = createSessions({
    store: sqliteStore({ path, busyTimeout: 100 }),
    sweepInterval: false,
    logger: { warn: () => undefined, error: (m) => errors.push(m) },
  });
  const server = buildApp(express as never, sessions).listen(0, "127.0.0.1");
  await new Promise((resolve) => server.once("listening", resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  try {
    const client = new Client();
    await client.post(`${url}/login/alice`);
    assert.equal((await client.get(`${url}/whoami`)).body.userId, "alice");

    const holder = spawn(process.execPath, ["-e", HOLD_LOCK, path], { stdio: ["ignore", "pipe", "inherit"] });
    await new Promise((resolve, reject) => {
      createInterface({ input: holder.stdout! }).once("line", resolve);
      holder.once("exit", (code) => reject(new Error(`the lock holder exited with ${code}`)));
    });

    const write = await client.post(`${url}/set/theme?value=%22lost%22`);
    assert.equal(write.status, 503, "a write that could not be stored is not answered 200");
    assert.doesNotMatch(write.text, /alice/);
    const login = await new Client().post(`${url}/login/mallory`);
    assert.equal(login.status, 503, "a login while the store is down is not accepted");
    assert.ok(
      errors.some((line) => /sqlite\(.*\) is unavailable: database is locked/.test(line)),
      errors.join("\n"),
    );

    holder.kill("SIGKILL");
    await new Promise((resolve) => holder.once("exit", resolve));
    const back = await client.get(`${url}/whoami`);
    assert.equal(back.status, 200);
    assert.equal(back.body.userId, "alice", "the session survived the outage untouched");
    assert.equal(back.body.data.theme, undefined, "the refused write was not stored");
    assert.equal((await client.post(`${url}/set/theme?value=%22ok%22`)).status, 200);
  } finally {
    server.close();
    await sessions.close();
    rmSync(dir, { recursive: true, force: true });
  }
});
