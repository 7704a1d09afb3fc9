import assert from "node:assert/strict";
import { test } from "node:test";
import { rewardComparisonPairs } from "./reward-comparison.ts";

const jsonl = (rows: object[]) => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";

test("one pair per prompt both policies answered: the new policy's first non-empty sample against the previous one's", () => {
  const prompts = jsonl([{ prompt: [{ role: "user", content: "a" }] }, { prompt: [{ role: "user", content: "b" }] }, { prompt: [{ role: "user", content: "c" }] }]);
  const policy = jsonl([
    { line: 1, completion: "" }, { line: 1, completion: "A1" }, { line: 1, completion: "A2" },
    { line: 2, completion: "B1" },
    { line: 3, completion: "C1" },
  ]);
  const baseline = jsonl([{ line: 1, completion: "a0" }, { line: 3, completion: "  " }]);
  const pairs = rewardComparisonPairs(prompts, policy, baseline).trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(pairs, [{ prompt: [{ role: "user", content: "a" }], chosen: "A1", rejected: "a0" }], "prompt 2 has no baseline answer, prompt 3 only an empty one");
  assert.equal(rewardComparisonPairs(prompts, policy, ""), "", "no baseline: no pairs");
});
