import assert from "node:assert/strict";
import { test } from "node:test";
import { textOf } from "./run-remote-job.ts";

test("a fresh model's tokenizer corpus is every string of the dataset except role names", () => {
  const jsonl = [JSON.stringify({ messages: [{ role: "user", content: "hi" }, { role: "assistant", content: "hello" }] }), "", JSON.stringify({ prompt: "p", chosen: [{ role: "assistant", content: "c" }] })].join("\n");
  assert.equal(textOf(jsonl), "hi\nhello\np\nc");
});
