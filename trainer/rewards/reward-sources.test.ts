import { test } from "node:test";
import assert from "node:assert/strict";
import { checkerSpecSchema } from "../contract/checker.ts";
import { rewardSources, rewardSpecSchema } from "../contract/reward-spec.ts";
import { finalAnswerText, lastInsertedText } from "./answer-text.ts";
import { checkerReward, digitsReward, formatReward, lengthReward, NonFiniteRewardError, scoreRewards, statesToolResult, toolResultReward, type RewardSample, type RewardSource } from "./reward-sources.ts";

const sample = (answer: string, metadata: Record<string, unknown>, policyLength = 4): RewardSample => ({ prompt: [1], completion: [2, 3], metadata, answer, policyLength });

test("each source on its own and Σ w·r: checker over metadata, format regex, length toward a target", async () => {
  const checker = checkerReward(checkerSpecSchema.parse({ kind: "numeric" }), 2);
  const samples = [
    sample("The answer is 12.", { answer: 12 }, 8),
    sample("I do not know", { answer: 12 }, 4),
    sample("13", { answer: 12 }, 12),
    sample("12", {}, 8), // no reference: not scored by the checker
  ];
  const scored = await scoreRewards([checker, formatReward("^The answer is", "", 0.5), lengthReward(8, 1)], samples);
  // checker 1, 0 (no_number), 0, null; format 1, 0, 0, 0; length 0, −0.5, −0.5, 0
  assert.deepEqual(scored.perSource.get("checker"), [1, 0, 0, null]);
  assert.deepEqual(scored.perSource.get("format"), [1, 0, 0, 0]);
  assert.deepEqual(scored.perSource.get("length"), [0, -0.5, -0.5, 0]);
  assert.deepEqual(Array.from(scored.total), [2 + 0.5, -0.5, -0.5, 0]);
  assert.equal(scored.metrics["checker/unscored"], 1);
  assert.equal(scored.metrics["checker/unreadable/no_number"], 1);
  assert.equal(scored.metrics["rewards/checker/mean"], 1 / 3);
  assert.equal(scored.metrics["rewards/format/mean"], 0.25);
  assert.equal(scored.metrics["reward"], (2.5 - 1) / 4);
  assert.ok(Math.abs((scored.metrics["rewards/checker/std"] ?? NaN) - Math.sqrt(1 / 3)) < 1e-12);
});

test("an answer no source scored is NaN (no signal); a NaN or infinite score stops with the source named", async () => {
  const only = await scoreRewards([checkerReward(checkerSpecSchema.parse({ kind: "exact" }), 1)], [sample("x", {}), sample("x", { answer: "x" })]);
  assert.ok(Number.isNaN(only.total[0]));
  assert.equal(only.total[1], 1);
  const broken: RewardSource = { name: "reward_model", weight: 1, score: () => ({ values: [0.5, NaN] }) };
  await assert.rejects(scoreRewards([broken], [sample("a", {}), sample("b", {})]), (e: unknown) => e instanceof NonFiniteRewardError && /reward_model on sample 2 of 2/.test(e.message));
  const infinite: RewardSource = { name: "reward_model", weight: 1, score: () => ({ values: [Infinity] }) };
  await assert.rejects(scoreRewards([infinite], [sample("a", {})]), /non-finite reward Infinity/);
});

test("reward spec: sources in order with default weights; no source, a stray weight or a bad pattern is refused with the field named", () => {
  const spec = rewardSpecSchema.parse({ checker: { kind: "numeric" }, length: { target: 20 }, weights: { length: 0.1 } });
  assert.deepEqual(rewardSources(spec, true), [{ name: "checker", weight: 1 }, { name: "reward_model", weight: 1 }, { name: "length", weight: 0.1 }]);
  assert.throws(() => rewardSources(rewardSpecSchema.parse({}), false), /no reward source/);
  assert.throws(() => rewardSources(rewardSpecSchema.parse({ checker: { kind: "numeric" }, weights: { rewardModel: 2 } }), false), /reward\.weights\.rewardModel/);
  const stray = rewardSpecSchema.safeParse({ checker: { kind: "numeric" }, weights: { format: 1 } });
  assert.equal(stray.success, false);
  assert.deepEqual(stray.error?.issues[0]?.path, ["weights", "format"]);
  const bad = rewardSpecSchema.safeParse({ format: { pattern: "(" } });
  assert.deepEqual(bad.error?.issues[0]?.path, ["format", "pattern"]);
});

test("final answer: after the last inserted (tool) token, cut at the end token; without a mask, the whole answer", async () => {
  const chars: Record<number, string> = { 10: "1", 11: "2", 12: "=", 13: "a", 14: " " };
  const decode = (ids: number[]): string => ids.map((i) => chars[i] ?? "").join("");
  const END = 1;
  // policy: "1 a" <call>, inserted: "2" (tool result), policy: "12" END, trailing tokens ignored
  const completion = [10, 14, 13, 5, 11, 12, 10, 11, END, 13];
  const mask = [1, 1, 1, 1, 0, 0, 1, 1, 1, 1];
  assert.equal(await finalAnswerText(completion, mask, decode, [END]), "12");
  assert.equal(await finalAnswerText(completion, completion.map(() => 1), decode, [END]), "1 a2=12");
  assert.equal(await finalAnswerText([END], [1], decode, [END]), "");
});

test("tool_result: 1 when the answer states the last tool result, 0 when it states another, not scored without a (working) call", async () => {
  // the bench's commonest slip: the call returns 12 and the answer says 85
  assert.equal(statesToolResult("The answer is 85.", "12"), 0);
  assert.equal(statesToolResult("The answer is 12.", "12"), 1);
  assert.equal(statesToolResult("12", " 12 "), 1);
  assert.equal(statesToolResult("It is 1234.5 in all", "1,234.5"), 1);
  assert.equal(statesToolResult("The answer is -3.", "-3"), 1);
  assert.equal(statesToolResult("I do not know", "12"), 0); // no number stated
  assert.equal(statesToolResult("The capital is Paris.", "paris"), 1); // a text result: contained, normalised
  assert.equal(statesToolResult("The capital is Lyon.", "Paris"), 0);
  assert.equal(statesToolResult("The answer is 12.", null), null); // no call
  assert.equal(statesToolResult("anything", "error: division by zero"), null); // a failed call
  const withResult = (answer: string, toolResult: string | null): RewardSample => ({ ...sample(answer, { answer: 12 }), toolResult });
  const checker = checkerReward(checkerSpecSchema.parse({ kind: "numeric" }), 1);
  const scored = await scoreRewards([checker, toolResultReward(0.5)], [
    withResult("The answer is 12.", "12"), // right, and read from the tool: 1 + 0.5
    withResult("The answer is 85.", "12"), // right call, miscopied: 0
    withResult("The answer is 7.", "7"), // wrong call, copied: 0.5 (credit for reading the tool)
    withResult("The answer is 12.", null), // from memory: the checker alone
  ]);
  assert.deepEqual(scored.perSource.get("tool_result"), [1, 0, 1, null]);
  assert.deepEqual(Array.from(scored.total), [1.5, 0, 0.5, 1]);
  assert.equal(scored.metrics["rewards/tool_result/mean"], 2 / 3);
});

test("reward spec: toolResult is a source with its weight; a weight without it is refused", () => {
  const spec = rewardSpecSchema.parse({ checker: { kind: "numeric" }, toolResult: {}, weights: { toolResult: 0.5 } });
  assert.deepEqual(rewardSources(spec, false), [{ name: "checker", weight: 1 }, { name: "tool_result", weight: 0.5 }]);
  const stray = rewardSpecSchema.safeParse({ checker: { kind: "numeric" }, weights: { toolResult: 1 } });
  assert.ok(!stray.success && stray.error.issues.some((i) => i.path.join(".") === "weights.toolResult"));
  assert.deepEqual(rewardSources(rewardSpecSchema.parse({ toolResult: {} }), false), [{ name: "tool_result", weight: 1 }]);
});

test("digits: partial credit per digit of the stated number against the reference; 0 without a number, null without the field", async () => {
  const checker = checkerReward(checkerSpecSchema.parse({ kind: "numeric" }), 1);
  const scored = await scoreRewards([checker, digitsReward("answer", 0.5)], [
    sample("The answer is 1776.", { answer: 1776 }), // right: 1 + 0.5
    sample("The answer is 1767.", { answer: "1776" }), // two of four places: 0 + 0.5 × 0.5
    sample("The answer is 776.", { answer: 1776 }), // the thousands missing: 0.75
    sample("I do not know", { answer: 1776 }), // no number: 0
    sample("1776", { total: 1776 }), // no reference in the field: not scored by either source
  ]);
  assert.deepEqual(scored.perSource.get("digits"), [1, 0.5, 0.75, 0, null]);
  assert.deepEqual(Array.from(scored.total).slice(0, 4), [1.5, 0.25, 0.375, 0]);
  assert.ok(Number.isNaN(scored.total[4]));
  assert.equal(scored.metrics["rewards/digits/mean"], 2.25 / 4);
  // its own field, independent of the checker's
  const other = await digitsReward("total", 1).score([sample("1706", { total: 1776 })]);
  assert.deepEqual(other.values, [0.75]);
});

test("reward spec: digits is a source with its field and weight; a weight without it is refused", () => {
  const spec = rewardSpecSchema.parse({ checker: { kind: "numeric" }, digits: {}, weights: { digits: 0.5 } });
  assert.equal(spec.digits?.field, "answer");
  assert.deepEqual(rewardSources(spec, false), [{ name: "checker", weight: 1 }, { name: "digits", weight: 0.5 }]);
  const stray = rewardSpecSchema.safeParse({ checker: { kind: "numeric" }, weights: { digits: 1 } });
  assert.ok(!stray.success && stray.error.issues.some((i) => i.path.join(".") === "weights.digits"));
  const badField = rewardSpecSchema.safeParse({ digits: { field: "no spaces" } });
  assert.ok(!badField.success && badField.error.issues.some((i) => i.path.join(".") === "digits.field"));
});

test("the last tool result: the last run of inserted tokens, decoded and trimmed; null without one", async () => {
  const decode = (ids: number[]) => ids.map((i) => String.fromCharCode(96 + i)).join("");
  // policy a b, inserted c d (result 1), policy e, inserted f g (result 2), policy h
  assert.equal(await lastInsertedText([1, 2, 3, 4, 5, 6, 7, 8], [1, 1, 0, 0, 1, 0, 0, 1], decode), "fg");
  assert.equal(await lastInsertedText([1, 2, 3], [1, 1, 1], decode), null);
  assert.equal(await lastInsertedText([3, 4], [0, 0], decode), "cd");
});
