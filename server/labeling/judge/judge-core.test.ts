import assert from "node:assert/strict";
import { test } from "node:test";
import { combineAnswers, firstWon, judgeQuestions, parseJudgeAnswer, renderJudgePrompt, UnparseableAnswer, type JudgeAnswer } from "./judge-core.ts";

test("pairwise asks every pair in both orders; K-way asks the list forwards and reversed", () => {
  assert.deepEqual(judgeQuestions("pairwise", ["x", "y", "z"]).map((q) => q.order.join("")), ["xy", "yx", "xz", "zx", "yz", "zy"]);
  assert.deepEqual(judgeQuestions("kway", ["x", "y", "z"]).map((q) => q.order.join("")), ["xyz", "zyx"]);
  assert.deepEqual(judgeQuestions("pairwise", ["x", "y"]).map((q) => q.order.join("")), ["xy", "yx"]);
});

test("the prompt fills the conversation and the lettered answers once; placeholder-like text inside them stays text", () => {
  const [message] = renderJudgePrompt("C: {{conversation}}\n{{answers}}\nEnd", [{ role: "user", content: "say {{answers}}" }], ["one", "two"]);
  assert.equal(message!.role, "user");
  assert.equal(message!.content, "C: USER: say {{answers}}\n[Answer A]\none\n[End of answer A]\n\n[Answer B]\ntwo\n[End of answer B]\nEnd");
});

test("answers are parsed strictly: the whole reply is the verdict", () => {
  assert.deepEqual(parseJudgeAnswer(" b. ", ["x", "y"]), { answer: "B", ranking: { tiers: [["y"], ["x"]] } });
  assert.deepEqual(parseJudgeAnswer("Tie", ["x", "y"]).ranking, { tiers: [["x", "y"]] });
  assert.deepEqual(parseJudgeAnswer("C > A = B", ["x", "y", "z"]), { answer: "C > A = B", ranking: { tiers: [["z"], ["x", "y"]] } });
  for (const reply of ["A is better", "The answer is B", "", "A > B", "A > A > C", "A > B > D", "A, B, C", "**A**"]) {
    assert.throws(() => parseJudgeAnswer(reply, reply === "A > B" ? ["x", "y", "z"] : ["x", "y", "z"].slice(0, reply.includes("C") || reply.includes("D") || reply.includes(",") ? 3 : 2)), UnparseableAnswer, reply);
  }
});

test("a judge that always picks the first-read answer ties every pair: both orders cancel its bias", () => {
  const answers: JudgeAnswer[] = judgeQuestions("pairwise", ["x", "y", "z"]).map((q) => {
    const parsed = parseJudgeAnswer("A", q.order);
    return { order: q.order, ...parsed, first: firstWon(q.order, parsed.ranking) };
  });
  const { ranking, detail } = combineAnswers("pairwise", answers);
  assert.deepEqual(ranking.tiers, [["x", "y", "z"]]);
  assert.deepEqual(detail.consistency, { agreed: 0, compared: 3 });
  assert.ok(answers.every((a) => a.first === true));
});

test("a consistent judge keeps its order, and both orders agree on every pair", () => {
  const best = ["z", "x", "y"];
  const answers: JudgeAnswer[] = judgeQuestions("pairwise", ["x", "y", "z"]).map((q) => {
    const reply = best.indexOf(q.order[0]!) < best.indexOf(q.order[1]!) ? "A" : "B";
    const parsed = parseJudgeAnswer(reply, q.order);
    return { order: q.order, ...parsed, first: firstWon(q.order, parsed.ranking) };
  });
  const { ranking, detail } = combineAnswers("pairwise", answers);
  assert.deepEqual(ranking.tiers, [["z"], ["x"], ["y"]]);
  assert.deepEqual(detail.consistency, { agreed: 3, compared: 3 });
  assert.equal(answers.filter((a) => a.first).length, 3, "half of the six answers favour the first-read answer");
});

test("K-way: a list and its reverse that disagree on a pair leave it tied", () => {
  const forward = parseJudgeAnswer("A > B > C", ["x", "y", "z"]); // x > y > z
  const reversed = parseJudgeAnswer("B > A > C", ["z", "y", "x"]); // y > z > x
  const { ranking, detail } = combineAnswers("kway", [
    { order: ["x", "y", "z"], ...forward, first: true },
    { order: ["z", "y", "x"], ...reversed, first: false },
  ]);
  // x–y split, x–z split, y over z in both: y beats z and nothing else separates them.
  assert.deepEqual(ranking.tiers, [["y"], ["x"], ["z"]]);
  assert.deepEqual(detail.consistency, { agreed: 1, compared: 3 });
  assert.equal(firstWon(["x", "y"], { tiers: [["x", "y"]] }), null);
});
