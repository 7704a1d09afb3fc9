// Training data with tool transcripts (TRL's tool-calling format, as Tandem exports it): every
// trainer's reader takes them, and no loss or sequence log-prob ever includes a tool result.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { resolveGptConfig } from "../contract/gpt-config.ts";
import { sftConfigSchema } from "../contract/sft-config.ts";
import { disposeGpt, gptForward, initGpt, type GptModel } from "../model/gpt.ts";
import { loadBpeTokenizer, trainBpeTokenizerJson, type BpeTokenizer } from "../tokenizer/bpe-tokenizer.ts";
import { createSftTrainer } from "../algorithms/sft-trainer.ts";
import { collatePairs, sequenceLogps } from "../algorithms/dpo-trainer.ts";
import { DataError, readPreferencePairs, readRankingExamples, readSftExamples, readUnpairedExamples } from "./job-inputs.ts";

let dir = "";
let tok: BpeTokenizer;
let model: GptModel;
const path = (name: string): string => join(dir, name);
const jsonl = (rows: unknown[]): string => rows.map((r) => JSON.stringify(r)).join("\n") + "\n";

const user = { role: "user", content: "what is 37 times 4?" };
// as TRL writes it (arguments an object) …
const transcript = [
  { role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: "calculator", arguments: { expression: "37*4" } } }] },
  { role: "tool", name: "calculator", content: "148 is the product" },
  { role: "assistant", content: "the answer is 148." },
];
// … and as OpenAI writes it (arguments a JSON string, content null beside calls, call ids)
const openAiTranscript = [
  { role: "assistant", content: null, tool_calls: [{ id: "call_1", type: "function", function: { name: "calculator", arguments: '{"expression":"37*4"}' } }] },
  { role: "tool", tool_call_id: "call_1", content: "148 is the product" },
  { role: "assistant", content: "the answer is 148." },
];

before(async () => {
  await initBackend({ prefer: "wasm" });
  dir = mkdtempSync(join(tmpdir(), "tandem-tool-data-"));
  writeFileSync(path("corpus.txt"), Array.from({ length: 30 }, (_, i) => `what is ${i} times 4? let me compute. the answer is ${i * 4}. is the product`).join("\n"));
  tok = loadBpeTokenizer(trainBpeTokenizerJson([path("corpus.txt")], 320));
  model = initGpt(resolveGptConfig({ vocabSize: tok.vocabSize, blockSize: 128, nLayer: 1, nHead: 2, nEmbd: 16 }), 7);
});
after(() => {
  disposeGpt(model);
  rmSync(dir, { recursive: true, force: true });
});

/** The tokens of each tool turn (marker, result, closing <|end|>) and the reopened <|assistant|> after it. */
function toolTurnPositions(ids: number[]): number[] {
  const out: number[] = [];
  for (let i = 0; i < ids.length; i++) {
    if (ids[i] !== tok.special.toolResult) continue;
    let j = i;
    while (ids[j] !== tok.special.endOfTurn) out.push(j++);
    out.push(j); // its <|end|>
    if (ids[j + 1] === tok.special.assistant) out.push(j + 1);
  }
  return out;
}

/** log p(ids[t] | ids[<t]) for every t ≥ 1 of one unpadded sequence. */
function tokenLogps(ids: number[]): number[] {
  return tf.tidy(() => {
    const logits = gptForward(model, tf.tensor2d([ids], [1, ids.length], "int32")).logits as tf.Tensor3D;
    const logp = tf.logSoftmax(tf.reshape(logits, [ids.length, -1])).arraySync() as number[][];
    return ids.map((id, t) => (t === 0 ? 0 : (logp[t - 1]?.[id] ?? NaN)));
  });
}

test("SFT: tool transcripts (TRL's and OpenAI's forms) train the assistant's text and calls, never the tool result", async () => {
  writeFileSync(path("sft.jsonl"), jsonl([{ messages: [user, ...transcript] }, { messages: [user, ...openAiTranscript], tools: [{ type: "function", function: { name: "calculator" } }] }]));
  const [trl, openAi] = await readSftExamples(path("sft.jsonl"), tok, 128);
  assert.ok(trl && openAi);
  assert.deepEqual(openAi.ids, trl.ids, "both forms render alike (ids and the JSON string are not rendered)");
  const toolTurn = toolTurnPositions(trl.ids);
  assert.ok(toolTurn.length >= 4);
  for (const i of toolTurn) assert.equal(trl.lossMask[i], 0, `tool-turn token ${i} is a target`);
  const targets = trl.ids.filter((_, i) => trl.lossMask[i] === 1);
  assert.equal(await tok.decode(targets, true), '{"name":"calculator","arguments":{"expression":"37*4"}}the answer is 148.');

  // the SFT loss is the mean NLL over exactly those targets (a loss that counted the tool result would differ)
  const trainer = createSftTrainer(model, sftConfigSchema.parse({}), tok.special.pad);
  const loss = trainer.evalLoss([trl]);
  trainer.dispose();
  const logps = tokenLogps(trl.ids);
  const own = logps.filter((_, t) => trl.lossMask[t] === 1);
  const withResults = logps.filter((_, t) => trl.lossMask[t] === 1 || toolTurn.includes(t));
  const mean = (xs: number[]) => -xs.reduce((a, x) => a + x, 0) / xs.length;
  assert.ok(Math.abs(loss - mean(own)) < 1e-4, `${loss} vs ${mean(own)}`);
  assert.ok(Math.abs(mean(withResults) - mean(own)) > 1e-3, "the check can tell the two apart");
});

test("DPO: a tool-using chosen answer's sequence log-prob sums the policy's tokens only", async () => {
  writeFileSync(path("prefs.jsonl"), jsonl([
    { prompt: [user], chosen: transcript, rejected: [{ role: "assistant", content: "the answer is 140." }] },
    { prompt: "what is 3 times 4?", chosen: "the answer is 12.", rejected: "the answer is 7." },
  ]));
  const pairs = await readPreferencePairs(path("prefs.jsonl"), tok, 128);
  const [tools, plain] = pairs;
  assert.ok(tools && plain);
  assert.ok(tools.chosenMask && !tools.rejectedMask && !plain.chosenMask && !plain.rejectedMask, "only a transcript carries a mask");
  const full = [...tools.prompt, ...tools.chosen];
  const toolTurn = toolTurnPositions(full);
  for (const i of toolTurn) assert.equal(tools.chosenMask[i - tools.prompt.length], 0);

  const logps = tf.tidy(() => sequenceLogps(model, collatePairs(pairs, tok.special.pad)).dataSync() as Float32Array); // chosen ×2, rejected ×2
  const perToken = tokenLogps(full);
  const own = perToken.reduce((a, x, t) => a + (t >= tools.prompt.length && !toolTurn.includes(t) ? x : 0), 0);
  const all = perToken.reduce((a, x, t) => a + (t >= tools.prompt.length ? x : 0), 0);
  assert.ok(Math.abs((logps[0] ?? NaN) - own) < 1e-3, `${logps[0]} vs ${own}`);
  assert.ok(Math.abs(all - own) > 0.1, "the tool turn has log-prob mass the sum leaves out");
  // a plain pair is summed over its whole completion, as before
  const plainFull = [...plain.prompt, ...plain.chosen];
  const plainSum = tokenLogps(plainFull).reduce((a, x, t) => a + (t >= plain.prompt.length ? x : 0), 0);
  assert.ok(Math.abs((logps[1] ?? NaN) - plainSum) < 1e-3);
});

test("unpaired (KTO) and ranking records take transcripts; the reward model reads the results as context", async () => {
  writeFileSync(path("unpaired.jsonl"), jsonl([{ prompt: [user], completion: transcript, label: true }, { prompt: "hi", completion: "hello.", label: false }]));
  const [good, bad] = await readUnpairedExamples(path("unpaired.jsonl"), tok, 128);
  assert.ok(good && bad);
  assert.equal(good.label, true);
  assert.equal(bad.label, false);
  for (const i of toolTurnPositions([...good.prompt, ...good.completion])) assert.equal(good.completionMask[i - good.prompt.length], 0);
  assert.ok(good.completionMask.some((m) => m === 1));
  assert.deepEqual(bad.completionMask, bad.completion.map(() => 1));

  writeFileSync(path("rank.jsonl"), jsonl([{ prompt: [user], completions: [transcript, "the answer is 140."], ranking: [0, 1] }]));
  const [ranking] = await readRankingExamples(path("rank.jsonl"), tok, 128);
  assert.ok(ranking?.completions[0]?.includes(tok.special.toolResult), "the reward model sees the tool turn");
});

test("bad tool transcripts are refused by line with the field named", async () => {
  writeFileSync(path("bad.jsonl"), jsonl([
    { messages: [{ ...user, tool_calls: transcript[0]?.tool_calls }, { role: "assistant", content: "x" }] },
    { messages: [user, { role: "assistant", content: "", tool_calls: [{ type: "function", function: { name: "calculator", arguments: "37*4" } }] }] },
  ]));
  await assert.rejects(readSftExamples(path("bad.jsonl"), tok, 128), (error: unknown) => {
    assert.ok(error instanceof DataError);
    assert.match(error.message, /line 1: messages\.0\.tool_calls: only assistant messages carry tool calls/);
    assert.match(error.message, /line 2: .*arguments must be a JSON object/);
    return true;
  });
  writeFileSync(path("bad-prefs.jsonl"), jsonl([{ prompt: "q", chosen: [{ role: "tool", content: "1" }, { role: "assistant", content: "a" }], rejected: "b" }]));
  await assert.rejects(readPreferencePairs(path("bad-prefs.jsonl"), tok, 128), /a completion starts with an assistant message/);
});
