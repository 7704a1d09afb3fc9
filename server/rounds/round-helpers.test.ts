import assert from "node:assert/strict";
import { test } from "node:test";
import { roundSpecSchema } from "../../trainer/contract/round.ts";
import { idRanges, storedSpec } from "./rounds.server.ts";
import { distinctCompletions, parseSamples, pickCompletions, spareSamples } from "./samples.server.ts";

const sample = (completion: string) => ({ line: 1, completion, tokens: 3, finished: true, sampling: { seed: 1 } });

test("a data snapshot stores its submission ids as exact inclusive ranges", () => {
  assert.deepEqual(idRanges([]), []);
  assert.deepEqual(idRanges([4]), [[4, 4]]);
  assert.deepEqual(idRanges([1, 2, 3, 7, 9, 10]), [[1, 3], [7, 7], [9, 10]]);
});

test("sampled completions: empty ones and near copies of a kept one are dropped, in order", () => {
  const answer = "The calculator says 17 times 3 is 51, so the answer is 51.";
  const { kept, empty, nearDuplicate } = distinctCompletions(
    [sample(answer), sample("   "), sample(answer.toUpperCase()), sample(answer.replace("51.", "51!")), sample("It is 41.")],
    0.8,
  );
  assert.deepEqual(kept.map((k) => k.completion), [answer, "It is 41."]);
  assert.equal(empty, 1);
  assert.equal(nearDuplicate, 2);
});

test("resampling: K + spare are drawn, and spares stand in for dropped draws so a task still gets K distinct completions", () => {
  assert.equal(spareSamples(4), 2);
  assert.equal(spareSamples(2), 1);
  const a = "Three times seven is 21, so the answer is 21.";
  // K = 4 drawn as a, (copy of a), "", b, then spares c, d.
  const drawn = [sample(a), sample(a + " "), sample(""), sample("It is 24."), sample("Maybe 12."), sample("I get 21 too.")];
  const picked = pickCompletions(drawn, 4, 0.8);
  assert.deepEqual(picked.kept.map((s) => s.completion), [a, "It is 24.", "Maybe 12.", "I get 21 too."]);
  assert.equal(picked.resampled, 2, "both spares took a dropped draw's place");
  assert.equal(picked.nearDuplicate, 1);
  assert.equal(picked.empty, 1);
  const clean = pickCompletions([sample("w"), sample("x y"), sample("z z z"), sample("q r s t"), sample("spare one"), sample("spare one")], 4, 0.8);
  assert.equal(clean.resampled, 0, "no drops: the spares are not used");
  assert.equal(clean.kept.length, 4);
  assert.equal(clean.nearDuplicate, 0, "two identical spares that were never needed are no loss");
});

test("sample lines lose every NUL a byte-level model emitted, in tool-call arguments too (jsonb refuses \\u0000)", () => {
  const line = {
    line: 1, completion: "The answer is 4.\u0000", tokens: 9, finished: true, sampling: {},
    messages: [
      { role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: "invalid_tool_call", arguments: { text: "2\u0000+2" } } }] },
      { role: "tool", name: "invalid_tool_call", content: "error: unknown tool" },
      { role: "assistant", content: "The answer is 4.\u0000" },
    ],
  };
  const [sample] = parseSamples(JSON.stringify(line), "samples.jsonl", 1).get(1)!;
  assert.equal(sample!.completion, "The answer is 4.");
  assert.ok(!JSON.stringify(sample!.messages).includes("\\u0000"));
  assert.equal(sample!.messages![0]!.tool_calls![0]!.function.arguments["text"], "2+2");
});

test("a PPO spec stored before decision 0066 keeps its adaptive β on retry; newer and targetless specs read as they are", () => {
  const read = (spec: object) => roundSpecSchema.parse(storedSpec({ name: "R", path: "reward-ppo", base: { modelId: "1" }, ...spec })).ppo;
  // before 0066 a PPO klTarget steered β (there was no early stop); stored specs then had no klControl
  assert.deepEqual([read({ ppo: { klTarget: 3 } }).klControl, read({ ppo: { klTarget: 3 } }).klTarget], ["adaptive", 3]);
  assert.deepEqual([read({ ppo: { klTarget: null } }).klControl, read({ ppo: { klTarget: null } }).klTarget], ["early_stop", null], "no target: nothing to steer");
  assert.equal(read({ ppo: { klTarget: 3, klControl: "early_stop" } }).klControl, "early_stop", "a spec written since keeps its control");
  assert.deepEqual([read({}).klControl, read({}).klTarget], ["early_stop", 6], "a new spec takes the defaults");
});
