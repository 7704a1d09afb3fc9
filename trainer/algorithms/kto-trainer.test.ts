import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { resolveGptConfig } from "../contract/gpt-config.ts";
import { ktoConfigSchema } from "../contract/kto-config.ts";
import { disposeGpt, initGpt } from "../model/gpt.ts";
import { createRng } from "../random/rng.ts";
import { frozenReference } from "../rollouts/kl-guard.ts";
import { assertAwaitedStepsEqual } from "../testing/awaited-steps.ts";
import { createKtoTrainer, type UnpairedExample } from "./kto-trainer.ts";

before(async () => {
  await initBackend({ prefer: "wasm" });
});

const PAD = 0;
const END = 1;
const modelConfig = resolveGptConfig({ vocabSize: 16, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 32 });

/** Thumbs up/down with a known rule: answers of "good" tokens (2–8) are desirable, of "bad" ones (9–15) not. */
function examples(n: number, seed: number): UnpairedExample[] {
  const rng = createRng(seed);
  const pick = (lo: number, hi: number): number => lo + Math.floor(rng.next() * (hi - lo + 1));
  return Array.from({ length: n }, () => {
    const desirable = rng.next() < 0.5;
    const answer = desirable ? [pick(2, 8), pick(2, 8)] : [pick(9, 15), pick(9, 15)];
    return { prompt: [pick(2, 15), pick(2, 15)], completion: [...answer, END], desirable };
  });
}

test("the awaited step equals the synchronous one to the bit, and leaks nothing (what webgpu runs)", async () => {
  const train = examples(32, 1);
  const config = ktoConfigSchema.parse({ batchSize: 8, steps: 4, beta: 0.5, optim: { lr: 5e-3, minLr: 5e-4, warmupSteps: 1, weightDecay: 0 } });
  const [a, b] = [initGpt(modelConfig, 3), initGpt(modelConfig, 3)];
  const [refA, refB] = [frozenReference(a), frozenReference(b)];
  const [sync, awaited] = [createKtoTrainer(a, refA, train, config, PAD), createKtoTrainer(b, refB, train, config, PAD)];
  await assertAwaitedStepsEqual({ sync, awaited, models: [a, b], steps: 4, batchSize: 8 });
  assert.ok((sync.evaluate(train)["rewards/chosen"] ?? 0) > 0, "the runs trained: desirable answers rose");
  for (const t of [sync, awaited]) t.dispose();
  for (const r of [refA, refB]) r.dispose();
  for (const m of [a, b]) disposeGpt(m);
});

test("KTO: ½ per answer at step 0 (policy = reference, z₀ = 0), then desirable answers rise and undesirable ones fall against the reference", () => {
  const model = initGpt(modelConfig, 3);
  const reference = frozenReference(model);
  const train = examples(48, 1);
  const heldOut = examples(48, 2);
  const config = ktoConfigSchema.parse({ batchSize: 8, steps: 30, beta: 0.5, undesirableWeight: 1.5, optim: { lr: 5e-3, minLr: 5e-4, warmupSteps: 2, weightDecay: 0 } });
  const trainer = createKtoTrainer(model, reference, train, config, PAD);
  const rng = createRng(9);
  const batch = (): number[] => Array.from({ length: config.batchSize }, () => Math.floor(rng.next() * train.length));

  const indices = batch();
  const first = trainer.trainStep(indices);
  const nDesirable = indices.filter((i) => train[i]?.desirable).length;
  const expected = (nDesirable * 0.5 + (indices.length - nDesirable) * 1.5 * 0.5) / indices.length;
  assert.ok(Math.abs(first.loss - expected) < 1e-5, `step-0 loss ${first.loss} vs ${expected}`);
  // policy = reference: zero up to float32 rounding (the fused LayerNorm's gradient-recording forward
  // and the reference's plain forward may round a last bit differently)
  assert.ok(Math.abs(first["kl"] ?? NaN) < 1e-6, `step-0 KL ${first["kl"]}`);
  assert.ok(Math.abs(first["rewards/chosen"] ?? NaN) < 1e-5 && Math.abs(first["rewards/rejected"] ?? NaN) < 1e-5);
  const before = trainer.evaluate(heldOut);
  const tensors = tf.memory().numTensors;
  for (let s = 1; s < config.steps; s++) trainer.trainStep(batch());
  assert.equal(tf.memory().numTensors, tensors, "no tensor growth across KTO steps");
  const after = trainer.evaluate(heldOut);
  // rewards/* = β·(log π − log π_ref) averaged per side: up for desirable answers, down for undesirable ones
  assert.ok((after["rewards/chosen"] ?? 0) > 0.5, `held-out rewards/chosen ${before["rewards/chosen"]} → ${after["rewards/chosen"]}`);
  assert.ok((after["rewards/rejected"] ?? 0) < -0.5, `held-out rewards/rejected ${before["rewards/rejected"]} → ${after["rewards/rejected"]}`);
  assert.ok((after["logps/chosen"] ?? -Infinity) > (before["logps/chosen"] ?? 0) && (after["logps/rejected"] ?? Infinity) < (before["logps/rejected"] ?? 0));
  assert.ok(after.loss < before.loss, `held-out loss ${before.loss} → ${after.loss}`);
  trainer.dispose();
  reference.dispose();
  disposeGpt(model);
});
