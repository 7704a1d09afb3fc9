import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { resolveGptConfig } from "../contract/gpt-config.ts";
import { dpoConfigSchema } from "../contract/dpo-config.ts";
import { disposeGpt, initGpt } from "../model/gpt.ts";
import { createRng } from "../random/rng.ts";
import { assertAwaitedStepsEqual } from "../testing/awaited-steps.ts";
import { collatePairs, createDpoTrainer, precomputeReferenceLogps, precomputeReferenceLogpsAsync, type PreferencePair } from "./dpo-trainer.ts";

before(async () => {
  await initBackend({ prefer: "wasm" });
});

const PAD = 0;
const END = 1;
const modelConfig = resolveGptConfig({ vocabSize: 16, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 32 });

/**
 * Synthetic preference with a known reward: the number of "good" tokens (2–8) in the answer. The
 * chosen answer has two good tokens, the rejected one none (tokens 9–15); prompts are random.
 */
function pairs(n: number, seed: number): PreferencePair[] {
  const rng = createRng(seed);
  const pick = (lo: number, hi: number): number => lo + Math.floor(rng.next() * (hi - lo + 1));
  return Array.from({ length: n }, () => ({
    prompt: [pick(2, 15), pick(2, 15)],
    chosen: [pick(2, 8), pick(2, 8), END],
    rejected: [pick(9, 15), pick(9, 15), END],
  }));
}

test("collate: chosen rows then rejected rows, completion mask on the answers only", () => {
  const b = collatePairs([{ prompt: [5], chosen: [6, END], rejected: [7, 8, END] }], PAD);
  assert.deepEqual(b.shape, [2, 4]);
  assert.deepEqual(Array.from(b.inputIds), [5, 6, END, PAD, 5, 7, 8, END]);
  assert.deepEqual(Array.from(b.completionMask), [0, 1, 1, 0, 0, 1, 1, 1]);
  assert.deepEqual(Array.from(b.lastIndex), [2, 3]);
  assert.throws(() => collatePairs([{ prompt: [5], chosen: [], rejected: [7] }], PAD), /empty completion/);
  assert.throws(() => collatePairs([{ prompt: [5, 5, 5], chosen: [6], rejected: [7] }], PAD, 3), /exceeds maxLength/);
});

test("DPO: ln 2 and accuracy ½ at step 0, then held-out preferences learned without leaking tensors", () => {
  const model = initGpt(modelConfig, 5);
  const train = pairs(32, 1);
  const heldOut = pairs(32, 2);
  const config = dpoConfigSchema.parse({
    beta: 0.5, batchSize: 8, steps: 40, optim: { lr: 5e-3, minLr: 5e-4, warmupSteps: 2, totalSteps: 40, weightDecay: 0 },
  });
  const heldOutRef = precomputeReferenceLogps(model, heldOut, PAD, 16); // the reference = the model before training
  const trainer = createDpoTrainer(model, train, config, PAD);
  const rng = createRng(9);
  const batch = (): number[] => Array.from({ length: config.batchSize }, () => Math.floor(rng.next() * train.length));

  const first = trainer.trainStep(batch());
  assert.ok(Math.abs(first.loss - Math.LN2) < 1e-4, `step-0 loss ${first.loss}`);
  // policy = reference: the margin is 0 up to float noise (with native BLAS a sequence's log-probs depend on
  // its batch at the 1e-7 level, so exact ties, accuracy ½, hold only on plain wasm)
  assert.ok(Math.abs(first["rewards/margins"] ?? NaN) < 1e-5, `step-0 margin ${first["rewards/margins"]}`);
  assert.ok(Math.abs(first["rewards/chosen"] ?? NaN) < 1e-4 && Math.abs(first["rewards/margins"] ?? NaN) < 1e-4);
  const before = trainer.evaluate(heldOut, heldOutRef);
  const tensors = tf.memory().numTensors;
  for (let s = 1; s < config.steps; s++) trainer.trainStep(batch());
  assert.equal(tf.memory().numTensors, tensors, "no tensor growth across DPO steps");
  const after = trainer.evaluate(heldOut, heldOutRef);
  assert.ok((after["rewards/accuracies"] ?? 0) >= 0.9, `held-out accuracy ${before["rewards/accuracies"]} → ${after["rewards/accuracies"]}`);
  assert.ok((after.loss ?? 1) < 0.5 * Math.LN2, `held-out loss ${after.loss}`);
  assert.ok((after["rewards/margins"] ?? 0) > 0);
  trainer.dispose();
  disposeGpt(model);
});

test("the awaited step and reference pass equal the synchronous ones to the bit, and leak nothing (what webgpu runs)", async () => {
  const train = pairs(32, 1);
  const config = dpoConfigSchema.parse({ beta: 0.5, batchSize: 8, steps: 4, optim: { lr: 5e-3, minLr: 5e-4, warmupSteps: 1, totalSteps: 4, weightDecay: 0 } });
  const [a, b] = [initGpt(modelConfig, 5), initGpt(modelConfig, 5)];
  const reference = await precomputeReferenceLogpsAsync(b, train, PAD, 8);
  assert.deepEqual(reference, precomputeReferenceLogps(a, train, PAD, 8));
  const [sync, awaited] = [createDpoTrainer(a, train, config, PAD), createDpoTrainer(b, train, config, PAD, { reference })];
  await assertAwaitedStepsEqual({ sync, awaited, models: [a, b], steps: 4, batchSize: 8 });
  assert.ok(sync.step === 4 && (sync.trainStep([0, 1]).loss ?? NaN) < Math.LN2, "the runs trained: the loss fell below ln 2");
  for (const t of [sync, awaited]) t.dispose();
  for (const m of [a, b]) disposeGpt(m);
});

/** Trains a fresh model `steps` steps on all 32 pairs in order (8 per step, lr 5e-3); the first step's metrics and the end's evaluation. */
function trainInOrder(train: PreferencePair[], settings: { rpoAlpha?: number; dpopLambda: number; steps: number }) {
  const model = initGpt(modelConfig, 5);
  const { steps } = settings;
  const config = dpoConfigSchema.parse({ beta: 0.5, ...settings, batchSize: 8, optim: { lr: 5e-3, minLr: 5e-4, warmupSteps: 2, totalSteps: steps, weightDecay: 0 } });
  const trainer = createDpoTrainer(model, train, config, PAD);
  const all = train.map((_, i) => i);
  const first = trainer.trainStep(all.slice(0, 8));
  for (let s = 1; s < steps; s++) trainer.trainStep(all.slice((s * 8) % 32, (s * 8) % 32 + 8));
  const after = trainer.evaluate(train, trainer.reference);
  trainer.dispose();
  disposeGpt(model);
  return { first, after };
}

test("RPO (rpoAlpha): the step-0 loss is ln 2 plus α·NLL, nll_loss is reported, and the chosen answers' likelihood ends higher than plain DPO's", () => {
  const train = pairs(32, 1);
  const run = (rpoAlpha: number) => {
    const { first, after } = trainInOrder(train, { rpoAlpha, dpopLambda: 0, steps: 20 });
    return { first, chosen: after["logps/chosen"] ?? NaN };
  };
  const plain = run(0);
  const rpo = run(1);
  assert.equal(plain.first["nll_loss"], undefined, "plain DPO reports no NLL");
  const nll = rpo.first["nll_loss"] ?? NaN;
  // each chosen answer is 3 tokens of a 16-token vocabulary: an untrained model's NLL is near ln 16
  assert.ok(nll > 2 && nll < 3.5, `step-0 nll_loss ${nll}`);
  assert.ok(Math.abs(rpo.first.loss - (Math.LN2 + nll)) < 1e-4, `step-0 loss ${rpo.first.loss} vs ln 2 + ${nll}`);
  assert.ok(rpo.chosen > plain.chosen + 0.25, `chosen log-likelihood: RPO ${rpo.chosen}, plain DPO ${plain.chosen}`);
});

test("DPOP (dpopLambda): the loss is ln 2 and dpop_penalty 0 at step 0, and on pairs that differ in one token the chosen answers end more likely than under plain DPO", () => {
  // chosen and rejected share their first two tokens and differ in the third: the case DPOP was made for
  const rng = createRng(1);
  const pick = (lo: number, hi: number): number => lo + Math.floor(rng.next() * (hi - lo + 1));
  const train: PreferencePair[] = Array.from({ length: 32 }, () => {
    const a = pick(2, 15), b = pick(2, 15);
    return { prompt: [pick(2, 15)], chosen: [a, b, pick(2, 8), END], rejected: [a, b, pick(9, 15), END] };
  });
  const plain = trainInOrder(train, { dpopLambda: 0, steps: 30 });
  const dpop = trainInOrder(train, { dpopLambda: 50, steps: 30 });
  assert.equal(plain.first["dpop_penalty"], undefined, "plain DPO reports no DPOP penalty");
  assert.ok(Math.abs(dpop.first.loss - Math.LN2) < 1e-4, `step-0 loss ${dpop.first.loss}`);
  assert.ok((dpop.first["dpop_penalty"] ?? NaN) < 1e-4, `step-0 penalty ${dpop.first["dpop_penalty"]}`);
  assert.ok((dpop.after["rewards/accuracies"] ?? 0) >= 0.9, `DPOP still learns the preference: ${dpop.after["rewards/accuracies"]}`);
  const chosen = (r: typeof plain) => r.after["logps/chosen"] ?? NaN;
  assert.ok(chosen(dpop) > chosen(plain) + 0.2, `chosen log-likelihood: DPOP ${chosen(dpop)}, plain DPO ${chosen(plain)}`);
});
