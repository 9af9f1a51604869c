// The published typings show apps what they may use: members marked @internal
// (the adapter-facing parts of Session and Sessions) are stripped from the
// .d.ts files (`stripInternal` in tsconfig.build.json). That what remains
// still type-checks is package.test.ts's job (node16, skipLibCheck off).
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { after, test } from "node:test";
import ts from "typescript";

const root = resolve(import.meta.dirname, "../..");
mkdirSync(join(root, ".cache"), { recursive: true });
const out = mkdtempSync(join(root, ".cache", "types-"));
after(() => rmSync(out, { recursive: true, force: true }));

function buildDeclarations(): string[] {
  const config = ts.getParsedCommandLineOfConfigFile(
    join(root, "tsconfig.build.json"),
    {},
    { ...ts.sys, onUnRecoverableConfigFileDiagnostic: (d) => assert.fail(String(d.messageText)) },
  );
  assert.ok(config);
  const options = { ...config.options, outDir: out, declaration: true, emitDeclarationOnly: true, sourceMap: false, declarationMap: false };
  const program = ts.createProgram(config.fileNames, options);
  const result = program.emit();
  assert.deepEqual(
    result.diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, "\n")),
    [],
  );
  const walk = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(join(dir, e.name)) : e.name.endsWith(".d.ts") ? [join(dir, e.name)] : []));
  return walk(out);
}

/** Names of the members of `className` in `file` whose JSDoc carries @internal. */
function internalMembers(file: string, className: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const names: string[] = [];
  source.forEachChild((node) => {
    if (!ts.isClassDeclaration(node) || node.name?.text !== className) return;
    for (const member of node.members) {
      if (ts.getJSDocTags(member).some((tag) => tag.tagName.text === "internal")) names.push(member.name?.getText(source) ?? "constructor");
    }
  });
  return names;
}

test("no @internal member of Session or Sessions is in the published .d.ts", () => {
  const files = buildDeclarations();
  for (const file of files) assert.doesNotMatch(readFileSync(file, "utf8"), /@internal/, `${file} keeps an @internal declaration`);

  for (const [source, className] of [
    ["src/core/session.ts", "Session"],
    ["src/core/index.ts", "Sessions"],
  ] as const) {
    const hidden = internalMembers(join(root, source), className).filter((name) => name !== "constructor");
    assert.ok(hidden.length > 0, `expected @internal members in ${className}`);
    const declared = join(out, source.replace(/^src\//, "").replace(/\.ts$/, ".d.ts"));
    const text = readFileSync(declared, "utf8");
    const body = text.slice(text.indexOf(`export declare class ${className}<`));
    for (const name of hidden)
      assert.doesNotMatch(body.slice(0, body.indexOf("\n}")), new RegExp(`\\b${name}\\b[(:]`), `${className}.${name} is visible in ${declared}`);
  }
});
