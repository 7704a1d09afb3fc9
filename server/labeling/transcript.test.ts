import assert from "node:assert/strict";
import { test } from "node:test";
import {
  answerOfRow,
  answerText,
  compactAnswer,
  describeProblems,
  flattenAnswer,
  parseFlattened,
  storedMessages,
  transcriptProblems,
  undeclaredToolProblems,
  type ConversationMessage,
} from "./transcript.ts";

const call = (expression: string, id?: string) => ({ ...(id ? { id } : {}), type: "function" as const, function: { name: "calculator", arguments: { expression } } });
const transcript: ConversationMessage[] = [
  { role: "assistant", content: "Let me compute.", tool_calls: [call("37*4")] },
  { role: "tool", name: "calculator", content: "148" },
  { role: "assistant", content: "", tool_calls: [call("148+2"), call("148-2")] },
  { role: "tool", name: "calculator", content: "150" },
  { role: "tool", name: "calculator", content: "146\n(two lines)" },
  { role: "assistant", content: "The answer is 148.\n" },
];

test("a transcript's final answer is its text; a plain answer is stored without messages", () => {
  assert.equal(answerText(transcript), "The answer is 148.\n");
  assert.equal(answerText("plain"), "plain");
  assert.equal(storedMessages("plain"), null);
  assert.equal(storedMessages([{ role: "assistant", content: "plain" }]), null);
  assert.deepEqual(storedMessages(transcript), transcript);
  assert.equal(compactAnswer([{ role: "assistant", content: "x" }]), "x");
  assert.deepEqual(answerOfRow({ text: "The answer is 148.\n", messages: transcript }), transcript);
  assert.equal(answerOfRow({ text: "t", messages: null }), "t");
});

test("flattening writes Hermes-style tool blocks and parses back to the same transcript", () => {
  const flat = flattenAnswer(transcript);
  assert.equal(
    flat,
    [
      "Let me compute.",
      '<tool_call>\n{"name":"calculator","arguments":{"expression":"37*4"}}\n</tool_call>',
      "<tool_response>\n148\n</tool_response>",
      '<tool_call>\n{"name":"calculator","arguments":{"expression":"148+2"}}\n</tool_call>',
      '<tool_call>\n{"name":"calculator","arguments":{"expression":"148-2"}}\n</tool_call>',
      "<tool_response>\n150\n</tool_response>",
      "<tool_response>\n146\n(two lines)\n</tool_response>",
      "The answer is 148.\n",
    ].join("\n"),
  );
  assert.deepEqual(parseFlattened(flat), { ok: true, answer: transcript });
  // Plain text is left exactly as it is, newlines included.
  assert.deepEqual(parseFlattened("\nplain\n"), { ok: true, answer: "\nplain\n" });
  assert.equal(flattenAnswer("plain"), "plain");
});

test("call ids do not survive flattening, everything else does", () => {
  const withIds: ConversationMessage[] = [
    { role: "assistant", content: "", tool_calls: [call("2+2", "c1")] },
    { role: "tool", name: "calculator", tool_call_id: "c1", content: "4" },
    { role: "assistant", content: "4" },
  ];
  const back = parseFlattened(flattenAnswer(withIds));
  assert.deepEqual(back, {
    ok: true,
    answer: [{ role: "assistant", content: "", tool_calls: [call("2+2")] }, { role: "tool", name: "calculator", content: "4" }, { role: "assistant", content: "4" }],
  });
});

test("a malformed call block is refused with its number", () => {
  assert.deepEqual(parseFlattened("<tool_call>\nnot json\n</tool_call>\nx"), { ok: false, reason: "tool call 1: the <tool_call> block is not JSON" });
  assert.deepEqual(parseFlattened('<tool_call>\n{"name":"calculator"}\n</tool_call>\nx'), { ok: false, reason: 'tool call 1: a <tool_call> block holds {"name", "arguments": {...}}' });
});

test("well-formed transcripts: every rule names where it broke", () => {
  assert.deepEqual(transcriptProblems(transcript), []);
  const problems = (messages: ConversationMessage[], allowUnfinished = false) => describeProblems(transcriptProblems(messages, { allowUnfinished }), "completion");
  assert.match(problems([{ role: "user", content: "hi" }, { role: "assistant", content: "x" }]), /completion\[0\]\.role: a completion holds assistant and tool messages; a "user" turn belongs in the prompt/);
  assert.match(problems([{ role: "tool", content: "4" }, { role: "assistant", content: "x" }]), /completion\[0\]: a tool result must follow the assistant's tool call/);
  assert.match(problems([{ role: "assistant", content: "", tool_calls: [call("1")] }, { role: "assistant", content: "x" }]), /completion\[1\]: the tool call before it has no result/);
  assert.match(problems([{ role: "assistant", content: "", tool_calls: [call("1")] }, { role: "tool", name: "search", content: "1" }, { role: "assistant", content: "x" }]), /completion\[1\]\.name: answers the call to "calculator", not "search"/);
  assert.match(problems([{ role: "assistant", content: "", tool_calls: [call("1")] }, { role: "tool", content: "1" }]), /ends with a tool result/);
  assert.match(problems([{ role: "assistant", content: "", tool_calls: [call("1")] }, { role: "tool", content: "1" }, { role: "assistant", content: "  " }]), /completion\[2\]\.content: the final answer is empty/);
  assert.match(problems([{ role: "assistant", content: "a" }, { role: "assistant", content: "b" }]), /completion\[0\]: only the last assistant message is without tool calls/);
  assert.match(problems([{ role: "assistant", content: "", tool_calls: [call("1")] }]), /ends with a tool call/);
  // A sampled completion the sampler cut short is still one to rank.
  assert.equal(problems([{ role: "assistant", content: "", tool_calls: [call("1")] }, { role: "tool", content: "1" }], true), "");
});

test("a call to a tool the project does not declare is named", () => {
  assert.deepEqual(undeclaredToolProblems(transcript, ["calculator"]), []);
  assert.equal(
    describeProblems(undeclaredToolProblems(transcript, []), "chosen"),
    [0, 2, 2].map((i, n) => `chosen[${i}].tool_calls[${n === 2 ? 1 : 0}].function.name: "calculator" is not a tool this project declares (it declares no tools; turn them on in the project settings)`).join("; "),
  );
});
