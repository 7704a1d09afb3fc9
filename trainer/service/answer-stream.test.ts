import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type ConversationMessage } from "../contract/conversation.ts";
import { type GenerationDelta } from "../contract/inference.ts";
import { loadBpeTokenizer, trainBpeTokenizerJson, type BpeTokenizer } from "../tokenizer/bpe-tokenizer.ts";
import { parseCompletion, renderCompletion } from "../tokenizer/chat-template.ts";
import { TOOL_TRANSCRIPTS } from "../testing/tool-policy.ts";
import { PlainAnswerStream, TemplateAnswerStream, type AnswerStream } from "./answer-stream.ts";

let dir = "";
let tok: BpeTokenizer;

before(() => {
  dir = mkdtempSync(join(tmpdir(), "tandem-answer-stream-"));
  const lines = TOOL_TRANSCRIPTS.flatMap((t) => [t.prompt, ...t.completion.map((m) => m.content), ...t.completion.flatMap((m) => (m.tool_calls ?? []).map((c) => JSON.stringify({ name: c.function.name, arguments: c.function.arguments })))]);
  writeFileSync(join(dir, "corpus.txt"), Array.from({ length: 20 }, () => lines.join("\n")).join("\n"));
  tok = loadBpeTokenizer(trainBpeTokenizerJson([join(dir, "corpus.txt")], 400));
});
after(() => rmSync(dir, { recursive: true, force: true }));

/** Feeds the tokens one at a time, as sampling hands them out; every piece in order. */
async function feed(stream: AnswerStream, tokens: number[]): Promise<GenerationDelta[]> {
  const out: GenerationDelta[] = [];
  for (const t of tokens) out.push(...(await stream.push([t])));
  return [...out, ...(await stream.end())];
}

/** What a client assembles from the pieces: the text, each call's name and arguments, each result. */
function assemble(deltas: GenerationDelta[]) {
  const calls: { name: string; arguments: string }[] = [];
  const results: { call: number; text: string }[] = [];
  let content = "";
  for (const d of deltas) {
    if (d.kind === "content") content += d.text;
    else if (d.kind === "call") calls[d.call] = { name: d.name, arguments: "" };
    else if (d.kind === "arguments") (calls[d.call] as { arguments: string }).arguments += d.text;
    else results.push({ call: d.call, text: d.text });
  }
  return { content, calls, results };
}

/** The same from the parsed transcript: the assistant's text (all turns), its calls, the tool results. */
function fromTranscript(messages: ConversationMessage[]) {
  return {
    content: messages.filter((m) => m.role === "assistant").map((m) => m.content).join(""),
    calls: messages.flatMap((m) => (m.tool_calls ?? []).map((c) => ({ name: c.function.name, arguments: JSON.stringify(c.function.arguments) }))),
    results: messages.filter((m) => m.role === "tool").map((m) => m.content),
  };
}

test("a tool transcript fed token by token adds up to what parseCompletion reads from the whole", async () => {
  for (const t of TOOL_TRANSCRIPTS) {
    const { ids } = await renderCompletion(tok, t.completion);
    const deltas = await feed(new TemplateAnswerStream(tok, 2), ids);
    assert.ok(deltas.every((d) => d.choice === 2));
    const got = assemble(deltas);
    const want = fromTranscript(await parseCompletion(tok, ids));
    assert.equal(got.content, want.content, t.prompt);
    assert.deepEqual(got.calls, want.calls, t.prompt);
    assert.deepEqual(got.results.map((r) => r.text), want.results, t.prompt);
    assert.deepEqual(got.results.map((r) => r.call), want.results.map((_, i) => i), "each result names the call it answers");
  }
});

test("a call streams its name first, then its arguments in pieces, before its result and the answer that follows", async () => {
  const adding = TOOL_TRANSCRIPTS[1]!; // "let me add." + call, result, answer
  const { ids } = await renderCompletion(tok, adding.completion);
  const deltas = await feed(new TemplateAnswerStream(tok, 0), ids);
  const kinds = deltas.map((d) => d.kind).filter((k, i, all) => k !== all[i - 1]);
  assert.deepEqual(kinds, ["content", "call", "arguments", "result", "content"]);
  assert.ok(deltas.filter((d) => d.kind === "content").length > 2, "text comes in several pieces");
  assert.ok(deltas.filter((d) => d.kind === "arguments").length > 1, "arguments come in several pieces");
  assert.deepEqual(deltas.find((d) => d.kind === "call"), { kind: "call", choice: 0, call: 0, name: "calculator" });
});

test("text with characters split across byte tokens streams without U+FFFD", async () => {
  const messages: ConversationMessage[] = [{ role: "assistant", content: "ça coûte 5 € 😀" }];
  const { ids } = await renderCompletion(tok, messages);
  const deltas = await feed(new TemplateAnswerStream(tok, 0), ids);
  assert.equal(assemble(deltas).content, "ça coûte 5 € 😀");
  assert.ok(deltas.every((d) => d.kind !== "content" || !d.text.includes("\ufffd")));
});

test("a call written another way goes out whole when it ends; one cut off at the token limit ends with what was written", async () => {
  const sp = tok.special;
  const reordered = [sp.toolCall, ...(await tok.encode('{"arguments":{"expression":"1+1"},"name":"calculator"}')), sp.endOfTurn];
  assert.deepEqual(assemble(await feed(new TemplateAnswerStream(tok, 0), reordered)).calls, [{ name: "calculator", arguments: '{"expression":"1+1"}' }]);
  const garbage = [sp.toolCall, ...(await tok.encode("the answer")), sp.endOfTurn];
  assert.deepEqual(assemble(await feed(new TemplateAnswerStream(tok, 0), garbage)).calls, [{ name: "invalid_tool_call", arguments: '{"text":"the answer"}' }]);
  // an invalid escape in the name: never named early, an invalid call at its end (as the transcript reads it)
  const escaped = '{"name":"calc\\x","arguments":{}}';
  const badEscape = [sp.toolCall, ...(await tok.encode(escaped)), sp.endOfTurn];
  assert.deepEqual(assemble(await feed(new TemplateAnswerStream(tok, 0), badEscape)).calls, [{ name: "invalid_tool_call", arguments: JSON.stringify({ text: escaped }) }]);
  const cut = [sp.toolCall, ...(await tok.encode('{"name":"calculator","arguments":{"expression":"37'))];
  assert.deepEqual(assemble(await feed(new TemplateAnswerStream(tok, 0), cut)).calls, [{ name: "calculator", arguments: '{"expression":"37' }]);
});

test("an imported model's plain answer streams all its text, decoded as the whole is", async () => {
  const ids = [...(await tok.encode("the answer is 148 €")), tok.special.endOfTurn];
  const deltas = await feed(new PlainAnswerStream(tok, 1), ids);
  assert.equal(assemble(deltas).content, await tok.decode(ids, true));
  assert.ok(deltas.length > 2);
});
