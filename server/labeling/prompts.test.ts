import assert from "node:assert/strict";
import { test } from "node:test";
import { goldRanking } from "./prompts.server.ts";

test("goldRanking: rank numbers become tiers of completion ids, best first; equal numbers tie", () => {
  assert.deepEqual(goldRanking(["10", "11", "12", "13"], [3, 1, 3, 2]), { tiers: [["11"], ["13"], ["10", "12"]] });
});

test("goldRanking: only the completions the task shows are ranked", () => {
  assert.deepEqual(goldRanking(["10", "11"], [2, 1, 3]), { tiers: [["11"], ["10"]] });
});
