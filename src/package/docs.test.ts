// The manual cannot rot: every TypeScript block in README.md and docs/ is compiled against the package's
// own types (each `latchkey/...` specifier of package.json `exports` mapped to its source), every relative
// link points at a page and heading that exist, and the README stays short.
//
// A block is one of:
// - a whole program: compiled as its own module (strict, like the package), with the libraries an app
//   would install resolved from this repository's node_modules;
// - a file of an example app (TypeScript or JavaScript): its first line is `// <path>` naming a file under one example in
//   examples/ (Next.js, React Router). Its body must appear in that file as written; the example's own
//   test (`npm run test:nextjs`, `npm run test:react-router`) builds and type-checks it.
// Signatures and shapes that are not programs go in ```text blocks, which are not compiled.
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join, relative, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import ts from "typescript";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const README_MAX_LINES = 250;

function markdownFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return markdownFiles(path);
    return entry.name.endsWith(".md") ? [path] : [];
  });
}

const pages = [join(root, "README.md"), ...markdownFiles(join(root, "docs"))].sort();

interface Block {
  page: string;
  /** 1-based line of the block's first code line in the page. */
  line: number;
  lang: string;
  code: string;
}

/** Fenced code blocks with their language tag, and the page's text outside them. */
function parse(page: string): { blocks: Block[]; prose: string[] } {
  const lines = readFileSync(page, "utf8").split("\n");
  const blocks: Block[] = [];
  const prose: string[] = [];
  let open: { lang: string; start: number; body: string[] } | null = null;
  for (const [index, text] of lines.entries()) {
    const fence = /^(\s*)```(\S*)/.exec(text);
    if (fence && !open) {
      open = { lang: fence[2] ?? "", start: index + 2, body: [] };
    } else if (fence && open && text.trim() === "```") {
      blocks.push({ page, line: open.start, lang: open.lang, code: open.body.join("\n") });
      open = null;
    } else if (open) {
      open.body.push(text);
    } else {
      prose.push(text);
    }
  }
  assert.equal(open, null, `${relative(root, page)}: a code block opened at line ${open?.start} is never closed`);
  return { blocks, prose };
}

const parsed = pages.map((page) => ({ page, ...parse(page) }));
const tsBlocks = parsed.flatMap(({ blocks }) => blocks.filter((block) => block.lang === "ts" || block.lang === "tsx" || block.lang === "typescript"));
const jsBlocks = parsed.flatMap(({ blocks }) => blocks.filter((block) => block.lang === "js" || block.lang === "javascript"));
const exampleDirs = readdirSync(join(root, "examples"), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .map((entry) => join(root, "examples", entry.name));

/** The example file a block shows, when its first line names one. */
function exampleFileOf(block: Block): string | null {
  const named = /^\/\/ ([\w./[\]-]+\.(?:ts|tsx|mjs|js))$/.exec(block.code.split("\n")[0]!.trim());
  if (!named) return null;
  for (const dir of exampleDirs) {
    const path = join(dir, named[1]!);
    if (existsSync(path)) return path;
  }
  return null;
}

const normalise = (text: string) =>
  text
    .split("\n")
    .map((line) => line.trimEnd())
    .join("\n")
    .trim();

/** tsconfig `paths` for every subpath of the package, pointing at its source (no build needed). */
function packagePaths(): Record<string, string[]> {
  const manifest = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { name: string; exports: Record<string, { types: string }> };
  const paths: Record<string, string[]> = {};
  for (const [key, target] of Object.entries(manifest.exports)) {
    const specifier = key === "." ? manifest.name : `${manifest.name}/${key.slice(2)}`;
    const source = target.types.replace(/^\.\/dist\//, "./src/").replace(/\.d\.ts$/, ".ts");
    assert.ok(existsSync(join(root, source)), `exports ${key}: no source file ${source} for its types ${target.types}`);
    paths[specifier] = [source];
  }
  return paths;
}

function compilerOptions(): ts.CompilerOptions {
  return {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    lib: ["lib.es2023.d.ts"],
    types: ["node"],
    strict: true,
    esModuleInterop: true,
    skipLibCheck: true,
    noEmit: true,
    baseUrl: root,
    paths: packagePaths(),
    typeRoots: [join(root, "node_modules", "@types")],
  };
}

const work = join(root, ".cache", "docs-check");
after(() => rmSync(work, { recursive: true, force: true }));

describe("the manual", () => {
  test(`README.md is at most ${README_MAX_LINES} lines`, () => {
    const lines = readFileSync(join(root, "README.md"), "utf8").trimEnd().split("\n").length;
    assert.ok(lines <= README_MAX_LINES, `README.md has ${lines} lines; move detail into docs/ and link to it`);
  });

  test("every TypeScript block that shows an example app's file is in that file as written", () => {
    const shown = [...tsBlocks, ...jsBlocks].filter((block) => exampleFileOf(block) !== null);
    assert.ok(shown.length > 0, "expected the Next.js and React Router pages to show files of examples/");
    for (const block of shown) {
      const file = exampleFileOf(block)!;
      const body = normalise(block.code.split("\n").slice(1).join("\n"));
      assert.ok(
        normalise(readFileSync(file, "utf8")).includes(body),
        `${relative(root, block.page)}:${block.line}: the block is not what ${relative(root, file)} holds; copy the file's text into the page`,
      );
    }
  });

  test("every other TypeScript block compiles against the package's types", () => {
    rmSync(work, { recursive: true, force: true });
    mkdirSync(work, { recursive: true });
    const files = new Map<string, Block>();
    for (const [index, block] of tsBlocks.entries()) {
      if (exampleFileOf(block) !== null) continue;
      const name = `${relative(root, block.page).replace(/[^\w]+/g, "_")}_${block.line}_${index}.${block.lang === "tsx" ? "tsx" : "ts"}`;
      const path = join(work, name);
      // `export {}` makes every block a module, so blocks do not share top-level names.
      writeFileSync(path, `${block.code}\nexport {};\n`);
      files.set(path, block);
    }
    assert.ok(files.size > 10, `expected the manual's examples, found ${files.size} blocks`);
    // A block that augments a module (`declare module "latchkey/express" { ... }`) changes the types of every
    // file in its program: it is compiled on its own, the others together.
    const augmenting = [...files].filter(([, block]) => /^declare module /m.test(block.code)).map(([path]) => [path]);
    const together = [...files].filter(([, block]) => !/^declare module /m.test(block.code)).map(([path]) => path);
    const diagnostics = [together, ...augmenting].flatMap((group) => [...ts.getPreEmitDiagnostics(ts.createProgram(group, compilerOptions()))]);
    const problems = diagnostics.map((diagnostic) => {
      const message = ts.flattenDiagnosticMessageText(diagnostic.messageText, "\n");
      const block = diagnostic.file && files.get(resolve(diagnostic.file.fileName));
      if (!block || diagnostic.start === undefined) return `${diagnostic.file?.fileName ?? "(options)"}: TS${diagnostic.code} ${message}`;
      const { line } = diagnostic.file!.getLineAndCharacterOfPosition(diagnostic.start);
      return `${relative(root, block.page)}:${block.line + line}: TS${diagnostic.code} ${message}`;
    });
    assert.deepEqual(problems, [], `examples in the manual do not compile:\n${problems.join("\n")}`);
  });

  test("every relative link points at a page and a heading that exist", () => {
    const headings = new Map(parsed.map(({ page, prose }) => [page, new Set(prose.filter((line) => /^#+ /.test(line)).map(slug))]));
    const broken: string[] = [];
    for (const { page, prose } of parsed) {
      for (const line of prose) {
        for (const match of line.matchAll(/\]\(([^)\s]+)\)/g)) {
          const href = match[1]!;
          if (/^[a-z]+:/.test(href)) continue; // https:, mailto:
          const [path, anchor] = href.split("#") as [string, string | undefined];
          const target = path === "" ? page : resolve(dirname(page), path);
          if (!existsSync(target)) {
            broken.push(`${relative(root, page)}: ${href} (no such file)`);
            continue;
          }
          if (anchor && target.endsWith(".md") && !headings.get(target)?.has(anchor)) broken.push(`${relative(root, page)}: ${href} (no such heading)`);
        }
      }
    }
    assert.deepEqual(broken, [], `broken links:\n${broken.join("\n")}`);
  });
});

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .replace(/^#+ /, "")
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}
