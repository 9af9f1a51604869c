// Finds import cycles in src/: between files (every import, type-only ones
// included) and between the folders under src/. Used by src/package/cycles.test.ts;
// run alone with `node --import tsx scripts/import-cycles.ts` to print them.
import { readdirSync, readFileSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import ts from "typescript";

export interface ImportGraph {
  /** file (relative to src, posix) → the src files it imports. */
  files: Map<string, Set<string>>;
  /** folder under src → the folders it imports, with one example import each. */
  folders: Map<string, Map<string, string>>;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".test.ts") && !entry.name.endsWith(".d.ts") ? [path] : [];
  });
}

/** Relative module specifiers of a file: import/export declarations, import("…") types and calls. */
function specifiers(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const visit = (node: ts.Node) => {
    if ((ts.isImportDeclaration(node) || ts.isExportDeclaration(node)) && node.moduleSpecifier && ts.isStringLiteral(node.moduleSpecifier)) {
      found.push(node.moduleSpecifier.text);
    } else if (ts.isImportTypeNode(node) && ts.isLiteralTypeNode(node.argument) && ts.isStringLiteral(node.argument.literal)) {
      found.push(node.argument.literal.text);
    } else if (
      ts.isCallExpression(node) &&
      node.expression.kind === ts.SyntaxKind.ImportKeyword &&
      node.arguments[0] &&
      ts.isStringLiteral(node.arguments[0])
    ) {
      found.push(node.arguments[0].text);
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found.filter((s) => s.startsWith("."));
}

/** The import graph of `srcDir` (tests excluded: they may import anything). */
export function importGraph(srcDir: string): ImportGraph {
  const root = resolve(srcDir);
  const name = (path: string) => relative(root, path).split(sep).join("/");
  const files = new Map<string, Set<string>>();
  const folders = new Map<string, Map<string, string>>();
  for (const file of sourceFiles(root)) {
    const from = name(file);
    const targets = new Set<string>();
    for (const specifier of specifiers(file)) {
      const target = name(resolve(dirname(file), specifier.replace(/\.js$/, ".ts")));
      if (target.startsWith("..")) continue;
      targets.add(target);
      const [a, b] = [from.split("/")[0]!, target.split("/")[0]!];
      if (a !== b && from.includes("/") && target.includes("/")) {
        if (!folders.has(a)) folders.set(a, new Map());
        if (!folders.get(a)!.has(b)) folders.get(a)!.set(b, `${from} → ${target}`);
      }
    }
    files.set(from, targets);
  }
  return { files, folders };
}

/** Every strongly connected set of more than one node (or a node importing itself), each sorted. */
export function cycles(edges: Map<string, Iterable<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const found: string[][] = [];
  let next = 0;
  const connect = (node: string) => {
    index.set(node, next);
    low.set(node, next++);
    stack.push(node);
    onStack.add(node);
    for (const to of edges.get(node) ?? []) {
      if (!index.has(to)) {
        connect(to);
        low.set(node, Math.min(low.get(node)!, low.get(to)!));
      } else if (onStack.has(to)) low.set(node, Math.min(low.get(node)!, index.get(to)!));
    }
    if (low.get(node) === index.get(node)) {
      const component: string[] = [];
      let member: string;
      do {
        member = stack.pop()!;
        onStack.delete(member);
        component.push(member);
      } while (member !== node);
      if (component.length > 1 || [...(edges.get(node) ?? [])].includes(node)) found.push(component.sort());
    }
  };
  for (const node of edges.keys()) if (!index.has(node)) connect(node);
  return found;
}

/** Readable lines: each file cycle, and each folder cycle with the imports that close it. */
export function describeCycles(srcDir: string): { fileCycles: string[]; folderCycles: string[] } {
  const graph = importGraph(srcDir);
  const fileCycles = cycles(graph.files).map((c) => c.join(" ↔ "));
  const folderEdges = new Map([...graph.folders].map(([from, to]) => [from, [...to.keys()]]));
  const folderCycles = cycles(folderEdges).map((component) => {
    const within = component.flatMap((a) => component.filter((b) => graph.folders.get(a)?.has(b)).map((b) => graph.folders.get(a)!.get(b)!));
    return `${component.join(" ↔ ")} (${within.join("; ")})`;
  });
  return { fileCycles, folderCycles };
}

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const { fileCycles, folderCycles } = describeCycles(join(import.meta.dirname, "../src"));
  for (const line of fileCycles) console.log(`file cycle: ${line}`);
  for (const line of folderCycles) console.log(`folder cycle: ${line}`);
  process.exitCode = fileCycles.length + folderCycles.length > 0 ? 1 : 0;
}
