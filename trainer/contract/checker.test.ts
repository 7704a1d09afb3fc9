import { test } from "node:test";
import assert from "node:assert/strict";
import { checkAnswer, checkerSpecSchema, digitAgreement, normalizeAnswer, statedNumber, tallyChecks, type CheckerSpecInput } from "./checker.ts";

const check = (spec: CheckerSpecInput, answer: string, metadata: Record<string, unknown> | null) => checkAnswer(checkerSpecSchema.parse(spec), answer, metadata);

test("statedNumber reads 'the answer is N' first, else the last number; commas, signs, decimals", () => {
  assert.equal(statedNumber("7 + 5 is 12. The answer is 12."), 12);
  assert.equal(statedNumber("The answer is 1,234.5 and not 3"), 1234.5);
  assert.equal(statedNumber("first 3 then -41"), -41);
  assert.equal(statedNumber("Answer: 2e3"), 2000);
  assert.equal(statedNumber("no digits here"), null);
});

test("numeric: exact by default, absolute and relative tolerance, string references", () => {
  assert.deepEqual(check({ kind: "numeric" }, "The answer is 148.", { answer: 148 }), { score: 1 });
  assert.deepEqual(check({ kind: "numeric" }, "The answer is 149.", { answer: 148 }), { score: 0 });
  assert.deepEqual(check({ kind: "numeric", tolerance: 1 }, "The answer is 149.", { answer: 148 }), { score: 1 });
  assert.deepEqual(check({ kind: "numeric", relativeTolerance: 0.01 }, "about 99.5", { answer: "100" }), { score: 1 });
  assert.deepEqual(check({ kind: "numeric", relativeTolerance: 0.01 }, "about 98", { answer: "100" }), { score: 0 });
  assert.deepEqual(check({ kind: "numeric" }, "0.1 + 0.2 = 0.30000000000000004", { answer: 0.30000000000000004 }), { score: 1 });
});

test("an unreadable answer is wrong with its reason; a prompt without a reference is not scored", () => {
  assert.deepEqual(check({ kind: "numeric" }, "I do not know", { answer: 3 }), { score: 0, reason: "no_number" });
  assert.deepEqual(check({ kind: "numeric" }, "   ", { answer: 3 }), { score: 0, reason: "empty_answer" });
  assert.deepEqual(check({ kind: "numeric" }, "3", {}), { score: null, reason: "no_reference" });
  assert.deepEqual(check({ kind: "numeric" }, "3", null), { score: null, reason: "no_reference" });
  assert.deepEqual(check({ kind: "numeric" }, "3", { answer: "three" }), { score: null, reason: "bad_reference" });
  assert.deepEqual(check({ kind: "numeric", field: "solution" }, "3", { answer: 3, solution: 3 }), { score: 1 });
});

test("exact: normalises case, whitespace, quotes and final punctuation", () => {
  assert.equal(normalizeAnswer('  "Paris."  '), "paris");
  assert.deepEqual(check({ kind: "exact" }, "  PARIS! ", { answer: "Paris" }), { score: 1 });
  assert.deepEqual(check({ kind: "exact" }, "Paris, France", { answer: "Paris" }), { score: 0 });
  assert.deepEqual(check({ kind: "exact", caseSensitive: true }, "paris", { answer: "Paris" }), { score: 0 });
  assert.deepEqual(check({ kind: "exact" }, "true", { answer: true }), { score: 1 });
});

test("regex: a fixed pattern or one per prompt; a bad per-prompt pattern is not scored", () => {
  assert.deepEqual(check({ kind: "regex", pattern: "^yes\\b" }, "Yes, it is.", {}), { score: 1 });
  assert.deepEqual(check({ kind: "regex", pattern: "^yes\\b" }, "No.", {}), { score: 0 });
  assert.deepEqual(check({ kind: "regex", field: "accept" }, "It is blue", { accept: "blue|azure" }), { score: 1 });
  assert.deepEqual(check({ kind: "regex", field: "accept" }, "It is blue", { accept: "(" }), { score: null, reason: "bad_reference" });
  assert.throws(() => checkerSpecSchema.parse({ kind: "regex", pattern: "(" }), /valid regular expression/);
  assert.throws(() => checkerSpecSchema.parse({ kind: "regex" }), /either `pattern`/);
  assert.throws(() => checkerSpecSchema.parse({ kind: "regex", pattern: "a", field: "b" }), /either `pattern`/);
});

test("json: the first JSON object in the answer, the value at a dotted path", () => {
  const spec = { kind: "json" as const, path: "result.value" };
  assert.deepEqual(check(spec, 'Here: ```json\n{"result": {"value": 42}}\n```', { answer: 42 }), { score: 1 });
  assert.deepEqual(check(spec, 'not {json} but then {"result": {"value": "42"}}', { answer: 42 }), { score: 1 });
  assert.deepEqual(check(spec, '{"result": {"value": 41}}', { answer: 42 }), { score: 0 });
  assert.deepEqual(check(spec, '{"result": {}}', { answer: 42 }), { score: 0, reason: "no_json_field" });
  assert.deepEqual(check(spec, "no braces", { answer: 42 }), { score: 0, reason: "no_json" });
  assert.deepEqual(check({ kind: "json", path: "items.1" }, '{"items": ["a", "B "]}', { answer: "b" }), { score: 1 });
});

test("specs are validated with the field named", () => {
  assert.throws(() => checkerSpecSchema.parse({ kind: "numeric", field: "a b" }), /metadata key/);
  assert.throws(() => checkerSpecSchema.parse({ kind: "numeric", tolerance: -1 }));
  assert.throws(() => checkerSpecSchema.parse({ kind: "json", path: "a..b" }), /dotted path/);
  assert.throws(() => checkerSpecSchema.parse({ kind: "sql" }));
});

test("tallyChecks counts scored answers, correct ones and each reason", () => {
  const tally = tallyChecks([{ score: 1 }, { score: 0, reason: "no_number" }, { score: 0 }, { score: null, reason: "no_reference" }]);
  assert.deepEqual(tally, { scored: 3, correct: 1, accuracy: 1 / 3, reasons: { no_number: 1, no_reference: 1 } });
  assert.equal(tallyChecks([]).accuracy, null);
});

test("digitAgreement: the share of places (and the sign) that agree, aligned on the decimal point", () => {
  assert.equal(digitAgreement(1776, 1776), 1);
  assert.equal(digitAgreement(1767, 1776), 0.5);
  assert.equal(digitAgreement(776, 1776), 0.75); // a place only the reference has is a miss
  assert.equal(digitAgreement(17760, 1776), 0.2); // ␣1776 against 17760: only the hundreds agree
  assert.equal(digitAgreement(-12, 12), 2 / 3); // the sign counts as a place when either is negative
  assert.equal(digitAgreement(-13, -12), 2 / 3);
  assert.equal(digitAgreement(2.5, 2.25), 1 / 3); // 2.5␣ against 2.25: the units agree, the tenths and hundredths do not
  assert.equal(digitAgreement(2.25, 2.24), 2 / 3);
  assert.equal(digitAgreement(0, 7), 0);
  assert.equal(digitAgreement(1e21, 2e21), 0); // beyond plain notation: equal or nothing
  assert.equal(digitAgreement(1e21, 1e21), 1);
  // symmetric
  for (const [a, b] of [[1767, 1776], [776, 1776], [-12, 12], [2.5, 2.25]] as const) assert.equal(digitAgreement(a, b), digitAgreement(b, a));
});
