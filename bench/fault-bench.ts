// Fault-injection bench: the suite in tests/fault-injection at scale (issue 12, item 7).
// Usage: tsx bench/fault-bench.ts [--labelers 200] [--prompts 1000]   (npm run bench:faults)
// Concurrent labelers claim and submit over HTTP against `npm start` while the server, PostgreSQL
// and the trainer are killed with SIGKILL and brought back; it prints acknowledged submissions,
// idempotent retries and stored submissions, and fails if any acknowledged submission is missing
// or doubled, a task exceeds its overlap, or a process is left behind. Wall-clock on a shared
// machine: the figures that matter are the counts, not the time.
import { spawnSync } from "node:child_process";
import path from "node:path";
import { parseArgs } from "node:util";

const { values } = parseArgs({ options: { labelers: { type: "string", default: "200" }, prompts: { type: "string", default: "1000" } } });
const result = spawnSync(
  path.resolve("node_modules/.bin/tsx"),
  ["tests/support/node-test.ts", "tests/fault-injection/fault-injection.test.ts"],
  { stdio: "inherit", env: { ...process.env, FAULT_LABELERS: values.labelers, FAULT_PROMPTS: values.prompts, FAULT_TIMEOUT_MS: "1800000" } },
);
process.exit(result.status ?? 1);
