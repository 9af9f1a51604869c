// node --import tsx bench/pg-listeners.ts — what one NOTIFY costs PostgreSQL as the number of
// LISTENing connections grows, when only one of them listens on its channel (a strict acknowledgement
// goes to the revoker's inbox alone). PostgreSQL keeps one notification queue per cluster and wakes
// every listening backend of the database to read each entry, whatever its channel; so a strict
// logout's N − 1 acknowledgements cost ~N² backend wake-ups in all. CPU from /proc/<pid>/schedstat
// of the sender's and the listeners' backends (this machine's PostgreSQL only).
//   node --import tsx bench/pg-listeners.ts --listeners 0,8,16,32,48 --notifies 1000
import { parseArgs } from "node:util";
import { loadavg } from "node:os";
import pg from "pg";
import { cpuMsBetween, cpuSnapshot } from "./revoke-probe.js";

const { values } = parseArgs({ options: { listeners: { type: "string", default: "0,8,16,32,48" }, notifies: { type: "string", default: "1000" } } });
const counts = values.listeners!.split(",").map(Number);
const notifies = Number(values.notifies);
const databaseUrl = process.env.DATABASE_URL ?? "postgres://postgres@127.0.0.1:5432/test";
const channel = `lk_listeners_${process.pid}`;

const connect = async (): Promise<{ client: pg.Client; pid: number }> => {
  const client = new pg.Client({ connectionString: databaseUrl, application_name: "latchkey-bench-listeners" });
  await client.connect();
  return { client, pid: (await client.query<{ pid: number }>("SELECT pg_backend_pid() AS pid")).rows[0]!.pid };
};

console.log(`${new Date().toISOString()}; load ${loadavg()[0]!.toFixed(1)}; ${notifies} NOTIFYs per row, each to a channel one listener listens on`);
console.log("| listening connections | sender backend µs per NOTIFY | listeners' backends µs per NOTIFY | total µs per NOTIFY | round trip µs |");
console.log("|---:|---:|---:|---:|---:|");
for (const count of counts) {
  const sender = await connect();
  const listeners = await Promise.all(Array.from({ length: count }, () => connect()));
  let received = 0;
  try {
    for (const [i, listener] of listeners.entries()) {
      // Listener 0 is the revoker: the only one whose channel is notified; the others listen on their own inboxes.
      await listener.client.query(`LISTEN "${i === 0 ? channel : `${channel}_${i}`}"`);
      listener.client.on("notification", () => received++);
    }
    for (let i = 0; i < 100; i++) await sender.client.query("SELECT pg_notify($1, 'warm')", [channel]);
    await new Promise((r) => setTimeout(r, 200));
    const pids = [sender.pid, ...listeners.map((l) => l.pid)];
    const before = cpuSnapshot(pids);
    const started = performance.now();
    for (let i = 0; i < notifies; i++) await sender.client.query("SELECT pg_notify($1, 'ack')", [channel]);
    const roundTrip = ((performance.now() - started) * 1000) / notifies;
    await new Promise((r) => setTimeout(r, 200)); // the listeners finish reading the queue
    const after = cpuSnapshot(pids);
    const senderUs = (cpuMsBetween(new Map([[sender.pid, before.get(sender.pid)!]]), after) * 1000) / notifies;
    const totalUs = (cpuMsBetween(before, after) * 1000) / notifies;
    console.log(`| ${count} | ${senderUs.toFixed(1)} | ${(totalUs - senderUs).toFixed(1)} | ${totalUs.toFixed(1)} | ${roundTrip.toFixed(0)} |`);
    if (count > 0 && received < notifies) throw new Error(`the listener received ${received} of ${notifies + 100}`);
  } finally {
    await Promise.all([sender, ...listeners].map((c) => c.client.end()));
  }
}
