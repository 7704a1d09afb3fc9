// Activation recomputation must change memory, never numbers: the loss and every gradient with
// `recompute` equal those without it, on tiny GPT-2 and Llama models (grouped-query attention, left
// padding, LoRA with dropout so that the recomputed masks must match), and a training step leaves no
// tensors behind.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { resolveGptConfig } from "../contract/gpt-config.ts";
import { resolveLlamaConfig } from "../contract/llama-config.ts";
import { loraConfigSchema } from "../contract/lora-config.ts";
import { initGpt } from "./gpt.ts";
import { initLlama } from "./llama.ts";
import { attachLora, trainableParams, withAdapterDropout } from "./lora.ts";
import { disposeModel, lmForward, type LanguageModel } from "./lm.ts";
import { setRecompute } from "./recompute.ts";
import { createRng, normalArray } from "../random/rng.ts";

const gptTiny = resolveGptConfig({ vocabSize: 23, blockSize: 16, nLayer: 3, nHead: 2, nEmbd: 8 });
const llamaTiny = resolveLlamaConfig({
  architecture: "llama", vocabSize: 19, blockSize: 16, nLayer: 2, nHead: 4, nKvHead: 2, nEmbd: 16, intermediateSize: 24, rmsNormEps: 1e-5,
});
const ids = [[0, 0, 3, 7, 1, 9], [4, 2, 8, 1, 5, 6]]; // row 0 left-padded
const mask = [[0, 0, 1, 1, 1, 1], [1, 1, 1, 1, 1, 1]];

/** A scalar that depends on every logit: Σ logits·w for a fixed random w. `recompute` unset: the process default. */
function lossOf(model: LanguageModel, recompute: boolean | undefined): tf.Scalar {
  const input = tf.tensor2d(ids, [2, 6], "int32");
  const attentionMask = tf.tensor2d(mask, [2, 6], "int32");
  const out = lmForward(model, input, { attentionMask, recompute });
  const logits = out.logits as tf.Tensor3D;
  const w = tf.tensor(normalArray(createRng(7), logits.size, 1), logits.shape);
  return tf.sum(tf.mul(logits, w));
}

/** Loss and gradients of every trainable tensor, as arrays. */
function gradsOf(model: LanguageModel, recompute: boolean | undefined, dropoutSeed?: number): { loss: number; grads: Map<string, Float32Array> } {
  const params = trainableParams(model);
  const names = [...params.keys()];
  const run = (): { loss: number; grads: Map<string, Float32Array> } => {
    const out = { loss: NaN, grads: new Map<string, Float32Array>() };
    tf.tidy(() => {
      const { value, grads } = tf.valueAndGrads(() => lossOf(model, recompute))(names.map((n) => params.get(n) as tf.Tensor));
      out.loss = value.dataSync()[0] ?? NaN;
      names.forEach((n, i) => out.grads.set(n, grads[i]?.dataSync() as Float32Array));
    });
    return out;
  };
  return dropoutSeed === undefined ? run() : withAdapterDropout(model, dropoutSeed, run);
}

function assertSameGrads(a: ReturnType<typeof gradsOf>, b: ReturnType<typeof gradsOf>): void {
  assert.ok(Math.abs(a.loss - b.loss) <= 1e-5 * Math.max(1, Math.abs(a.loss)), `loss ${a.loss} vs ${b.loss}`);
  assert.deepEqual([...a.grads.keys()], [...b.grads.keys()]);
  for (const [name, ga] of a.grads) {
    const gb = b.grads.get(name) as Float32Array;
    const scale = Math.max(1e-3, ...Array.from(ga, Math.abs));
    let worst = 0;
    for (let i = 0; i < ga.length; i++) worst = Math.max(worst, Math.abs((ga[i] ?? 0) - (gb[i] ?? NaN)));
    assert.ok(worst <= 1e-5 * scale, `${name}: max |Δgrad| ${worst} (largest |grad| ${scale})`);
  }
}

/** Random, not-tiny weights (attention and MLP matter), LoRA B ≠ 0 as after training. */
function perturb(model: LanguageModel, seed: number): void {
  const rng = createRng(seed);
  for (const v of [...model.params.values(), ...[...(("lora" in model ? model.lora : undefined)?.adapters.values() ?? [])].flatMap(({ a, b }) => [a, b])]) {
    tf.tidy(() => v.assign(tf.tensor(normalArray(rng, v.size, 0.3), v.shape)));
  }
}

// wasm only: on the cpu backend tf.gather's gradient fails before any of this (with or without
// recomputation: "Error in transpose: rank of input 7 must match length of perm 0,1").
for (const backend of ["wasm"] as const) {
  test(`${backend}: recomputation gives the same loss and gradients (GPT-2, Llama GQA, Llama + LoRA with dropout)`, async () => {
    await initBackend({ prefer: backend });
    const alive = tf.memory().numTensors;

    const gpt = initGpt(gptTiny, 1);
    perturb(gpt, 11);
    assertSameGrads(gradsOf(gpt, false), gradsOf(gpt, true));
    disposeModel(gpt);

    const llama = initLlama(llamaTiny, 2);
    perturb(llama, 12);
    assertSameGrads(gradsOf(llama, false), gradsOf(llama, true));
    disposeModel(llama);

    const adapted = initLlama(llamaTiny, 3);
    attachLora(adapted, loraConfigSchema.parse({ targetModules: "all-linear", dropout: 0.3 }));
    perturb(adapted, 13);
    const plain = gradsOf(adapted, false, 5);
    assertSameGrads(plain, gradsOf(adapted, true, 5));
    // the masks really were drawn: another seed changes the gradients
    assert.notDeepEqual(plain.grads.get("model.layers.0.self_attn.q_proj.lora_A.weight"), gradsOf(adapted, false, 6).grads.get("model.layers.0.self_attn.q_proj.lora_A.weight"));
    disposeModel(adapted);

    assert.equal(tf.memory().numTensors, alive, "no tensors left behind");
  });
}

test("a forward without a tape gives the same logits, and the process default (a job's `recompute`) applies to forwards that do not say", async () => {
  await initBackend({ prefer: "wasm" });
  const model = initLlama(llamaTiny, 4);
  perturb(model, 14);
  const logits = (recompute?: boolean): Float32Array =>
    tf.tidy(() => (lmForward(model, tf.tensor2d(ids, [2, 6], "int32"), { recompute }).logits as tf.Tensor).dataSync() as Float32Array);
  const plain = logits(false);
  assert.deepEqual(logits(true), plain);
  const without = gradsOf(model, false);
  setRecompute(true);
  try {
    assertSameGrads(without, gradsOf(model, undefined));
  } finally {
    setRecompute(false);
  }
  disposeModel(model);
});

after(() => setRecompute(false));
