/**
 * Node 20's test runner takes no globs: this finds every *.test.ts under the given folders
 * and runs them with `node --test`. Extra flags go before the folders:
 *   tsx tests/support/node-test.ts [--test-concurrency=1] tests/unit trainer
 */
import { spawnSync } from "node:child_process";
import fs from "node:fs";
import path from "node:path";

const args = process.argv.slice(2);
const flags = args.filter((arg) => arg.startsWith("--"));
const roots = args.filter((arg) => !arg.startsWith("--"));
const files = roots
  .flatMap((root) => {
    if (!fs.existsSync(root)) return [];
    if (fs.statSync(root).isFile()) return [root];
    return fs.readdirSync(root, { recursive: true, encoding: "utf8" }).map((f) => path.join(root, f));
  })
  .filter((file) => file.endsWith(".test.ts") && !file.includes("node_modules"))
  .sort();
if (files.length === 0) {
  console.error(`no *.test.ts files under ${roots.join(", ")}`);
  process.exit(1);
}
const result = spawnSync(process.execPath, ["--import", "tsx", "--test", "--test-reporter=spec", ...flags, ...files], { stdio: "inherit" });
process.exit(result.status ?? 1);
