// Tests that need an external service (PostgreSQL, Redis...). When the service
// cannot be reached the tests are skipped loudly on a developer machine, and
// fail in CI (CI=true), so a missing service never passes as green.

export interface ServiceCheck {
  /** false when the service answered; otherwise why the tests are skipped (pass as node:test's `skip`). */
  skip: string | false;
}

export interface RequireServiceOptions {
  /** How to make the service available, appended to the message, e.g. "set DATABASE_URL". */
  hint?: string;
  /** Give up on the probe after this many ms. Default 5000. */
  timeoutMs?: number;
}

/**
 * Runs `probe` once. Resolves `{ skip: false }` when it succeeds. When it fails:
 * with CI=true, rejects (a top-level await of this fails the test file);
 * otherwise prints "<name> tests SKIPPED: ..." and resolves `{ skip: reason }`.
 * @example
 * const { skip } = await requireService("PostgreSQL", () => ping(url), { hint: "set DATABASE_URL" });
 * if (skip) test("PostgreSQL store", { skip }, () => {}); else runStoreConformance(...);
 */
export async function requireService(name: string, probe: () => Promise<void>, options: RequireServiceOptions = {}): Promise<ServiceCheck> {
  const timeoutMs = options.timeoutMs ?? 5000;
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      probe(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
    return { skip: false };
  } catch (error) {
    const reason = `${name} is unreachable: ${error instanceof Error ? error.message : String(error)}${options.hint ? ` (${options.hint})` : ""}`;
    if (process.env.CI === "true") {
      throw new Error(`${name} tests FAILED: ${reason}. CI=true, so a missing service is a failure, not a skip.`, { cause: error });
    }
    console.warn(`\n!!! ${name} tests SKIPPED: ${reason}. They would fail with CI=true.\n`);
    return { skip: reason };
  } finally {
    clearTimeout(timer);
  }
}
