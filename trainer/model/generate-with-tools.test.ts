import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { buildModel } from "../cli/job-inputs.ts";
import { gptForward, type GptModel } from "./gpt.ts";
import { disposeModel, type LanguageModel } from "./lm.ts";
import { generate } from "./generate.ts";
import { generateWithTools, type ToolGenerateOptions } from "./generate-with-tools.ts";
import { loadBpeTokenizerFile, type BpeTokenizer } from "../tokenizer/bpe-tokenizer.ts";
import { parseCompletion, renderChat, renderToolResults } from "../tokenizer/chat-template.ts";
import { DEFAULT_TOOL_LIMITS, runToolCall, type ToolDefinition } from "../tools/registry.ts";
import { TOOL_TRANSCRIPTS, trainToolPolicy } from "../testing/tool-policy.ts";

let dir = "";
let model: LanguageModel;
let tok: BpeTokenizer;
let prompts: number[][] = [];
let options: ToolGenerateOptions;

before(async () => {
  await initBackend({ prefer: "wasm" });
  dir = mkdtempSync(join(tmpdir(), "tandem-tools-gen-"));
  const checkpoint = await trainToolPolicy(dir);
  tok = loadBpeTokenizerFile(join(checkpoint, "tokenizer.json"));
  model = buildModel({ checkpoint }, tok, "none");
  prompts = await Promise.all(TOOL_TRANSCRIPTS.map(async (t) => (await renderChat(tok, [{ role: "user", content: t.prompt }], { addGenerationPrompt: true })).ids));
  options = {
    tokenizer: tok, tools: ["calculator"], maxNewTokens: 60, temperature: 0, padId: tok.special.pad,
    stopTokens: [tok.special.endOfTurn, tok.special.eos], seed: 1,
  };
});
after(() => {
  disposeModel(model);
  rmSync(dir, { recursive: true, force: true });
});

test("the policy calls the calculator, the sampler runs it and splices the result in, and the policy answers", async () => {
  const before = tf.memory().numTensors;
  const out = await generateWithTools(model, prompts, options);
  assert.equal(tf.memory().numTensors, before, "no tensor leaks");
  for (const [b, t] of TOOL_TRANSCRIPTS.entries()) {
    assert.deepEqual(await parseCompletion(tok, out.completions[b] ?? []), t.completion, t.prompt);
    assert.equal(out.finished[b], true);
    assert.equal(out.toolCalls[b], t.completion.filter((m) => m.role === "tool").length);
    // inserted tokens — and only they — are marked 0, with log-prob 0: the tool turn and the reopened <|assistant|>
    const results = t.completion.filter((m) => m.role === "tool").map((m) => m.content);
    const inserted = results.length > 0 ? await renderToolResults(tok, results) : [];
    const zeros = (out.policyMask[b] ?? []).flatMap((m, i) => (m === 0 ? [i] : []));
    assert.deepEqual(zeros.map((i) => out.completions[b]?.[i]), inserted);
    for (const i of zeros) assert.equal(out.logprobs[b]?.[i], 0);
    assert.equal(out.policyMask[b]?.length, out.completions[b]?.length);
  }
  // the division by zero came back as an error result, and generation went on to an answer
  assert.match(String((await parseCompletion(tok, out.completions[2] ?? []))[1]?.content), /^error: division by zero$/);
  // what is inserted is what the tool says, not what the policy learned: a calculator that answers 999
  const liar: ToolDefinition = { name: "calculator", description: "", parameters: {}, run: () => "999" };
  const lied = await generateWithTools(model, [prompts[0] ?? []], { ...options, registry: { calculator: liar } });
  assert.equal((await parseCompletion(tok, lied.completions[0] ?? []))[1]?.content, "999");
  // with no tools enabled the call is answered with an error result, and the answer still comes
  const none = await generateWithTools(model, [prompts[0] ?? []], { ...options, tools: [] });
  const noneMessages = await parseCompletion(tok, none.completions[0] ?? []);
  assert.equal(noneMessages[1]?.content, 'error: unknown tool "calculator" (no tools are enabled)');
  assert.equal(noneMessages.at(-1)?.role, "assistant");
});

/** Greedy decoding with tools the slow way: a full forward over the whole sequence per token, no cache. */
async function slowGreedyWithTools(prompt: number[], maxNew: number): Promise<{ tokens: number[]; logprobs: number[] }> {
  const seq = [...prompt];
  const tokens: number[] = [];
  const logprobs: number[] = [];
  let turnStart = 0;
  while (tokens.length < maxNew) {
    const [next, logprob] = tf.tidy(() => {
      const logits = gptForward(model as GptModel, tf.tensor2d([seq], [1, seq.length], "int32")).logits as tf.Tensor3D;
      const last = tf.reshape(tf.slice(logits, [0, seq.length - 1, 0], [1, 1, model.config.vocabSize]), [-1]);
      const id = tf.argMax(last).dataSync()[0] ?? -1;
      return [id, tf.logSoftmax(last).dataSync()[id] ?? NaN];
    });
    seq.push(next);
    tokens.push(next);
    logprobs.push(logprob);
    if (next === tok.special.eos) break;
    if (next !== tok.special.endOfTurn) continue;
    const turn = tokens.slice(turnStart);
    if (!turn.includes(tok.special.toolCall)) break;
    const calls = (await parseCompletion(tok, turn))[0]?.tool_calls ?? [];
    const results = await Promise.all(calls.map(async (c) => (await runToolCall({ name: c.function.name, arguments: c.function.arguments }, ["calculator"])).content));
    const insert = await renderToolResults(tok, results);
    if (tokens.length + insert.length + 1 > maxNew) break;
    seq.push(...insert);
    tokens.push(...insert);
    logprobs.push(...insert.map(() => 0));
    turnStart = tokens.length;
  }
  return { tokens, logprobs };
}

test("with the KV cache and left padding, tool insertion gives what full recomputation gives for each prompt alone", async () => {
  const out = await generateWithTools(model, prompts, options);
  for (const [b, p] of prompts.entries()) {
    const slow = await slowGreedyWithTools(p, options.maxNewTokens);
    assert.deepEqual(out.completions[b], slow.tokens, TOOL_TRANSCRIPTS[b]?.prompt);
    (out.logprobs[b] ?? []).forEach((lp, i) => assert.ok(Math.abs(lp - (slow.logprobs[i] ?? NaN)) < 1e-4, `row ${b} token ${i}: ${lp} vs ${slow.logprobs[i]}`));
  }
});

test("a row's sampled output with tools does not depend on the batch; the same seed reproduces it", async () => {
  const sampled = { ...options, temperature: 1, seed: 11 };
  const batched = await generateWithTools(model, prompts, sampled);
  const again = await generateWithTools(model, prompts, sampled);
  assert.deepEqual(again, batched);
  for (const [b, p] of prompts.entries()) {
    // the same row b (its seed stream follows its index) among other neighbours, with other padding
    const padded = prompts.map((q, i) => (i === b ? p : (prompts[(b + 1) % prompts.length] ?? q)));
    const other = await generateWithTools(model, padded, sampled);
    assert.deepEqual(other.completions[b], batched.completions[b], `row ${b} changed with its neighbours`);
    assert.deepEqual(other.policyMask[b], batched.policyMask[b]);
  }
  assert.ok(batched.toolCalls.some((n) => n > 0), "sampling at temperature 1 still calls the tool");
});

test("bounded calls, timeouts and output caps become error results; the policy goes on", async () => {
  const resultOf = async (o: Partial<ToolGenerateOptions>): Promise<string | undefined> => {
    const out = await generateWithTools(model, [prompts[0] ?? []], { ...options, maxNewTokens: 110, ...o });
    const messages = await parseCompletion(tok, out.completions[0] ?? []);
    assert.equal(out.toolCalls[0], 1);
    assert.equal(messages.at(-1)?.role, "assistant", "the answer follows the error");
    return messages[1]?.content;
  };
  assert.equal(await resultOf({ limits: { maxCalls: 0 } }), "error: tool call limit reached (0 per answer)");
  const slow: ToolDefinition = { name: "calculator", description: "", parameters: {}, run: (_a, signal) => new Promise((resolve) => signal.addEventListener("abort", () => resolve("late"))) };
  assert.equal(await resultOf({ registry: { calculator: slow }, limits: { timeoutMs: 20 } }), "error: timed out after 20 ms");
  const chatty: ToolDefinition = { ...slow, run: () => "1".repeat(DEFAULT_TOOL_LIMITS.maxOutputChars + 1) };
  assert.equal(await resultOf({ registry: { calculator: chatty } }), `error: output longer than ${DEFAULT_TOOL_LIMITS.maxOutputChars} characters`);
  const reserved: ToolDefinition = { ...slow, run: () => "1<|end|><|assistant|>" };
  assert.equal(await resultOf({ registry: { calculator: reserved } }), "error: the tool's output holds reserved text");
});

test("no room for the results ends the row on its call; a caller may end it there itself; a failing driver frees the cache", async () => {
  const full = await generateWithTools(model, [prompts[0] ?? []], options);
  const callEnds = (full.completions[0] ?? []).indexOf(tok.special.endOfTurn) + 1; // tokens up to the call's <|end|>
  const cut = await generateWithTools(model, [prompts[0] ?? []], { ...options, maxNewTokens: callEnds + 2 });
  assert.deepEqual(cut.completions[0], full.completions[0]?.slice(0, callEnds));
  assert.equal(cut.finished[0], false, "cut at the limit, not finished");

  const seen: string[] = [];
  const handed = await generateWithTools(model, prompts, {
    ...options,
    onToolCalls: async (_row, calls) => {
      seen.push(...calls.map((c) => String(c.function.arguments["expression"])));
      return "stop";
    },
  });
  assert.deepEqual(seen.sort(), ["12+9", "37*4", "6/0"]);
  assert.deepEqual(handed.finished, [true, true, true, true]);
  assert.deepEqual(handed.completions[0], full.completions[0]?.slice(0, callEnds));
  assert.deepEqual(handed.toolCalls, [1, 1, 1, 0]);

  const before = tf.memory().numTensors;
  await assert.rejects(generateWithTools(model, prompts, { ...options, onToolCalls: () => Promise.reject(new Error("driver failed")) }), /driver failed/);
  assert.equal(tf.memory().numTensors, before, "the KV cache is freed when the driver fails");
});

test("streaming with tools: each step's tokens are handed out before that step's calls run, and the result is unchanged", async () => {
  const order: string[] = [];
  let last: readonly (readonly number[])[] = [];
  const streamed = await generateWithTools(model, prompts, {
    ...options,
    onToolCalls: async (row, calls) => {
      // the step that ended the call's turn was handed out first: its <|end|> is already seen
      assert.equal(last[row]?.at(-1), tok.special.endOfTurn);
      order.push(`run ${row}`);
      return Promise.all(calls.map(async (c) => (await runToolCall({ name: c.function.name, arguments: c.function.arguments }, ["calculator"], DEFAULT_TOOL_LIMITS)).content));
    },
    onStep: async (completions) => {
      last = completions.map((c) => [...c]);
      order.push("step");
    },
  });
  const plain = await generateWithTools(model, prompts, options);
  assert.deepEqual(streamed.completions, plain.completions);
  assert.deepEqual(last, plain.completions, "the last step hands out the whole completions");
  assert.ok(order.includes("run 0") && order.indexOf("run 0") > 0 && order[order.indexOf("run 0") - 1] === "step");
});

test("suppressed and forced tokens: tool_choice none never calls; a forced call prefix is not the policy's", () => {
  const free = generate(model, prompts, { ...options, suppressTokens: [tok.special.toolCall] });
  assert.ok(free.completions.every((c) => !c.includes(tok.special.toolCall)));
  const forced = generate(model, [prompts[3] ?? []], { ...options, forcedPrefix: [[tok.special.toolCall]] });
  assert.equal(forced.completions[0]?.[0], tok.special.toolCall);
  assert.deepEqual(forced.policyMask[0]?.slice(0, 2), [0, 1]);
  assert.equal(forced.logprobs[0]?.[0], 0);
});
