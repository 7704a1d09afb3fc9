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

test("a tool-using sample is judged on its whole transcript; a plain one on its text", () => {
  const prompts = jsonl([{ prompt: [{ role: "user", content: "37*4?" }] }]);
  const messages = [
    { role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: "calculator", arguments: { expression: "37*4" } } }] },
    { role: "tool", name: "calculator", content: "148" },
    { role: "assistant", content: "148." },
  ];
  const policy = jsonl([{ line: 1, completion: "148.", messages, toolCalls: 1 }]);
  const baseline = jsonl([{ line: 1, completion: "140.", messages: [{ role: "assistant", content: "140." }], toolCalls: 0 }]);
  const [pair] = rewardComparisonPairs(prompts, policy, baseline).trim().split("\n").map((l) => JSON.parse(l) as Record<string, unknown>);
  assert.deepEqual(pair, { prompt: [{ role: "user", content: "37*4?" }], chosen: messages, rejected: "140." });
});
