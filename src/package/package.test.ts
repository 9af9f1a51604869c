// The package as people install it: `npm pack`, then a fresh consumer project that installs the tarball
// and imports every subpath of package.json `exports` (so a new subpath is checked without editing this
// file) — from TypeScript with moduleResolution node16 and bundler, and from plain ESM JavaScript that
// runs — plus publint and @arethetypeswrong/cli (ESM-only profile) on the same tarball.
// The tarball installs from disk; its own dependencies (bowser) come from the registry as an app's would
// (--prefer-offline: from the npm cache when it has them, so this passes on an empty cache too). The
// consumer's peer libraries and @types are links to this repo's node_modules, as if the app had installed
// them. Each subpath is also imported in a consumer of its own that holds only the library an app using
// that subpath installs (`npm install latchkey fastify` for latchkey/fastify), so a runtime import of
// anything else (a peer the app never installs) fails here.
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { setPriority, tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { after, before, describe, test } from "node:test";
import { fileURLToPath } from "node:url";

// Packing, installing and type-checking are CPU-heavy and time-insensitive; the test files running beside
// this one measure timings (propagation delays, leases). This process and all it spawns yield the CPU to them.
setPriority(19);

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as {
  name: string;
  exports: Record<string, unknown>;
  peerDependencies: Record<string, string>;
};
/** `latchkey`, `latchkey/memory`, ... — one per entry of `exports`. */
const specifiers = Object.keys(manifest.exports).map((key) => (key === "." ? manifest.name : `${manifest.name}/${key.slice(2)}`));
/**
 * The libraries an app that uses a subpath installs beside latchkey (one list per alternative): the
 * subpath must import with only those. A new subpath fails the test until it is listed here.
 */
const librariesOf: Record<string, string[][]> = {
  ".": [[]],
  "./memory": [[]],
  "./sqlite": [["better-sqlite3"]],
  "./express": [["express"]],
  "./fastify": [["fastify"]],
  "./koa": [["koa"]],
  "./node": [[]],
  "./hono": [["hono"]],
  "./web": [[]],
  "./conformance": [[]],
  "./store": [[]],
  "./redis": [["redis"], ["ioredis"]],
  "./postgres": [["pg"]],
  "./migrate": [[]],
  "./otel": [["@opentelemetry/api"]],
};
const work = mkdtempSync(join(tmpdir(), "latchkey-package-"));
/** latchkey installed from the tarball with its dependencies, and nothing else: copied into each lone consumer. */
const bare = join(work, "bare");
const consumer = join(work, "consumer");
let tarball = "";

function run(command: string, args: string[], cwd: string): string {
  const result = spawnSync(command, args, { cwd, encoding: "utf8", env: { ...process.env, npm_config_update_notifier: "false" } });
  const output = `${result.stdout}${result.stderr}`;
  assert.equal(result.status, 0, `${command} ${args.join(" ")} (in ${cwd}) failed:\n${output}`);
  return output;
}

/** Runs a Node CLI script of a dev dependency with this Node, as npx would; async, so checks overlap. */
function runBin(script: string, args: string[], cwd: string): Promise<{ status: number | null; output: string }> {
  return runNode([join(root, "node_modules", script), ...args], cwd);
}

/** Runs this Node with `args` in `cwd`; resolves to its exit status and output. */
function runNode(args: string[], cwd: string): Promise<{ status: number | null; output: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    child.stdout.on("data", (chunk: Buffer) => (output += String(chunk)));
    child.stderr.on("data", (chunk: Buffer) => (output += String(chunk)));
    child.on("error", reject);
    child.on("close", (status) => resolve({ status, output }));
  });
}

before(() => {
  // npm pack runs `prepare` (the build), so the tarball holds what the sources make now.
  const packed = JSON.parse(run("npm", ["pack", "--json", "--silent", "--pack-destination", work], root)) as { filename: string }[];
  tarball = join(work, packed[0]!.filename);
  mkdirSync(bare);
  writeFileSync(join(bare, "package.json"), JSON.stringify({ name: "consumer", private: true, type: "module" }, null, 2));
  run("npm", ["install", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts", "--no-package-lock", tarball], bare);
  cpSync(bare, consumer, { recursive: true });
  // The libraries an app brings (the optional peers) and their typings, linked from this repo.
  const modules = join(consumer, "node_modules");
  for (const name of Object.keys(manifest.peerDependencies)) linkLibrary(modules, name);
  mkdirSync(join(modules, "@types"), { recursive: true });
  for (const name of readdirSync(join(root, "node_modules/@types"))) symlinkSync(join(root, "node_modules/@types", name), join(modules, "@types", name), "dir");
});

/** Links `name` from this repo's node_modules into `modules`, as if the app had installed it. */
function linkLibrary(modules: string, name: string): void {
  mkdirSync(dirname(join(modules, name)), { recursive: true }); // a scoped name (@opentelemetry/api) needs its scope folder
  symlinkSync(join(root, "node_modules", name), join(modules, name), "dir");
}

after(() => rmSync(work, { recursive: true, force: true }));

// The checks are independent: they run side by side (the two type-checks and attw are the slow ones).
describe("the packed package", { concurrency: true }, () => {
  test("the tarball holds the build and the manifest, not the sources or the tests", () => {
    const listing = run("tar", ["-tzf", tarball], work).split("\n").filter(Boolean);
    assert.ok(listing.includes("package/package.json"));
    assert.ok(listing.includes("package/dist/core/index.js") && listing.includes("package/dist/core/index.d.ts"));
    assert.deepEqual(
      listing.filter((f) => f.includes(".test.") || f.startsWith("package/src/") || f.includes("/testing/")),
      [],
    );
  });

  test("every subpath of exports imports from plain ESM JavaScript and exports something", () => {
    const script = [
      `const specifiers = ${JSON.stringify(specifiers)};`,
      "for (const specifier of specifiers) {",
      "  const module = await import(specifier);",
      "  if (Object.keys(module).length === 0) throw new Error(`${specifier} exports nothing`);",
      "  console.log(`${specifier}: ${Object.keys(module).sort().join(', ')}`);",
      "}",
    ].join("\n");
    writeFileSync(join(consumer, "imports.mjs"), script);
    const output = run(process.execPath, ["imports.mjs"], consumer);
    for (const specifier of specifiers) assert.match(output, new RegExp(`^${specifier}: \\w`, "m"));
  });

  test("every subpath imports with only the library an app using it installs beside latchkey", async () => {
    assert.deepEqual(Object.keys(librariesOf).sort(), Object.keys(manifest.exports).sort(), "librariesOf lists every subpath of exports");
    for (const name of Object.values(librariesOf).flat(2)) assert.ok(name in manifest.peerDependencies, `${name} is a peer dependency`);
    const checks = Object.entries(librariesOf).flatMap(([key, alternatives]) =>
      alternatives.map(async (libraries) => {
        const specifier = key === "." ? manifest.name : `${manifest.name}/${key.slice(2)}`;
        // A real copy, not a link: Node resolves an import from the importing file's real path.
        const dir = join(work, `lone-${key.slice(2) || "core"}-${libraries.join("+").replace(/[@/]/g, "") || "none"}`);
        cpSync(bare, dir, { recursive: true });
        for (const name of libraries) linkLibrary(join(dir, "node_modules"), name);
        const script = `const module = await import(${JSON.stringify(specifier)}); if (Object.keys(module).length === 0) throw new Error("exports nothing");`;
        const { status, output } = await runNode(["--input-type=module", "-e", script], dir);
        return status === 0 ? null : `${specifier} with only [${libraries.join(", ")}] installed:\n${output}`;
      }),
    );
    assert.deepEqual((await Promise.all(checks)).filter(Boolean), []);
  });

  // A TypeScript file importing every subpath, plus a typed use of the core, checked under both resolutions.
  function typescriptProgram(): string {
    const imports = specifiers.map((s, i) => `import * as module${i} from "${s}";`);
    const uses = specifiers.map((_, i) => `  module${i},`);
    return [
      ...imports,
      'import { createSessions, type Session } from "latchkey";',
      'import { memoryStore } from "latchkey/memory";',
      "",
      "export const modules: object[] = [",
      ...uses,
      "];",
      "const sessions = createSessions({ store: memoryStore() });",
      "export async function signIn(session: Session): Promise<string | null> {",
      '  await session.login("user-1");',
      "  return session.userId;",
      "}",
      "export const close: () => Promise<void> = () => sessions.close();",
      "// @ts-expect-error: the typings are real, not any",
      "export const wrong: number = sessions;",
      "",
    ].join("\n");
  }

  // node16 also checks the declaration files (skipLibCheck: false) and so finds an error inside latchkey's
  // own .d.ts; errors inside other libraries' typings (e.g. @types/koa against a newer content-disposition)
  // are theirs and only reported. bundler checks what resolves, with skipLibCheck as most apps have it.
  for (const resolution of ["node16", "bundler"] as const) {
    test(`every subpath type-checks from TypeScript with moduleResolution ${resolution}`, async (t) => {
      const dir = join(consumer, `ts-${resolution}`);
      mkdirSync(dir, { recursive: true });
      writeFileSync(join(dir, "index.ts"), typescriptProgram());
      const compilerOptions = {
        module: resolution === "node16" ? "node16" : "esnext",
        moduleResolution: resolution,
        target: "ES2022",
        strict: true,
        noEmit: true,
        types: ["node"],
        skipLibCheck: resolution === "bundler",
      };
      writeFileSync(join(dir, "tsconfig.json"), JSON.stringify({ compilerOptions, files: ["index.ts"] }, null, 2));
      const { status, output } = await runBin("typescript/bin/tsc", ["-p", join(dir, "tsconfig.json"), "--pretty", "false"], dir);
      const errors = output.split("\n").filter((line) => /error TS\d+/.test(line));
      const theirs = errors.filter((line) => /node_modules\//.test(line.split("(")[0]!) && !line.includes(`node_modules/${manifest.name}/`));
      if (theirs.length > 0) t.diagnostic(`errors in other libraries' typings, not latchkey's:\n${[...new Set(theirs)].join("\n")}`);
      assert.deepEqual(
        errors.filter((line) => !theirs.includes(line)),
        [],
      );
      assert.ok(status === 0 || errors.length > 0, `tsc failed without an error line:\n${output}`);
    });
  }

  test("publint finds nothing to fix in the packed package", async () => {
    const { publint } = await import("publint");
    const { formatMessage } = await import("publint/utils");
    const pkgDir = join(consumer, "node_modules", manifest.name);
    const { messages, pkg } = await publint({ pkgDir, pack: false, level: "suggestion", strict: true });
    assert.deepEqual(
      messages.map((m) => `${m.type}: ${formatMessage(m, pkg) ?? m.code}`),
      [],
    );
  });

  test("@arethetypeswrong/cli (ESM-only profile) finds no problem in the tarball", async () => {
    const args = [tarball, "--profile", "esm-only", "--no-definitely-typed", "--format", "ascii", "--no-color"];
    const { status, output } = await runBin("@arethetypeswrong/cli/dist/index.js", args, work);
    assert.equal(status, 0, `attw ${args.join(" ")}:\n${output}`);
    for (const specifier of specifiers) assert.ok(output.includes(`"${specifier}"`), `attw did not analyse ${specifier}:\n${output}`);
  });
});
