import assert from "node:assert/strict";
import { test } from "node:test";
import { MAX_COMPLETION_CHARS, MAX_CONTENT_CHARS, MAX_MESSAGES, normalizeImportRecord, type ImportIssue, type ImportRecord } from "./import-record.ts";

function ok(raw: unknown): ImportRecord {
  const outcome = normalizeImportRecord(raw, 7);
  if (!outcome.ok) assert.fail(`expected a record, got: ${outcome.issue.reason}`);
  return outcome.record;
}

function rejected(raw: unknown): ImportIssue {
  const outcome = normalizeImportRecord(raw, 7);
  if (outcome.ok) assert.fail(`expected an issue for ${JSON.stringify(raw)}`);
  assert.equal(outcome.issue.line, 7);
  return outcome.issue;
}

test("a plain prompt becomes one user turn, with an optional system turn first", () => {
  assert.deepEqual(ok({ prompt: "Hi" }), { line: 7, messages: [{ role: "user", content: "Hi" }], completions: [], source: null, metadata: {} });
  assert.deepEqual(ok({ prompt: "Hi", system: "Be brief." }).messages, [
    { role: "system", content: "Be brief." },
    { role: "user", content: "Hi" },
  ]);
});

test("content is kept exactly as written (no trimming), since it is training data", () => {
  assert.equal(ok({ prompt: "  two spaces\n" }).messages[0]?.content, "  two spaces\n");
});

test("chat messages are accepted as given, including multi-turn", () => {
  const messages = [
    { role: "system", content: "s" },
    { role: "user", content: "u1" },
    { role: "assistant", content: "a1" },
    { role: "user", content: "u2" },
  ];
  assert.deepEqual(ok({ messages }).messages, messages);
});

test("a conversation ending with an assistant turn is rejected with a clear reason", () => {
  const issue = rejected({ messages: [{ role: "user", content: "q" }, { role: "assistant", content: "a" }] });
  assert.match(issue.reason, /last turn is "assistant".*must end with a "user" turn/);
});

test("a system turn after the start, an unknown role and an empty conversation are rejected", () => {
  assert.match(rejected({ messages: [{ role: "user", content: "q" }, { role: "system", content: "s" }, { role: "user", content: "q" }] }).reason, /messages\[1\]\.role: a system turn is only allowed as the first message/);
  assert.match(rejected({ messages: [{ role: "tool", content: "x" }, { role: "user", content: "q" }] }).reason, /messages\[0\]\.role/);
  assert.match(rejected({ messages: [] }).reason, /at least one message/);
  assert.match(rejected({ messages: [{ role: "user", content: "q", name: "bob" }] }).reason, /messages\[0\].*name/);
});

test("empty and whitespace-only content is an error, wherever it is", () => {
  assert.match(rejected({ prompt: "" }).reason, /^prompt: is empty or whitespace-only$/);
  assert.match(rejected({ prompt: " \n\t " }).reason, /prompt: is empty/);
  assert.match(rejected({ prompt: "q", system: "   " }).reason, /system: is empty/);
  assert.match(rejected({ messages: [{ role: "user", content: "  " }] }).reason, /messages\[0\]\.content: is empty/);
  assert.match(rejected({ prompt: "q", completions: ["fine", " "] }).reason, /completions\[1\]: is empty/);
  assert.match(rejected({ prompt: "q", completions: [{ text: "" }] }).reason, /completions\[0\]: is empty/);
});

test("unknown keys are rejected and named, with a suggestion for typos", () => {
  const issue = rejected({ promt: "hello", colour: 1 });
  assert.match(issue.reason, /unknown keys "promt" \(did you mean "prompt"\?\), "colour"/);
  assert.match(issue.reason, /missing "prompt"/);
  assert.match(rejected({ prompt: "q", sorce: "x" }).reason, /"sorce" \(did you mean "source"\?\)/);
  assert.match(rejected({ messages: [{ role: "user", content: "q" }], system: "s" }).reason, /"system" goes into "messages"/);
  assert.match(rejected({ prompt: "q", messages: [{ role: "user", content: "q" }] }).reason, /either "prompt" or "messages"/);
});

test("non-objects are rejected with their type", () => {
  assert.match(rejected([1]).reason, /expected a JSON object, got an array/);
  assert.match(rejected("text").reason, /got string/);
  assert.match(rejected(null).reason, /got null/);
});

test("completions: strings and objects; the top-level model names string completions and objects without a model", () => {
  const record = ok({ prompt: "q", model: "gpt-x", completions: ["a", { text: "b", model: "other" }, { text: "c" }] });
  assert.deepEqual(record.completions, [
    { text: "a", model: "gpt-x" },
    { text: "b", model: "other" },
    { text: "c", model: "gpt-x" },
  ]);
  assert.deepEqual(ok({ prompt: "q", completions: ["a"] }).completions, [{ text: "a", model: null }]);
  assert.match(rejected({ prompt: "q", completions: [{ text: "a", score: 1 }] }).reason, /completions\[0\]/);
  assert.match(rejected({ prompt: "q", completions: "a" }).reason, /completions: must be an array/);
});

test("limits: content length, number of messages, number and length of completions", () => {
  ok({ prompt: "x".repeat(MAX_CONTENT_CHARS) });
  assert.match(rejected({ prompt: "x".repeat(MAX_CONTENT_CHARS + 1) }).reason, /prompt: is longer than 32,000 characters/);
  const turns = Array.from({ length: MAX_MESSAGES + 1 }, (_, i) => ({ role: i % 2 === 0 ? "user" : "assistant", content: `t${i}` }));
  assert.match(rejected({ messages: turns }).reason, /more than 64 messages/);
  ok({ prompt: "q", completions: Array.from({ length: 9 }, (_, i) => `c${i}`) });
  assert.match(rejected({ prompt: "q", completions: Array.from({ length: 10 }, (_, i) => `c${i}`) }).reason, /more than 9 completions/);
  assert.match(rejected({ prompt: "q", completions: ["x".repeat(MAX_COMPLETION_CHARS + 1)] }).reason, /completions\[0\]: is longer than 32,000/);
});

test("source and metadata: blank source means none, metadata must be an object", () => {
  assert.equal(ok({ prompt: "q", source: "" }).source, null);
  assert.equal(ok({ prompt: "q", source: " forum dump " }).source, "forum dump");
  assert.deepEqual(ok({ prompt: "q", metadata: { topic: "math", n: 1 } }).metadata, { topic: "math", n: 1 });
  assert.match(rejected({ prompt: "q", metadata: [1, 2] }).reason, /metadata: must be a JSON object/);
  assert.match(rejected({ prompt: "q", metadata: { big: "x".repeat(20_000) } }).reason, /metadata: is larger than/);
  assert.match(rejected({ prompt: "q", source: 12 }).reason, /source: must be a string/);
});

test("several problems in one record are reported together", () => {
  const issue = rejected({ prompt: "", completions: [], metadata: "x", extra: 1 });
  assert.match(issue.reason, /unknown key "extra"/);
  assert.match(issue.reason, /prompt: is empty/);
  assert.match(issue.reason, /metadata: must be a JSON object/);
});

test("gold: one rank per completion (1 = best, equal = tie) is kept with the record", () => {
  assert.deepEqual(ok({ prompt: "2+2?", completions: ["4", "5", "four"], gold: [1, 2, 1] }).gold, [1, 2, 1]);
  assert.equal("gold" in ok({ prompt: "2+2?", completions: ["4", "5"] }), false, "no gold key on ordinary records");
});

test("gold: refused with the reason when it cannot rank the completions", () => {
  assert.match(rejected({ prompt: "Q", completions: ["a", "b", "c"], gold: [1, 2] }).reason, /gold: has 2 ranks for 3 completions/);
  assert.match(rejected({ prompt: "Q", completions: ["a"], gold: [1] }).reason, /gold: .*at least two \(found 1\)/);
  assert.match(rejected({ prompt: "Q", completions: ["a", "b"], gold: [1, 3] }).reason, /gold: ranks go from 1 \(best\) to 2; found 3/);
  assert.match(rejected({ prompt: "Q", completions: ["a", "b"], gold: [2, 2] }).reason, /gold: ties every completion/);
  assert.match(rejected({ prompt: "Q", completions: ["a", "b"], gold: [1, 0] }).reason, /gold\[1\]: ranks start at 1/);
  assert.match(rejected({ prompt: "Q", completions: ["a", "b"], gold: "a>b" }).reason, /gold: must be an array of ranks/);
  assert.match(rejected({ prompt: "Q", completions: ["a", "b"], golden: [1, 2] }).reason, /"golden" \(did you mean "gold"\?\)/);
});
