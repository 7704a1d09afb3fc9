import assert from "node:assert/strict";
import { test } from "node:test";
import { arithmeticItems, checkAnswer, goodAnswer, rankedAnswers } from "./arithmetic.ts";

test("demo items are distinct, reproducible and correct", () => {
  const items = arithmeticItems(300, 7);
  assert.equal(new Set(items.map((i) => i.question)).size, 300);
  assert.deepEqual(arithmeticItems(300, 7), items);
  for (const item of items) {
    const [, x, op, y] = /^What is (\d+) (.) (\d+)\?$/.exec(item.question)!;
    const expected = op === "+" ? Number(x) + Number(y) : op === "−" ? Number(x) - Number(y) : Number(x) * Number(y);
    assert.equal(item.answer, expected, item.question);
    assert.ok(item.answer >= 0);
  }
});

test("the checker reads the stated result and scores it against the reference", () => {
  const item = { question: "What is 37 × 4?", expression: "37*4", answer: 148 };
  assert.equal(checkAnswer(goodAnswer(item), 148), 1);
  assert.equal(checkAnswer("The answer is 148.", 148), 1);
  assert.equal(checkAnswer("<<37*4=150>> The answer is 150.", 148), 0);
  assert.equal(checkAnswer("It is 148, I think", 148), 1, "no phrase: the last number counts");
  assert.equal(checkAnswer("no idea", 148), 0);
  assert.equal(checkAnswer("The answer is 148.", undefined), null, "no reference, no score");
  const scores = rankedAnswers(item).map((a) => checkAnswer(a, 148));
  assert.deepEqual(scores, [1, 1, 0, 0]);
});
