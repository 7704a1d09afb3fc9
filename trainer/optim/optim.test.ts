import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { optimConfigSchema } from "../contract/optim-config.ts";
import { sftConfigSchema } from "../contract/sft-config.ts";
import { dpoConfigSchema } from "../contract/dpo-config.ts";
import { ppoConfigSchema } from "../contract/ppo-config.ts";
import { adamwStep, createAdamW, disposeAdamW } from "./adamw.ts";
import { learningRateAt } from "./lr-schedule.ts";
import { clipByGlobalNorm, globalNorm, GradAccumulator } from "./gradients.ts";

before(async () => {
  await initBackend({ prefer: "wasm" });
});

const close = (a: number, b: number, tol = 1e-6): void => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);

test("AdamW: two steps on a scalar weight (decayed) and a scalar bias (not decayed) match the closed form", () => {
  const h = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
  const lr = 0.01;
  const params = new Map<string, tf.Variable>([
    ["w", tf.variable(tf.tensor2d([[1.5]]))],
    ["b", tf.variable(tf.tensor1d([-0.5]))],
  ]);
  const state = createAdamW(params);
  const gradsPerStep = [[0.2, -0.3], [-0.4, 0.1]];
  // closed form, by hand
  let w = 1.5, b = -0.5, mw = 0, vw = 0, mb = 0, vb = 0;
  gradsPerStep.forEach(([gw = 0, gb = 0], i) => {
    const t = i + 1;
    mw = 0.9 * mw + 0.1 * gw; vw = 0.95 * vw + 0.05 * gw * gw;
    mb = 0.9 * mb + 0.1 * gb; vb = 0.95 * vb + 0.05 * gb * gb;
    w = w * (1 - lr * 0.1) - (lr * (mw / (1 - 0.9 ** t))) / (Math.sqrt(vw / (1 - 0.95 ** t)) + 1e-8);
    b = b - (lr * (mb / (1 - 0.9 ** t))) / (Math.sqrt(vb / (1 - 0.95 ** t)) + 1e-8);
    const grads = new Map<string, tf.Tensor>([["w", tf.tensor2d([[gw]])], ["b", tf.tensor1d([gb])]]);
    adamwStep(params, state, grads, lr, h);
    tf.dispose([...grads.values()]);
  });
  close((params.get("w") as tf.Variable).dataSync()[0] ?? NaN, w);
  close((params.get("b") as tf.Variable).dataSync()[0] ?? NaN, b);
  assert.equal(state.step, 2);
  disposeAdamW(state);
  tf.dispose([...params.values()]);
});

test("AdamW: the first step moves each weight by lr (times sign of g), whatever the gradient's scale", () => {
  const params = new Map([["b", tf.variable(tf.tensor1d([0, 0, 0]))]]);
  const state = createAdamW(params);
  const g = new Map<string, tf.Tensor>([["b", tf.tensor1d([1e-3, -50, 2])]]);
  adamwStep(params, state, g, 0.1, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.5 });
  const out = Array.from((params.get("b") as tf.Variable).dataSync());
  [-0.1, 0.1, -0.1].forEach((e, i) => close(out[i] ?? NaN, e, 1e-5));
  tf.dispose([...g.values()]);
  disposeAdamW(state);
  tf.dispose([...params.values()]);
});

test("warmup + cosine schedule: values at known steps", () => {
  const c = { lr: 1e-3, minLr: 1e-4, warmupSteps: 9, totalSteps: 109 };
  close(learningRateAt(0, c), 1e-4); // (0+1)/(9+1)·lr
  close(learningRateAt(4, c), 5e-4);
  close(learningRateAt(9, c), 1e-3); // cosine starts at the peak
  close(learningRateAt(59, c), 5.5e-4); // half way: (lr + minLr)/2
  close(learningRateAt(109, c), 1e-4);
  close(learningRateAt(500, c), 1e-4);
  // cos(π/4) at a quarter of the decay
  close(learningRateAt(34, c), 1e-4 + 0.5 * (1 + Math.SQRT1_2) * 9e-4);
});

test("the cosine ends at the run's last step unless optim.totalSteps says otherwise", () => {
  assert.equal(sftConfigSchema.parse({ steps: 37 }).optim.totalSteps, 37);
  assert.equal(sftConfigSchema.parse({}).optim.totalSteps, sftConfigSchema.parse({}).steps);
  assert.equal(sftConfigSchema.parse({ steps: 37, optim: { totalSteps: 100 } }).optim.totalSteps, 100);
  // PPO counts optimizer steps: rollouts × epochs × ⌈rolloutBatchSize / miniBatchSize⌉
  assert.equal(ppoConfigSchema.parse({ rollouts: 10, ppoEpochs: 3, rolloutBatchSize: 10, miniBatchSize: 4 }).optim.totalSteps, 90);
  // so a run of `steps` decays all the way: the step after the last is at minLr, the last just above it
  const c = sftConfigSchema.parse({ steps: 20, optim: { warmupSteps: 2 } });
  close(learningRateAt(c.steps, c.optim), c.optim.minLr);
  assert.ok(learningRateAt(c.steps - 1, c.optim) < c.optim.minLr + 0.01 * (c.optim.lr - c.optim.minLr));
});

test("a partial optim object keeps the trainer's own defaults for the fields it leaves out", () => {
  const dpo = dpoConfigSchema.parse({ optim: { lr: 1e-5 } }).optim;
  assert.equal(dpo.lr, 1e-5);
  assert.equal(dpo.weightDecay, 0); // DPO's default, not nanoGPT's 0.1
  assert.equal(dpo.warmupSteps, 10);
  assert.equal(dpoConfigSchema.parse({}).optim.lr, 1e-4);
  assert.equal(optimConfigSchema.parse({}).weightDecay, 0.1);
  assert.throws(() => sftConfigSchema.parse({ optim: { lr: -1 } }), /lr/);
  assert.throws(() => sftConfigSchema.parse({ optim: { learningRate: 1 } }), /learningRate/);
});

test("global-norm clipping: closed form on a 3-4-12 gradient", () => {
  const grads = new Map<string, tf.Tensor>([["a", tf.tensor1d([3, 4])], ["b", tf.tensor2d([[12]])]]);
  close(globalNorm(grads), 13);
  const { grads: clipped, norm } = clipByGlobalNorm(grads, 1.3);
  close(norm, 13);
  const scale = 1.3 / (13 + 1e-6);
  close((clipped.get("a") as tf.Tensor).dataSync()[1] ?? NaN, 4 * scale);
  close(globalNorm(clipped), 1.3, 1e-5);
  tf.dispose([...clipped.values()]);
  const small = new Map<string, tf.Tensor>([["a", tf.tensor1d([0.3, 0.4])]]);
  const kept = clipByGlobalNorm(small, 1);
  assert.equal(kept.grads.get("a"), small.get("a")); // under the limit: untouched
  tf.dispose([...small.values()]);
});

test("gradient accumulation averages micro-batch gradients and leaks nothing", () => {
  const before = tf.memory().numTensors;
  const acc = new GradAccumulator();
  acc.add(new Map([["w", tf.tensor1d([1, 2])]]));
  acc.add(new Map([["w", tf.tensor1d([3, 6])]]));
  assert.equal(acc.micros, 2);
  const mean = acc.mean();
  assert.deepEqual(Array.from((mean.get("w") as tf.Tensor).dataSync()), [2, 4]);
  tf.dispose([...mean.values()]);
  assert.equal(tf.memory().numTensors, before);
});

test("optimizer config: explicit epsilon and nanoGPT defaults", () => {
  const c = optimConfigSchema.parse({});
  assert.equal(c.eps, 1e-8);
  assert.equal(c.beta2, 0.95);
  assert.throws(() => optimConfigSchema.parse({ lr: -1 }));
});
