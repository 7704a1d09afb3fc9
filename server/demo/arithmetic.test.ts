import assert from "node:assert/strict";
import { test } from "node:test";
import { arithmeticItems, askedExpression, goodAnswer, rankedAnswers, slipAnswer } from "./arithmetic.ts";
import { checkAnswer, checkerSpecSchema } from "../../trainer/contract/checker.ts";
import { finalAnswer } from "../../trainer/contract/conversation.ts";
import { evaluateExpression } from "../../trainer/tools/calculator.ts";

test("demo items are distinct, reproducible and correct", () => {
  const items = arithmeticItems(300, 7);
  assert.equal(new Set(items.map((i) => i.question)).size, 300);
  assert.deepEqual(arithmeticItems(300, 7), items);
  for (const item of items) {
    const [, x, op, y] = /^What is (\d+) (.) (\d+)\?$/.exec(item.question)!;
    const expected = op === "+" ? Number(x) + Number(y) : op === "−" ? Number(x) - Number(y) : Number(x) * Number(y);
    assert.equal(item.answer, expected, item.question);
    assert.ok(item.answer >= 0);
    // the call copies the question's expression, and the calculator computes the reference answer from it
    assert.equal(evaluateExpression(askedExpression(item)), String(item.answer), item.question);
  }
});

test("the four ranked answers: the checker passes the first two, and a slip's result is the calculator's own", () => {
  const item = { question: "What is 37 × 4?", expression: "37*4", answer: 148 };
  const spec = checkerSpecSchema.parse({ kind: "numeric" });
  const text = (a: ReturnType<typeof rankedAnswers>[number]) => (typeof a === "string" ? a : finalAnswer(a));
  assert.deepEqual(rankedAnswers(item).map((a) => checkAnswer(spec, text(a), { answer: 148 }).score), [1, 1, 0, 0]);
  assert.deepEqual(goodAnswer(item)[0]?.tool_calls?.[0]?.function.arguments, { expression: "37 × 4" });
  const slip = slipAnswer(item);
  assert.equal(slip[0]?.tool_calls?.[0]?.function.arguments["expression"], "37 × 5");
  assert.equal(slip[1]?.content, evaluateExpression("37 × 5"));
  assert.equal(slip[2]?.content, "The answer is 185.");
});
