import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadBpeTokenizer, trainBpeTokenizerJson, type BpeTokenizer } from "./bpe-tokenizer.ts";
import {
  ChatTemplateError, INVALID_TOOL_CALL, parseCompletion, parseToolCallText, renderChat, renderCompletion, renderPromptCompletion,
  renderToolResults, toolCallText, type ChatMessage,
} from "./chat-template.ts";
import { type ConversationMessage } from "../contract/conversation.ts";

let dir = "";
let tok: BpeTokenizer;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "tandem-template-test-"));
  const corpus = join(dir, "corpus.txt");
  writeFileSync(corpus, Array.from({ length: 50 }, (_, i) => `what is ${i} times ${i + 3}? let me compute. the answer is ${i * (i + 3)}.`).join("\n"));
  tok = loadBpeTokenizer(trainBpeTokenizerJson([corpus], 320));
});
after(() => rmSync(dir, { recursive: true, force: true }));

const call = (expression: string) => ({ type: "function" as const, function: { name: "calculator", arguments: { expression } } });
const prompt: ChatMessage[] = [{ role: "user", content: "what is 37 times 4?" }];
const completion: ConversationMessage[] = [
  { role: "assistant", content: "let me compute.", tool_calls: [call("37*4")] },
  { role: "tool", name: "calculator", content: "148" },
  { role: "assistant", content: "the answer is 148." },
];

test("a tool call renders as <|tool_call|> + compact JSON, results as tool turns, and the assistant turn reopens", async () => {
  const sp = tok.special;
  const enc = (text: string) => tok.encode(text);
  const rendered = await renderChat(tok, [...prompt, ...completion]);
  const json = '{"name":"calculator","arguments":{"expression":"37*4"}}';
  assert.equal(toolCallText(call("37*4")), json);
  const expected = [
    sp.user, ...(await enc("what is 37 times 4?")), sp.endOfTurn,
    sp.assistant, ...(await enc("let me compute.")), sp.toolCall, ...(await enc(json)), sp.endOfTurn,
    sp.toolResult, ...(await enc("148")), sp.endOfTurn,
    sp.assistant, ...(await enc("the answer is 148.")), sp.endOfTurn,
  ];
  assert.deepEqual(rendered.ids, expected);

  // trained: the assistant's text, its call (marker and JSON) and each closing <|end|>; never the tool turn or a role marker
  const targets = rendered.ids.filter((_, i) => rendered.lossMask[i] === 1);
  assert.deepEqual(targets, [
    ...(await enc("let me compute.")), sp.toolCall, ...(await enc(json)), sp.endOfTurn,
    ...(await enc("the answer is 148.")), sp.endOfTurn,
  ]);
  const resultStart = rendered.ids.indexOf(sp.toolResult);
  const resultEnd = rendered.ids.indexOf(sp.assistant, resultStart); // the reopened assistant marker
  for (let i = resultStart; i <= resultEnd; i++) assert.equal(rendered.lossMask[i], 0, `token ${i} of the tool turn is trained`);

  // the sampler's insertion is exactly the rendered tool turn plus the reopened assistant marker
  assert.deepEqual(await renderToolResults(tok, ["148"]), rendered.ids.slice(resultStart, resultEnd + 1));
});

test("prompt + tool-using completion: the prompt is a prefix, the completion renders as in the whole conversation", async () => {
  const { prompt: p, full } = await renderPromptCompletion(tok, prompt, completion);
  const whole = await renderChat(tok, [...prompt, ...completion]);
  assert.deepEqual(full.ids, whole.ids);
  assert.deepEqual(full.lossMask, whole.lossMask);
  assert.deepEqual(full.ids.slice(0, p.length), p);
  // a plain string completion renders as before: text, then <|end|>, all trained
  const plain = await renderPromptCompletion(tok, prompt, "the answer is 148.");
  assert.deepEqual(plain.full.ids, [...p, ...(await tok.encode("the answer is 148.")), tok.special.endOfTurn]);
  assert.deepEqual(plain.full.lossMask.slice(p.length), plain.full.ids.slice(p.length).map(() => 1));
  assert.deepEqual(await renderCompletion(tok, [{ role: "assistant", content: "the answer is 148." }]), await renderCompletion(tok, "the answer is 148."));
  await assert.rejects(renderCompletion(tok, [{ role: "tool", content: "148" }]), ChatTemplateError);
  await assert.rejects(renderCompletion(tok, [{ role: "assistant", content: "a" }, { role: "user", content: "b" }]), ChatTemplateError);
  await assert.rejects(renderChat(tok, [{ role: "user", content: "x", tool_calls: [call("1")] }]), ChatTemplateError);
});

test("completion tokens parse back into the canonical messages (round trip), several calls and results included", async () => {
  const several: ConversationMessage[] = [
    { role: "assistant", content: "", tool_calls: [call("2+3"), call("1/0")] },
    { role: "tool", name: "calculator", content: "5" },
    { role: "tool", name: "calculator", content: "error: division by zero" },
    { role: "assistant", content: "", tool_calls: [call("5*5")] },
    { role: "tool", name: "calculator", content: "25" },
    { role: "assistant", content: "the answer is 25." },
  ];
  for (const messages of [completion, several, [{ role: "assistant", content: "the answer is 7." }] as ConversationMessage[]]) {
    const { ids } = await renderCompletion(tok, messages);
    assert.deepEqual(await parseCompletion(tok, ids), messages);
    // and back again: the same tokens
    assert.deepEqual((await renderCompletion(tok, await parseCompletion(tok, ids))).ids, ids);
  }
  // a trailing <|endoftext|> and anything after it is not part of the answer
  const { ids } = await renderCompletion(tok, completion);
  assert.deepEqual(await parseCompletion(tok, [...ids, tok.special.eos, ...(await tok.encode("junk"))]), completion);
});

test("a cut-off completion parses as far as it got; a call that is not valid JSON keeps its raw text", async () => {
  const { ids } = await renderCompletion(tok, completion);
  const cut = ids.slice(0, ids.indexOf(tok.special.toolCall) + 4); // inside the call's JSON
  const parsed = await parseCompletion(tok, cut);
  assert.equal(parsed.length, 1);
  assert.equal(parsed[0]?.content, "let me compute.");
  assert.equal(parsed[0]?.tool_calls?.[0]?.function.name, INVALID_TOOL_CALL);
  assert.equal(parsed[0]?.tool_calls?.[0]?.function.arguments["text"], await tok.decode(cut.slice(cut.indexOf(tok.special.toolCall) + 1)));
  // the raw text renders back verbatim
  const bad = parseToolCallText('{"name":"calculator","arguments":{"expression":"3*');
  assert.equal(toolCallText(bad), '{"name":"calculator","arguments":{"expression":"3*');
  for (const text of ["calculator(3)", '{"name":"calculator"}', '{"name":"calculator","arguments":"3*4"}', '{"name":"","arguments":{}}', '{"name":"c","arguments":{},"x":1}', "[1]", "null"])
    assert.equal(parseToolCallText(text).function.name, INVALID_TOOL_CALL, text);
  assert.deepEqual(parseToolCallText('{"name":"calculator", "arguments": {"expression": "1"}}'), call("1"));
});
