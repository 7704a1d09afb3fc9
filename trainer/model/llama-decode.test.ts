// The Llama decode step of decision trainer-029 (llama-decode.ts, step-kernels.ts group "decode") against the op path
// it replaces (the group off): logits and the cache over 75 steps across a capacity growth, left-padded rows, explicit
// positions as generate.ts feeds them, pads fed to a finished row, grouped-query attention (nKvHead < nHead), head
// sizes 16 (the SIMD attention kernels) and 6 (cblas_sgemv), an untied head, Qwen2's q/k/v biases and Llama's
// attention and MLP biases with head_dim · nHead ≠ hidden size; a branch (one cache continued twice) and a two-token
// step after a decode-step cache; hidden states, scores and logits: false; LoRA adapters on every projection; and the
// cases that must take the op path (a gradient tape, the group off, adapter dropout drawing masks, an id out of range). On wasm with OpenBLAS the step runs; under
// TANDEM_BLAS=off it does not apply and the same checks run on the op path.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { setStepKernels } from "../backend/step-kernels.ts";
import { loraConfigSchema } from "../contract/lora-config.ts";
import { resolveLlamaConfig, type LlamaConfig } from "../contract/llama-config.ts";
import { createRng, normalArray } from "../random/rng.ts";
import { disposeForward, disposeKvCache, type ForwardResult, type KvCache } from "./gpt.ts";
import { cacheCapacity } from "./gpt-decode.ts";
import { assertBranchMatches, assertClose, assertStepOutputsMatch, cacheOf, forwardStep, logitsOf } from "../testing/decode-parity.ts";
import { disposeLlama, initLlama, llamaForward, type LlamaModel } from "./llama.ts";
import { attachLora, withAdapterDropout, withAdaptersOff } from "./lora.ts";

const info = await initBackend({ prefer: "wasm", blasThreads: 1 });
const decodeRuns = info.blas !== null;
after(() => setStepKernels(true));

const base = { architecture: "llama" as const, vocabSize: 37, blockSize: 96, nLayer: 2, rmsNormEps: 1e-5, ropeTheta: 10000 };
const configs: [string, LlamaConfig][] = [
  // GQA 4 over 2, head size 16 (SIMD attention), tied head, odd MLP width
  ["GQA 4/2, D 16, tied", resolveLlamaConfig({ ...base, nHead: 4, nKvHead: 2, nEmbd: 64, intermediateSize: 91 })],
  // Qwen2 (q/k/v biases), one key/value head for three, head size 6 (cblas_sgemv), its own LM head
  ["Qwen2 3/1, D 6, untied", resolveLlamaConfig({ ...base, modelType: "qwen2", nHead: 3, nKvHead: 1, nEmbd: 18, intermediateSize: 35, tieWordEmbeddings: false })],
  // Llama with attention and MLP biases, head_dim 8 over 6 heads (48) on a hidden size of 20
  ["biases, GQA 6/3, head_dim 8 ≠ C/H", resolveLlamaConfig({ ...base, nHead: 6, nKvHead: 3, nEmbd: 20, headDim: 8, intermediateSize: 27, attentionBias: true, mlpBias: true })],
];

/** A model with weights large enough that attention is far from uniform, and gains and biases away from 1 and 0. */
function model(config: LlamaConfig): LlamaModel {
  const m = initLlama(config, 3);
  let seed = 10;
  for (const [name, v] of m.params) {
    const norm = name.endsWith("norm.weight");
    const std = norm ? 0.3 : name === "model.embed_tokens.weight" ? 1 : name.endsWith(".bias") ? 0.2 : 0.3;
    v.assign(tf.tensor(normalArray(createRng(seed++), v.size, std).map((x) => x + (norm ? 1 : 0)), v.shape));
  }
  return m;
}

/** One forward as generate.ts calls it (decode-parity.ts). */
const step = (m: LlamaModel, ids: number[][], mask: number[][], past: KvCache | undefined, positions?: number[], logits = true): ForwardResult =>
  forwardStep((input, options) => tf.tidy(() => llamaForward(m, input, options) as unknown as tf.TensorContainer) as unknown as ForwardResult, ids, mask, past, positions, logits);

/**
 * Prefill of three left-padded prompts, then `steps` one-token steps; row 2 is fed pads (mask 0) from step 20 on, as a
 * finished row is. Returns each step's logits (B, 1, V), the final cache's contents and each step's capacity.
 */
function decode(m: LlamaModel, steps: number): { logits: Float32Array[]; cache: Float32Array[]; capacities: (number | undefined)[] } {
  const prompts = [[5, 9, 2, 30, 11], [0, 0, 7, 3, 14], [0, 4, 36, 1, 8]];
  const mask = [[1, 1, 1, 1, 1], [0, 0, 1, 1, 1], [0, 1, 1, 1, 1]];
  const real = mask.map((r) => r.reduce((a, v) => a + v, 0));
  let out = step(m, prompts, mask, undefined);
  const logits: Float32Array[] = [];
  const capacities: (number | undefined)[] = [];
  for (let s = 0; s < steps; s++) {
    const next = [0, 1, 2].map((b) => (b === 2 && s >= 20 ? 0 : (s * 7 + b * 11 + 3) % m.config.vocabSize));
    const fed = [1, 1, s >= 20 ? 0 : 1];
    const positions = real.slice();
    next.forEach((_, b) => {
      (mask[b] as number[]).push(fed[b] as number);
      real[b] = (real[b] as number) + (fed[b] as number);
    });
    const past = out.present as KvCache;
    const r = step(m, next.map((t) => [t]), mask, past, positions);
    disposeForward({ ...out, present: undefined });
    disposeKvCache(past);
    out = r;
    logits.push(logitsOf(out));
    capacities.push(out.present?.capacity);
  }
  const cache = cacheOf(out.present as KvCache);
  disposeForward(out);
  return { logits, cache, capacities };
}

for (const [name, config] of configs)
  test(`Llama decode step, ${name}: the same logits and cache as the op path over 75 steps (cache grown once), ${decodeRuns ? "wasm + OpenBLAS" : "plain wasm: the op path both times"}`, () => {
    const m = model(config);
    const before = tf.memory();
    setStepKernels(true);
    const on = decode(m, 75);
    assert.equal(tf.memory().numTensors, before.numTensors, "the decode step leaves no tensor behind");
    assert.equal(tf.memory().numDataBuffers, before.numDataBuffers, "nor a buffer");
    setStepKernels(false);
    const off = decode(m, 75);
    setStepKernels(true);
    on.logits.forEach((l, s) => assertClose(off.logits[s] as Float32Array, l, 2e-5, `step ${s}: decode step vs op path`));
    assert.equal(on.cache.length, 2 * config.nLayer);
    on.cache.forEach((t, i) => assertClose(off.cache[i] as Float32Array, t, 2e-5, `final cache tensor ${i}`));
    assert.equal(on.cache[0]?.length, 3 * config.nKvHead * 80 * (config.headDim ?? config.nEmbd / config.nHead), "the cache keeps nKvHead heads");
    if (decodeRuns) {
      assert.equal(on.capacities[0], cacheCapacity(6, config.blockSize));
      assert.equal(on.capacities.at(-1), config.blockSize, "grown past 64 positions: 128 capped at the block size");
    } else assert.ok(on.capacities.every((c) => c === undefined));
    assert.ok(off.capacities.every((c) => c === undefined));
    disposeLlama(m);
  });

test("Llama decode step: a cache continued twice (a branch) is copied, not overwritten; a multi-token step reads it through the op path", () => {
  const m = model(configs[0]?.[1] as LlamaConfig);
  assertBranchMatches((input, options) => tf.tidy(() => llamaForward(m, input, options) as unknown as tf.TensorContainer) as unknown as ForwardResult, decodeRuns);
  disposeLlama(m);
});

test("Llama decode step: hidden states, a scalar head's scores and logits: false come out as on the op path", () => {
  const m = model({ ...(configs[1]?.[1] as LlamaConfig), scalarHead: "reward" });
  assertStepOutputsMatch((input, options) => tf.tidy(() => llamaForward(m, input, options) as unknown as tf.TensorContainer) as unknown as ForwardResult, decodeRuns);
  disposeLlama(m);
});

/** A prefill of two rows and one step after it; the step's logits and its cache's capacity (undefined: the op path). */
function oneStep(m: LlamaModel, next: number[]): { logits: Float32Array; capacity: number | undefined } {
  const ids = [[4, 8, 15], [1, 2, 3]];
  const mask = ids.map((r) => r.map(() => 1));
  const pre = step(m, ids, mask, undefined);
  const r = step(m, next.map((t) => [t]), mask.map((row) => [...row, 1]), pre.present);
  const out = { logits: logitsOf(r), capacity: r.present?.capacity };
  disposeForward(pre);
  disposeForward(r);
  return out;
}

test("Llama decode step: under a gradient tape, or with the decode group off, the op path runs", () => {
  const m = model(configs[0]?.[1] as LlamaConfig);
  const ids = [[4, 8, 15], [1, 2, 3]];
  const pre = step(m, ids, ids.map((r) => r.map(() => 1)), undefined);
  const input = tf.tensor2d([[9], [10]], [2, 1], "int32");
  const embed = m.params.get("model.embed_tokens.weight") as tf.Variable;
  let capacity: number | undefined = -1;
  const { value, grads } = tf.variableGrads(() => {
    const r = llamaForward(m, input, { past: pre.present, useCache: true });
    capacity = r.present?.capacity;
    return tf.sum(tf.square(r.logits as tf.Tensor)) as tf.Scalar;
  }, [embed]);
  assert.equal(capacity, undefined, "the op path's cache, not the decode step's");
  const g = grads[embed.name] as tf.Tensor;
  assert.ok((tf.sum(tf.abs(g)).dataSync()[0] as number) > 0, "a gradient reaches the embedding");
  tf.dispose([value, g, input]);
  disposeForward(pre);

  setStepKernels(["embedding", "lm-head", "bias-sum", "causal"]); // TANDEM_STEP_KERNELS without decode
  const off = oneStep(m, [9, 10]);
  setStepKernels(true);
  const on = oneStep(m, [9, 10]);
  assert.equal(off.capacity, undefined);
  assert.equal(on.capacity !== undefined, decodeRuns);
  assertClose(off.logits, on.logits, 2e-5, "group off vs on");
  disposeLlama(m);
});

test("Llama decode step with LoRA adapters on (all seven projections): the same logits and cache as the op path over 12 steps; with them off, the base model's; while adapter dropout draws masks, the op path", () => {
  const m = model(configs[2]?.[1] as LlamaConfig); // biases too: the adapter's update lands on bias + x·W
  const plainOff = (() => {
    setStepKernels(false);
    const r = oneStep(m, [9, 10]);
    setStepKernels(true);
    return r;
  })();
  attachLora(m, loraConfigSchema.parse({ r: 3, alpha: 5, dropout: 0.1, targetModules: "all-linear" }), 5);
  // B starts at zero (the adapted model equals the base): give it values so that the adapters change the logits
  let seed = 100;
  for (const { b } of m.lora?.adapters.values() ?? []) b.assign(tf.tensor(normalArray(createRng(seed++), b.size, 0.3), b.shape));
  const before = tf.memory().numTensors;
  const on = decode(m, 12);
  assert.equal(tf.memory().numTensors, before, "no tensor left behind");
  setStepKernels(false);
  const off = decode(m, 12);
  setStepKernels(true);
  assert.ok(on.capacities.every((c) => (c !== undefined) === decodeRuns), "adapters on: the decode step");
  on.logits.forEach((l, s) => assertClose(off.logits[s] as Float32Array, l, 2e-5, `adapted, step ${s}: decode step vs op path`));
  on.cache.forEach((t, i) => assertClose(off.cache[i] as Float32Array, t, 2e-5, `adapted, final cache tensor ${i}`));
  const adapted = oneStep(m, [9, 10]);
  assert.ok(adapted.logits.some((v, i) => Math.abs(v - (plainOff.logits[i] as number)) > 1e-2), "the adapters change the logits");
  const base = withAdaptersOff(m, () => oneStep(m, [9, 10]));
  assert.equal(base.capacity !== undefined, decodeRuns, "adapters off: the decode step");
  assertClose(plainOff.logits, base.logits, 2e-5, "adapters off vs the base model's op path");
  const dropped = withAdapterDropout(m, 7, () => oneStep(m, [9, 10]));
  assert.equal(dropped.capacity, undefined, "adapter dropout drawing masks: the op path");
  disposeLlama(m);
});

test("Llama decode step: an id out of range leaves the step to the op path", () => {
  const m = model(configs[0]?.[1] as LlamaConfig);
  const seen: (number | undefined)[] = [];
  for (const on of [true, false]) {
    setStepKernels(on);
    try {
      seen.push(oneStep(m, [9, m.config.vocabSize]).capacity);
    } catch {
      seen.push(undefined); // the op path's Gather may refuse it: either way the decode step did not run
    } finally {
      setStepKernels(true);
    }
  }
  assert.deepEqual(seen, [undefined, undefined]);
  assert.equal(oneStep(m, [9, m.config.vocabSize - 1]).capacity !== undefined, decodeRuns, "the last id is in range");
  disposeLlama(m);
});
