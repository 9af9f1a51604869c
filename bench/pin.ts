// --pin for the throughput benches: on a 2-CPU machine the servers and the load generator otherwise take
// turns on both cores, and the scheduler's choices move a row's figures by more than latchkey's cost (the
// same row, run twice unpinned: 2.9 and 3.8 s of CPU for 10⁵ requests). Pinned, the servers run on CPU 0,
// the bench (autocannon) and what it starts later (a private redis-server) on CPU 1.
import { execFileSync } from "node:child_process";
import { availableParallelism } from "node:os";

/** Moves this process to CPU 1 (children started later inherit it); throws where that cannot be done. */
export function pinLoadGenerator(): void {
  if (availableParallelism() < 2) throw new Error("--pin needs two CPUs");
  try {
    execFileSync("taskset", ["-cp", "1", String(process.pid)], { stdio: "ignore" });
  } catch (error) {
    throw new Error(`--pin needs taskset (Debian: util-linux): ${(error as Error).message}`, { cause: error });
  }
}

/** The command and arguments that run `node <args>` on CPU 0 (taskset execs node in place: same pid, same IPC channel). */
export function onServerCpu(pin: boolean, args: string[]): [string, string[]] {
  return pin ? ["taskset", ["-c", "0", process.execPath, ...args]] : [process.execPath, args];
}
