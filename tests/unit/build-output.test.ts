import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import path from "node:path";
import { test } from "node:test";

// React Router's helper Vite servers made Vite 8 print "The `envFile` option is deprecated…"
// for each of them (three lines per typegen, nine per build, at every `npm start` that built).
test("the UI tooling does not print Vite's envFile deprecation (vite.config.ts filters it)", () => {
  const result = spawnSync(path.resolve("node_modules/.bin/react-router"), ["typegen"], { encoding: "utf8" });
  assert.equal(result.status, 0, result.stderr);
  assert.doesNotMatch(result.stdout + result.stderr, /envFile/);
});
