// Lint rules that catch real mistakes; formatting is left to the editor.
import js from "@eslint/js";
import globals from "globals";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["build/", ".react-router/", "node_modules/", ".tandem/", "test-results/", "playwright-report/", "public/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
    rules: {
      "no-console": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
    },
  },
  {
    // The trainer runs on its own machine: it must never reach into the web app or the server.
    files: ["trainer/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ group: ["**/app/**", "**/server/**", "~/*"], message: "trainer/ never imports app/ or server/" }] }],
    },
  },
  {
    // Web code may use only the trainer's contract (zod schemas), never its internals — and the
    // built-in tools (pure TypeScript), so a labeler's tool result is the sampler's (decision 0019).
    files: ["app/**/*.{ts,tsx}", "server/**/*.ts"],
    rules: {
      "no-restricted-imports": ["error", { patterns: [{ group: ["**/trainer/*", "!**/trainer/contract", "!**/trainer/contract/*", "!**/trainer/tools", "!**/trainer/tools/*"], message: "web code imports only trainer/contract/ (and trainer/tools/)" }] }],
    },
  },
  {
    // CLIs and scripts talk to a terminal.
    files: ["server/cli/**/*.ts", "tests/support/**/*.ts", "bench/**/*.ts", "trainer/cli.ts", "trainer/cli/**/*.ts"],
    rules: { "no-console": "off" },
  },
);
