// ESLint: the recommended rules, type-aware for the TypeScript in tsconfig.json. Formatting is Prettier's
// (.prettierrc.json); `npm run lint` runs both checks, `npm run format` writes Prettier's formatting.
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  {
    ignores: [
      "**/node_modules/",
      "dist/",
      ".cache/",
      "bench/results/",
      "demo/data/",
      "examples/*/.next/",
      "examples/*/build/",
      "examples/*/.react-router/",
      "examples/*/next-env.d.ts",
    ],
  },
  { linterOptions: { reportUnusedDisableDirectives: "error" } },
  js.configs.recommended,
  tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      globals: globals.node,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      // node:test's describe/it/test return promises the runner itself awaits; anything else must be awaited or `void`ed.
      "@typescript-eslint/no-floating-promises": [
        "error",
        {
          allowForKnownSafeCalls: [
            { from: "package", package: "node:test", name: ["describe", "it", "test", "suite", "before", "after", "beforeEach", "afterEach"] },
          ],
        },
      ],
      // `_`-prefixed names are kept on purpose: Express knows an error handler by its four parameters, a rest sibling drops a key.
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_", caughtErrors: "none", ignoreRestSiblings: true }],
      // The stores and the tests drive node-redis 4/5, ioredis and pg clients of several versions through one deliberate `any`
      // each, and tests read JSON bodies: the no-unsafe-* family would flag every use of those values, not a new risk.
      // no-explicit-any: the same duck-typed clients and test doubles; tsc's strict mode checks everything else.
      "@typescript-eslint/no-explicit-any": "off",
      "@typescript-eslint/no-unsafe-argument": "off",
      "@typescript-eslint/no-unsafe-assignment": "off",
      "@typescript-eslint/no-unsafe-call": "off",
      "@typescript-eslint/no-unsafe-member-access": "off",
      "@typescript-eslint/no-unsafe-return": "off",
      // A store method is async even when its body is synchronous (memory, SQLite), so that a failure is a rejection, not a throw.
      "@typescript-eslint/require-await": "off",
      // Validation errors echo whatever value the caller passed (`got ${String(value)}`), objects included.
      "@typescript-eslint/no-base-to-string": "off",
      // A caught `unknown` is passed on as it came (Promise.reject(error)); wrapping it would hide the store's own error.
      "@typescript-eslint/prefer-promise-reject-errors": ["error", { allowThrowingAny: true, allowThrowingUnknown: true }],
      // Header, cookie and user-agent validation looks for control characters on purpose.
      "no-control-regex": "off",
      // Tests hand methods of node:test's mock and of framework objects around as values; they never use `this`.
      "@typescript-eslint/unbound-method": "off",
      "no-empty": ["error", { allowEmptyCatch: true }],
      // It calls casts such as `as Session<Data>` unnecessary where tsc needs them (its --fix broke the type-check).
      "@typescript-eslint/no-unnecessary-type-assertion": "off",
    },
  },
  // The response wrappers forward whatever arguments Node passed to write/end/writeHead, unchanged, without an array per call.
  { files: ["src/http/watch.ts"], rules: { "prefer-rest-params": "off" } },
  // Plain JavaScript (bench and example drivers, this file) is outside tsconfig.json: the rules that need no types.
  { files: ["**/*.js", "**/*.mjs"], extends: [tseslint.configs.disableTypeChecked] },
  // The examples are apps with their own install (npm run test:nextjs / test:react-router): without their node_modules
  // there are no types to check against, so they get the rules that need none.
  { files: ["examples/**"], extends: [tseslint.configs.disableTypeChecked] },
);
