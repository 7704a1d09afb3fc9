import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { resolveGptConfig } from "../contract/gpt-config.ts";
import { disposeGpt, gptForward, initGpt, type GptModel } from "./gpt.ts";
import { generate, generateAsync, generateStepwise, sampleToken } from "./generate.ts";
import { createRng } from "../random/rng.ts";

let model: GptModel;
const PAD = 0;
before(async () => {
  await initBackend({ prefer: "wasm" });
  // a larger init scale than GPT-2's so greedy continuations are not all one token
  model = initGpt(resolveGptConfig({ vocabSize: 29, blockSize: 24, nLayer: 2, nHead: 2, nEmbd: 16 }), 4);
  for (const v of model.params.values()) if (v.rank === 2) v.assign(tf.tidy(() => tf.mul(v, 25)));
});
after(() => disposeGpt(model));

/** Greedy decoding the slow way: a full forward pass over the whole sequence for every new token. */
function greedyWithoutCache(prompt: number[], n: number): number[] {
  const seq = [...prompt];
  for (let i = 0; i < n; i++) {
    const next = tf.tidy(() => {
      const logits = gptForward(model, tf.tensor2d([seq], [1, seq.length], "int32")).logits as tf.Tensor3D;
      return tf.argMax(tf.slice(logits, [0, seq.length - 1, 0], [1, 1, 29]), -1).dataSync()[0] ?? -1;
    });
    seq.push(next);
  }
  return seq.slice(prompt.length);
}

const prompts = [[3, 4, 5, 6, 7], [9, 10], [1, 2, 3]];

test("greedy decoding with the KV cache and left padding equals full recomputation for each prompt", () => {
  const before = tf.memory().numTensors;
  const out = generate(model, prompts, { maxNewTokens: 6, temperature: 0, padId: PAD });
  assert.equal(tf.memory().numTensors, before, "generation must not leak tensors");
  prompts.forEach((p, b) => assert.deepEqual(out.completions[b], greedyWithoutCache(p, 6)));
  assert.ok(new Set(out.completions.flat()).size > 1, "degenerate model: all tokens equal");
  assert.deepEqual(out.finished, [false, false, false]);
  // without tools every token is the policy's
  assert.deepEqual(out.policyMask, out.completions.map((c) => c.map(() => 1)));
});

test("generateAsync awaits each read of the logits and gives generate's tokens and log-probs; nothing leaks", async () => {
  const o = { maxNewTokens: 6, temperature: 1, padId: PAD, seed: 3, stopTokens: [2] };
  const before = tf.memory().numTensors;
  const awaited = await generateAsync(model, prompts, o);
  assert.equal(tf.memory().numTensors, before, "the logits read and the cache are freed");
  assert.deepEqual(awaited, generate(model, prompts, o));
  assert.deepEqual(await generateAsync(model, prompts, { ...o, temperature: 0 }), generate(model, prompts, { ...o, temperature: 0 }));
  assert.notDeepEqual(awaited.completions, generate(model, prompts, { ...o, seed: 4 }).completions, "another seed samples otherwise, so the check above can tell");
});

test("a row's samples do not depend on the batch; the same seed reproduces them; top-k = 1 is greedy", () => {
  const o = { maxNewTokens: 5, temperature: 1, padId: PAD, seed: 7 };
  const batched = generate(model, prompts, o);
  const again = generate(model, prompts, o);
  assert.deepEqual(again.completions, batched.completions);
  assert.deepEqual(again.logprobs, batched.logprobs);
  const alone = generate(model, [prompts[0] as number[]], o);
  assert.deepEqual(alone.completions[0], batched.completions[0]);
  // a suppressed token is never drawn; the others keep their order
  const banned = batched.completions[0]?.[0] ?? -1;
  const without = generate(model, prompts, { ...o, suppressTokens: [banned] });
  assert.ok(without.completions.every((c) => !c.includes(banned)));
  const top1 = generate(model, prompts, { ...o, topK: 1 });
  assert.deepEqual(top1.completions, generate(model, prompts, { ...o, temperature: 0 }).completions);
});

test("stop tokens end a row (kept in the output) while the others go on", () => {
  const free = generate(model, prompts, { maxNewTokens: 6, temperature: 0, padId: PAD });
  const stopAt = free.completions[1]?.[2] ?? -1; // row 1's third token
  const out = generate(model, prompts, { maxNewTokens: 6, temperature: 0, padId: PAD, stopTokens: [stopAt] });
  out.completions.forEach((c, b) => {
    const full = free.completions[b] ?? [];
    const cut = full.indexOf(stopAt);
    assert.deepEqual(c, cut >= 0 ? full.slice(0, cut + 1) : full);
    assert.equal(out.finished[b], cut >= 0);
  });
  // the context limit caps generation: blockSize 24, prompt 5 → at most 20 new tokens
  const capped = generate(model, [prompts[0] as number[]], { maxNewTokens: 100, temperature: 1, padId: PAD });
  assert.equal(capped.completions[0]?.length, 20);
});

test("stepwise generation hands out every step's tokens and ends where generate ends; a throw stops it and frees the cache", async () => {
  const o = { maxNewTokens: 6, temperature: 1, seed: 3, padId: PAD, stopTokens: [7] };
  const whole = generate(model, prompts, o);
  const seen: number[][][] = [];
  const stepwise = await generateStepwise(model, prompts, o, async (completions) => {
    seen.push(completions.map((c) => [...c]));
  });
  assert.deepEqual(stepwise, whole, "streaming changes nothing that is sampled");
  assert.deepEqual(seen.at(-1), whole.completions, "the last step hands out the whole completions");
  // one new token per row per step, until the row stops
  seen.forEach((step, s) => step.forEach((row, b) => assert.deepEqual(row, whole.completions[b]?.slice(0, s + 1), `row ${b} at step ${s}`)));

  const before = tf.memory().numTensors;
  let steps = 0;
  await assert.rejects(
    generateStepwise(model, prompts, o, async () => {
      if (++steps === 2) throw new Error("client left");
    }),
    /client left/,
  );
  assert.equal(steps, 2, "no step after the throw");
  assert.equal(tf.memory().numTensors, before, "the KV cache is freed");
});

test("sampleToken: nucleus and top-k keep only the head; log-probs are the full softmax at the temperature", () => {
  const logits = [Math.log(0.5), Math.log(0.3), Math.log(0.15), Math.log(0.05)];
  const rng = createRng(3);
  const seen = new Set<number>();
  for (let i = 0; i < 300; i++) {
    const { token, logprob } = sampleToken(logits, { temperature: 1, topP: 0.7 }, rng);
    seen.add(token);
    assert.ok(Math.abs(logprob - (logits[token] ?? 0)) < 1e-9);
  }
  assert.deepEqual([...seen].sort(), [0, 1]);
  seen.clear();
  for (let i = 0; i < 300; i++) seen.add(sampleToken(logits, { temperature: 1, topK: 3 }, rng).token);
  assert.deepEqual([...seen].sort(), [0, 1, 2]);
  // temperature 2: p ∝ √p_i
  const z = [0.5, 0.3, 0.15, 0.05].reduce((a, p) => a + Math.sqrt(p), 0);
  const { token, logprob } = sampleToken(logits, { temperature: 2 }, rng);
  assert.ok(Math.abs(logprob - Math.log(Math.sqrt([0.5, 0.3, 0.15, 0.05][token] ?? 0) / z)) < 1e-9);
  // frequencies follow the probabilities (temperature 1, no filtering)
  const counts = [0, 0, 0, 0];
  const r2 = createRng(11);
  for (let i = 0; i < 4000; i++) counts[sampleToken(logits, { temperature: 1 }, r2).token]! += 1;
  [0.5, 0.3, 0.15, 0.05].forEach((p, i) => assert.ok(Math.abs((counts[i] ?? 0) / 4000 - p) < 0.03, `token ${i}: ${counts[i]}`));
});
