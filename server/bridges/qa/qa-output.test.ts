import assert from "node:assert/strict";
import { test } from "node:test";
import { parseQaOutput } from "./qa-output.ts";

const pairs = [
  { question: "What is the boiling point of water at sea level?", answer: "100 °C." },
  { question: "Who wrote Hamlet?", answer: "William Shakespeare." },
];

test("a bare JSON array", () => {
  assert.deepEqual(parseQaOutput(JSON.stringify(pairs), 5), { ok: true, pairs, format: "json", skipped: [] });
});

test("JSON inside a ```json fence with chatter around it, and {pairs: [...]} objects", () => {
  const fenced = `Sure! Here are the pairs:\n\n\`\`\`json\n${JSON.stringify(pairs, null, 2)}\n\`\`\`\nHope this helps.`;
  assert.deepEqual(parseQaOutput(fenced, 5), { ok: true, pairs, format: "json", skipped: [] });
  assert.deepEqual(parseQaOutput(`Here: ${JSON.stringify({ pairs })}`, 5), { ok: true, pairs, format: "json", skipped: [] });
  assert.deepEqual(parseQaOutput(JSON.stringify({ Q: "x?", A: "y" }), 5), { ok: true, pairs: [{ question: "x?", answer: "y" }], format: "json", skipped: [] });
});

test("Q:/A: blocks, numbered and multi-line", () => {
  const text = "Q1: What is 2 + 2?\nA1: 4.\n\n**Question 2:** Name a primary colour\nthat is warm.\nAnswer: Red.\nIt is warm.";
  const parsed = parseQaOutput(text, 5);
  assert.deepEqual(parsed, {
    ok: true,
    pairs: [
      { question: "What is 2 + 2?", answer: "4." },
      { question: "Name a primary colour\nthat is warm.", answer: "Red.\nIt is warm." },
    ],
    format: "qa-blocks",
    skipped: [],
  });
});

test("bad items are skipped with a reason; more than asked for are cut; duplicates dropped", () => {
  const items = [pairs[0], { question: "", answer: "x" }, { question: "No answer?" }, "text", { question: "who wrote hamlet?  ", answer: "dup" }, pairs[1], { question: "Extra?", answer: "more" }];
  const parsed = parseQaOutput(JSON.stringify(items), 2);
  assert.equal(parsed.ok, true);
  if (!parsed.ok) return;
  assert.deepEqual(parsed.pairs, [pairs[0], { question: "who wrote hamlet?", answer: "dup" }]);
  assert.deepEqual(parsed.skipped, ["pair 2: no question", "pair 3: no answer", "pair 4: not an object", "pair 6: the same question again", "pair 7: more pairs than the 2 asked for"]);
});

test("malformed output is an error value, never an exception", () => {
  for (const output of ["", "   ", "I cannot help with that.", "[{\"question\": \"unterminated", "{\"foo\": 1}", "[]", "[1, 2]", "null", "42"]) {
    const parsed = parseQaOutput(output, 3);
    assert.equal(parsed.ok, false, output);
    if (!parsed.ok) assert.ok(parsed.error.length > 0);
  }
  const refused = parseQaOutput("I cannot help with that.", 3);
  assert.deepEqual(refused, { ok: false, error: 'The model\'s answer is neither a JSON list of pairs nor "Q: … A: …" blocks: "I cannot help with that."' });
});
