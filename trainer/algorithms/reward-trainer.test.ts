import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { resolveGptConfig } from "../contract/gpt-config.ts";
import { rewardConfigSchema } from "../contract/reward-config.ts";
import { disposeGpt, initGpt } from "../model/gpt.ts";
import { disposeModel } from "../model/lm.ts";
import { createRng } from "../random/rng.ts";
import { collateRankings, createRewardTrainer, scoreCompletions, type RankingExample } from "./reward-trainer.ts";

before(async () => {
  await initBackend({ prefer: "wasm" });
});

const PAD = 0;
const END = 1;
const modelConfig = resolveGptConfig({ vocabSize: 16, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 32, scalarHead: "reward" });

/** Known reward: the number of "good" tokens (2–8) in a completion. K = 4 completions ranked by it (ties allowed). */
function rankings(n: number, seed: number): RankingExample[] {
  const rng = createRng(seed);
  const pick = (lo: number, hi: number): number => lo + Math.floor(rng.next() * (hi - lo + 1));
  return Array.from({ length: n }, () => {
    const completions = Array.from({ length: 4 }, () => [...Array.from({ length: 3 }, () => (rng.next() < 0.5 ? pick(2, 8) : pick(9, 15))), END]);
    const reward = completions.map((c) => c.filter((t) => t >= 2 && t <= 8).length);
    const distinct = [...new Set(reward)].sort((a, b) => b - a);
    return { prompt: [pick(2, 15), pick(2, 15)], completions, ranks: reward.map((r) => distinct.indexOf(r)) };
  });
}

test("scores are read at the last real token, so padding never changes them", () => {
  const model = initGpt(modelConfig, 1);
  tf.tidy(() => {
    const long = { prompt: [3, 4], completions: [[5, 6, 7, END]], ranks: [0] };
    const short = { prompt: [3, 4], completions: [[9, END]], ranks: [0] };
    const together = scoreCompletions(model, collateRankings([long, short], PAD)).dataSync();
    const alone = scoreCompletions(model, collateRankings([short], PAD)).dataSync();
    assert.ok(Math.abs((together[1] ?? NaN) - (alone[0] ?? NaN)) < 1e-5);
  });
  disposeGpt(model);
});

test("a zero reward head gives loss ln 2 and accuracy ½ (ties), as Bradley–Terry at equal scores", () => {
  const model = initGpt(modelConfig, 2);
  (model.params.get("score.weight") as tf.Variable).assign(tf.tidy(() => tf.zeros([32, 1])));
  const trainer = createRewardTrainer(model, rewardConfigSchema.parse({}), PAD);
  const m = trainer.evaluate(rankings(8, 3));
  assert.ok(Math.abs((m.loss ?? NaN) - Math.LN2) < 1e-6);
  assert.equal(m.accuracy, 0.5);
  // each prompt's margin reaches its own pairs: loss = mean over prompts of softplus(margin)
  const [a, b] = rankings(2, 7) as [RankingExample, RankingExample];
  const withMargins = trainer.evaluate([{ ...a, margin: 1 }, { ...b, margin: 3 }]);
  assert.ok(Math.abs((withMargins.loss ?? NaN) - (Math.log1p(Math.E) + Math.log1p(Math.exp(3))) / 2) < 1e-5);
  trainer.dispose();
  disposeGpt(model);
});

test("trained on rankings from a known reward, the RM ranks held-out pairs well above chance", () => {
  const model = initGpt(modelConfig, 3);
  const train = rankings(64, 4);
  const heldOut = rankings(32, 5);
  const config = rewardConfigSchema.parse({ batchSize: 8, steps: 40, centerCoefficient: 0.01, optim: { lr: 3e-3, minLr: 3e-4, warmupSteps: 2, totalSteps: 40, weightDecay: 0 } });
  const trainer = createRewardTrainer(model, config, PAD);
  const rng = createRng(6);
  const before = trainer.evaluate(heldOut);
  const first = trainer.trainStep(train.slice(0, 8));
  const tensors = tf.memory().numTensors;
  for (let s = 1; s < config.steps; s++) trainer.trainStep(Array.from({ length: config.batchSize }, () => train[Math.floor(rng.next() * train.length)] as RankingExample));
  assert.equal(tf.memory().numTensors, tensors, "no tensor growth across reward-model steps");
  const after = trainer.evaluate(heldOut);
  assert.ok((after.accuracy ?? 0) >= 0.85, `held-out accuracy ${before.accuracy} → ${after.accuracy}`);
  assert.ok((after.loss ?? 1) < (first.loss ?? 0), `loss ${first.loss} → ${after.loss}`);
  for (const key of ["accuracy", "margin", "min_reward", "mean_reward", "max_reward"]) assert.ok(Number.isFinite(after[key]), key);
  trainer.dispose();
  disposeGpt(model);
});

test("trainStepAsync is trainStep with its reads awaited: the same metrics and weights, clipping included, no leaked tensors; a NaN stops it before any update", async () => {
  // lr 1e-2 with clip 0.05 clips every step
  const clipped = rewardConfigSchema.parse({ batchSize: 4, optim: { lr: 1e-2, warmupSteps: 1, totalSteps: 5, gradClip: 0.05 } });
  const [a, b] = [createRewardTrainer(initGpt(modelConfig, 8), clipped, PAD), createRewardTrainer(initGpt(modelConfig, 8), clipped, PAD)];
  a.trainStep(rankings(4, 20)); // the first step allocates the optimizer's state
  await b.trainStepAsync(rankings(4, 20));
  const tensors = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    const [sync, awaited] = [a.trainStep(rankings(4, 21 + i)), await b.trainStepAsync(rankings(4, 21 + i))];
    assert.deepEqual(awaited, sync);
    assert.ok((sync["gradNorm"] ?? 0) > 0.05, "clipping is active");
    assert.ok(Number.isFinite(sync["accuracy"]) && Number.isFinite(sync["margin"]), "metrics from the pairs' scores");
  }
  assert.equal(tf.memory().numTensors, tensors);
  for (const [name, p] of a.model.params) assert.deepEqual(Array.from(b.model.params.get(name)!.dataSync()), Array.from(p.dataSync()), name);
  const before = Array.from(b.model.params.get("wte.weight")!.dataSync());
  const nan = tf.fill([32], NaN);
  (b.model.params.get("ln_f.weight") as tf.Variable).assign(nan);
  nan.dispose();
  await assert.rejects(b.trainStepAsync(rankings(4, 30)), /non-finite reward loss NaN at step 5/);
  assert.deepEqual(Array.from(b.model.params.get("wte.weight")!.dataSync()), before);
  assert.equal(tf.memory().numTensors, tensors, "the refused step left nothing behind");
  for (const t of [a, b]) { t.dispose(); disposeModel(t.model); }
});
