import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { optimConfigSchema } from "../contract/optim-config.ts";
import { sftConfigSchema } from "../contract/sft-config.ts";
import { dpoConfigSchema } from "../contract/dpo-config.ts";
import { ppoConfigSchema } from "../contract/ppo-config.ts";
import { adamwStep, awaitedUpdate, createAdamW, disposeAdamW } from "./adamw.ts";
import { setFusedKernels } from "../backend/wasm-heap.ts";
import { learningRateAt } from "./lr-schedule.ts";
import { clipScale, clipScaleAsync, globalNorm, GradAccumulator } from "./gradients.ts";
import { createRng, normalArray } from "../random/rng.ts";

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

test("awaitedUpdate: reads the loss and the kept tensors, clips by the global norm, takes AdamW's step; a NaN loss changes nothing and frees everything", async () => {
  // loss Σ (w − t)², gradient 2(w − t) = [−6, 8], norm 10; gradClip 1 scales it by 1/10, and AdamW's first step
  // moves each weight by lr against the gradient's sign whatever its scale (1-D: no decay)
  const optim = { ...optimConfigSchema.parse({ lr: 0.1, warmupSteps: 0, minLr: 0.1, gradClip: 1 }), totalSteps: 10 };
  const params = new Map([["w", tf.variable(tf.tensor1d([1, 2]))]]);
  const state = createAdamW(params);
  const target = tf.tensor1d([4, -2]);
  const before = tf.memory().numTensors;
  const out = await awaitedUpdate({ params, state, optim, step: 0, what: "test" }, (keep) => {
    const d = tf.sub(params.get("w")!, target);
    keep(tf.mul(d, 2));
    return tf.sum(tf.square(d)) as tf.Scalar;
  });
  close(out.loss, 25);
  assert.deepEqual(Array.from(out.reads[0] ?? []), [-6, 8], "the kept tensor, read after the loss");
  close(out.gradNorm, 10);
  close(out.lr, 0.1);
  const w = Array.from(params.get("w")!.dataSync());
  close(w[0] ?? NaN, 1.1, 1e-5);
  close(w[1] ?? NaN, 1.9, 1e-5);
  assert.equal(state.step, 1);
  assert.equal(tf.memory().numTensors, before, "the loss, the kept tensors and the gradients are freed");
  await assert.rejects(
    awaitedUpdate({ params, state, optim, step: 1, what: "test" }, (keep) => {
      keep(tf.mul(params.get("w")!, 0));
      return tf.mul(tf.sum(params.get("w")!), NaN) as tf.Scalar;
    }),
    /non-finite test loss NaN at step 2; resume from the last checkpoint with a lower lr/,
  );
  assert.deepEqual(Array.from(params.get("w")!.dataSync()).map((x) => Math.round(x * 1e5) / 1e5), [1.1, 1.9], "no update");
  assert.equal(state.step, 1);
  assert.equal(tf.memory().numTensors, before, "nothing leaks on the refusal");
  target.dispose();
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

for (const fused of [true, false]) {
  const path = fused ? "fused" : "tensor ops";

  test(`global-norm clipping (${path}): closed form on a 3-4-12 gradient`, () => {
    setFusedKernels(fused);
    const grads = new Map<string, tf.Tensor>([["a", tf.tensor1d([3, 4])], ["b", tf.tensor2d([[12]])]]);
    close(globalNorm(grads), 13);
    const { norm, scale } = clipScale(grads, 1.3);
    close(norm, 13);
    close(scale, 1.3 / (13 + 1e-6));
    assert.equal(clipScale(grads, 13).scale, 1); // at the limit: untouched
    assert.equal(clipScale(grads, 0).scale, 1); // 0 turns clipping off
    tf.dispose([...grads.values()]);
    setFusedKernels(true);
  });

  test(`clipScaleAsync (${path}): the same norm and factor as clipScale, read asynchronously, with no tensor left`, async () => {
    setFusedKernels(fused);
    // 30 gradients: more than WebGPU's 8 buffers per shader stage, which one addN would exceed
    const grads = new Map<string, tf.Tensor>(Array.from({ length: 30 }, (_, i) => [`g${i}`, tf.tensor1d([i % 2 ? 2 : -2, 1])] as [string, tf.Tensor]));
    const before = tf.memory().numTensors;
    const got = await clipScaleAsync(grads, 5);
    assert.equal(tf.memory().numTensors, before);
    close(got.norm, Math.sqrt(30 * 5));
    close(got.scale, 5 / (Math.sqrt(150) + 1e-6));
    assert.deepEqual(await clipScaleAsync(new Map(), 1), { norm: 0, scale: 1 });
    tf.dispose([...grads.values()]);
    setFusedKernels(true);
  });

  test(`AdamW (${path}): one clipped step on a 2×2 weight and a bias, against values worked by hand`, () => {
    setFusedKernels(fused);
    // lr 0.1, β (0.5, 0.75), ε 0.25, decay 0.5 on the matrix; gradients clipped from norm 5 to 2.5
    // (scale ½: 2.5 / (5 + 1e-6) ≈ 0.5 − 1e-7, which moves the results below by < 1e-7).
    // Step 1: ĝ = g/2; m = ½·ĝ, v = ¼·ĝ²; bias-corrected m̂ = ĝ, v̂ = ĝ², so the step is lr·ĝ/(|ĝ| + ε).
    //   w: keep = 1 − 0.1·0.5 = 0.95;  ĝ = (1, −1, 1, 0)  →  Δ = 0.1·ĝ/(|ĝ| + 0.25) = (0.08, −0.08, 0.08, 0)
    //      w = 0.95·(2, −1, 0.5, 0) − Δ = (1.82, −0.87, 0.395, 0)
    //   b: no decay;  ĝ = (1.5, −1)  →  Δ = (0.1·1.5/1.75, −0.1·1/1.25) = (0.085714…, −0.08)
    //      b = (1, 1) − Δ = (0.914285…, 1.08)
    const params = new Map<string, tf.Variable>([
      ["w", tf.variable(tf.tensor2d([[2, -1], [0.5, 0]]))],
      ["b", tf.variable(tf.tensor1d([1, 1]))],
    ]);
    const state = createAdamW(params);
    const grads = new Map<string, tf.Tensor>([["w", tf.tensor2d([[2, -2], [2, 0]])], ["b", tf.tensor1d([3, -2])]]);
    const { norm, scale } = clipScale(grads, 2.5);
    close(norm, 5); // √(4 + 4 + 4 + 0 + 9 + 4)
    adamwStep(params, state, grads, 0.1, { beta1: 0.5, beta2: 0.75, eps: 0.25, weightDecay: 0.5 }, scale);
    const w = Array.from((params.get("w") as tf.Variable).dataSync());
    const b = Array.from((params.get("b") as tf.Variable).dataSync());
    [1.82, -0.87, 0.395, 0].forEach((e, i) => close(w[i] ?? NaN, e, 1e-6));
    [1 - 0.15 / 1.75, 1.08].forEach((e, i) => close(b[i] ?? NaN, e, 1e-6));
    // the moments: m = ½·ĝ, v = ¼·ĝ²
    const mw = Array.from((state.m.get("w") as tf.Variable).dataSync());
    const vb = Array.from((state.v.get("b") as tf.Variable).dataSync());
    [0.5, -0.5, 0.5, 0].forEach((e, i) => close(mw[i] ?? NaN, e, 1e-6));
    [0.5625, 0.25].forEach((e, i) => close(vb[i] ?? NaN, e, 1e-6));
    tf.dispose([...grads.values()]);
    disposeAdamW(state);
    tf.dispose([...params.values()]);
    setFusedKernels(true);
  });
}

test("fused AdamW + clipping equals the tensor-op path over five steps on model-shaped tensors", () => {
  const shapes: Record<string, number[]> = { "wte": [64, 32], "h.0.attn.c_attn.w": [32, 96], "h.0.ln_1.g": [32], "h.0.mlp.b": [128], "wpe": [16, 32] };
  const h = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
  const run = (fused: boolean): Map<string, Float32Array> => {
    setFusedKernels(fused);
    const rng = createRng(7);
    const params = new Map(Object.entries(shapes).map(([name, shape]) => [name, tf.tidy(() => tf.variable(tf.tensor(normalArray(rng, shape.reduce((a, b) => a * b), 0.5), shape)))]));
    const state = createAdamW(params);
    const norms: number[] = [];
    for (let step = 0; step < 5; step++) {
      // gradients large enough to clip on some steps (max norm 3) and not on others
      const spread = step % 2 === 0 ? 0.2 : 0.01;
      const grads = new Map([...params].map(([name, p]) => [name, tf.tensor(normalArray(rng, p.size, spread), p.shape)]));
      const { norm, scale } = clipScale(grads, 3);
      norms.push(norm);
      adamwStep(params, state, grads, 1e-2 * (step + 1), h, scale);
      tf.dispose([...grads.values()]);
    }
    const out = new Map<string, Float32Array>();
    for (const [name, p] of params) {
      out.set(name, p.dataSync().slice() as Float32Array);
      out.set(`m.${name}`, (state.m.get(name) as tf.Variable).dataSync().slice() as Float32Array);
      out.set(`v.${name}`, (state.v.get(name) as tf.Variable).dataSync().slice() as Float32Array);
    }
    out.set("norms", Float32Array.from(norms));
    disposeAdamW(state);
    tf.dispose([...params.values()]);
    setFusedKernels(true);
    return out;
  };
  const before = tf.memory().numTensors;
  const [fused, ops] = [run(true), run(false)];
  assert.equal(tf.memory().numTensors, before, "no tensor left behind");
  const norms = fused.get("norms") as Float32Array;
  assert.ok(norms.some((n) => n > 3) && norms.some((n) => n < 3), `some steps clip, some do not: ${Array.from(norms).join(", ")}`);
  for (const [key, a] of fused) {
    const b = ops.get(key) as Float32Array;
    const scale = Math.max(1e-3, ...Array.from(b, Math.abs));
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] ?? 0) - (b[i] ?? NaN)));
    assert.ok(worst <= 1e-5 * scale, `${key}: max |Δ| ${worst} (scale ${scale})`);
  }
});

test("fused AdamW leaves tensors immutable: a clone and the initial tensor keep their values", () => {
  const init = tf.tensor2d([[1, 2], [3, 4]]);
  const p = tf.variable(init); // shares init's buffer
  const params = new Map([["w", p]]);
  const snapshot = p.clone(); // shares it too (wasm Identity)
  const state = createAdamW(params);
  const grads = new Map<string, tf.Tensor>([["w", tf.ones([2, 2])]]);
  adamwStep(params, state, grads, 0.1, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 });
  assert.deepEqual(Array.from(init.dataSync()), [1, 2, 3, 4]);
  assert.deepEqual(Array.from(snapshot.dataSync()), [1, 2, 3, 4]);
  Array.from(p.dataSync()).forEach((x, i) => close(x, i + 1 - 0.1, 1e-6));
  tf.dispose([init, snapshot, ...grads.values(), p]);
  disposeAdamW(state);
});

test("on plain wasm, a matmul after a fused AdamW step uses the new weights (XNNPACK caches packed weights by tensor id)", async () => {
  await initBackend({ prefer: "wasm", blas: "off" });
  try {
    const x = tf.tensor2d([[1, 2], [3, 4]]);
    const p = tf.variable(tf.tensor2d([[1, 0], [0, 1]]));
    const before = tf.matMul(x, p); // XNNPACK packs p here
    const state = createAdamW(new Map([["w", p]]));
    const grads = new Map<string, tf.Tensor>([["w", tf.ones([2, 2])]]);
    adamwStep(new Map([["w", p]]), state, grads, 0.5, { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 });
    // every weight moved by −lr (first step, sign of g): p = [[0.5, −0.5], [−0.5, 0.5]]
    const after = Array.from(tf.matMul(x, p).dataSync());
    [1 * 0.5 - 2 * 0.5, -0.5 + 2 * 0.5, 3 * 0.5 - 4 * 0.5, -1.5 + 4 * 0.5].forEach((e, i) => close(after[i] ?? NaN, e, 1e-6));
    tf.dispose([x, p, before, ...grads.values()]);
    disposeAdamW(state);
  } finally {
    await initBackend({ prefer: "wasm" });
  }
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
