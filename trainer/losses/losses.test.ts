import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { setFusedKernels } from "../backend/wasm-heap.ts";
import { checkGradients } from "../testing/grad-check.ts";
import { IGNORE_INDEX, nextTokenLogProbs, tokenLogProbs } from "./logprobs.ts";
import { sftLoss } from "./sft-loss.ts";
import { bradleyTerryLoss, rankingLoss, rankingPairs, rewardMetrics } from "./reward-loss.ts";
import { DPO_LOSS_TYPES, dpoLoss, dpoMetrics, rpoNll } from "./dpo-loss.ts";
import { gae, maskedWhiten, ppoPolicyLoss, ppoPolicyStats, ppoValueLoss } from "./ppo-loss.ts";

before(async () => {
  await initBackend({ prefer: "wasm" });
});

const close = (a: number, b: number, tol = 1e-5): void => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);
const scalar = (t: tf.Tensor): number => t.dataSync()[0] ?? NaN;
const LN2 = Math.log(2);

test("token log-probs: closed form of log-softmax, ignore index → 0, temperature divides logits", () => {
  tf.tidy(() => {
    const logits = tf.tensor3d([[[1, 2, 3], [0, 0, 0]]]); // (1, 2, 3)
    const lp = tokenLogProbs(logits, tf.tensor2d([[2, IGNORE_INDEX]], [1, 2], "int32")).dataSync();
    close(lp[0] ?? NaN, 3 - Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)));
    close(lp[1] ?? NaN, 0);
    const hot = tokenLogProbs(logits, tf.tensor2d([[0, 1]], [1, 2], "int32"), 2).dataSync();
    close(hot[0] ?? NaN, 0.5 - Math.log(Math.exp(0.5) + Math.exp(1) + Math.exp(1.5)));
    close(hot[1] ?? NaN, -Math.log(3));
    // next-token alignment: logits at t score token t+1
    const next = nextTokenLogProbs(logits, tf.tensor2d([[9, 1]], [1, 2], "int32")).dataSync();
    close(next[0] ?? NaN, 2 - Math.log(Math.exp(1) + Math.exp(2) + Math.exp(3)));
  });
});

test("fused token log-probs equal the op path, values and gradients, with temperature and ignored labels; bad labels are refused", () => {
  // (2, 5, 37): rows of several lengths' worth, labels at both ends of the vocabulary, two ignored
  const run = (fused: boolean, temperature: number): Float32Array[] => {
    setFusedKernels(fused);
    try {
      return tf.tidy(() => {
        const logits = tf.randomNormal([2, 5, 37], 0, 3, "float32", 11) as tf.Tensor3D;
        const labels = tf.tensor2d([[0, 36, 5, IGNORE_INDEX, 12], [IGNORE_INDEX, 1, 35, 20, 7]], [2, 5], "int32");
        const weights = tf.tensor2d([[1, -2, 0.5, 3, 1], [2, 1, -1, 0.25, 0]]); // upstream gradient per token, one of them 0
        const [g] = tf.grads((x: tf.Tensor) => tf.sum(tf.mul(tokenLogProbs(x as tf.Tensor3D, labels, temperature), weights)))([logits]);
        return [tokenLogProbs(logits, labels, temperature), g as tf.Tensor].map((t) => t.dataSync().slice() as Float32Array);
      });
    } finally {
      setFusedKernels(true);
    }
  };
  for (const temperature of [1, 0.7]) {
    const [fused, ops] = [run(true, temperature), run(false, temperature)];
    fused.forEach((a, k) => {
      const b = ops[k] as Float32Array;
      a.forEach((x, i) => assert.ok(Math.abs(x - (b[i] ?? NaN)) <= 1e-5 * Math.max(1, Math.abs(b[i] ?? 0)), `τ ${temperature} [${k}][${i}]: ${x} vs ${b[i]}`));
    });
    // ignored tokens: 0 out, and no gradient into their row
    assert.equal(fused[0]?.[3], 0);
    assert.ok((fused[1] as Float32Array).slice(3 * 37, 4 * 37).every((x) => x === 0));
  }
  tf.tidy(() => {
    const logits = tf.zeros([1, 2, 4]) as tf.Tensor3D;
    assert.throws(() => tokenLogProbs(logits, tf.tensor2d([[1, 4]], [1, 2], "int32")), /label 4 is outside the vocabulary of 4/);
    assert.throws(() => tokenLogProbs(logits, tf.tensor2d([[-1, 0]], [1, 2], "int32")), /label -1/);
  });
});

test("next-token log-probs: the fused path reads the whole logits (no logits slice, no PadV2) and equals the op path, values and gradients", async () => {
  // (3, 6, 29) with a target mask and temperature; the last position's logits score nothing and get a zero gradient
  const run = async (fused: boolean, temperature: number): Promise<{ out: Float32Array[]; kernels: string[] }> => {
    setFusedKernels(fused);
    try {
      let out: Float32Array[] = [];
      const profile = await tf.profile(() => {
        out = tf.tidy(() => {
          const logits = tf.randomNormal([3, 6, 29], 0, 2, "float32", 17) as tf.Tensor3D;
          const ids = tf.tensor2d([[1, 28, 0, 5, 9, 3], [4, 4, 27, 13, 2, 0], [7, 8, 6, 1, 11, 22]], [3, 6], "int32");
          const mask = tf.tensor2d([[0, 1, 1, 0, 1, 1], [1, 0, 1, 1, 1, 0], [0, 0, 0, 1, 1, 1]], [3, 6], "int32");
          const weights = tf.tensor2d([[1, -2, 0.5, 3, 1], [2, 1, -1, 0.25, 0.5], [0.7, 1, 1, -1, 2]]);
          const f = (x: tf.Tensor): tf.Tensor => tf.sum(tf.mul(nextTokenLogProbs(x as tf.Tensor3D, ids, mask, temperature), weights));
          const [g] = tf.grads(f)([logits]);
          return [nextTokenLogProbs(logits, ids, mask, temperature), g as tf.Tensor].map((t) => t.dataSync().slice() as Float32Array);
        });
      });
      // kernels that pad or slice a logits-sized (3, ·, 29) tensor
      const logitsSized = (shape: number[] | undefined): boolean => shape?.length === 3 && shape[2] === 29;
      return { out, kernels: profile.kernels.filter((k) => k.outputShapes.some(logitsSized)).map((k) => k.name) };
    } finally {
      setFusedKernels(true);
    }
  };
  for (const temperature of [1, 0.8]) {
    const [fused, ops] = [await run(true, temperature), await run(false, temperature)];
    assert.equal(fused.out[0]?.length, 3 * 5);
    fused.out.forEach((a, k) => {
      const b = ops.out[k] as Float32Array;
      assert.equal(a.length, b.length);
      a.forEach((x, i) => assert.ok(Math.abs(x - (b[i] ?? NaN)) <= 1e-5 * Math.max(1, Math.abs(b[i] ?? 0)), `τ ${temperature} [${k}][${i}]: ${x} vs ${b[i]}`));
    });
    const grad = fused.out[1] as Float32Array;
    for (let b = 0; b < 3; b++) assert.ok(grad.slice((b * 6 + 5) * 29, (b * 6 + 6) * 29).every((x) => x === 0), `row ${b}: last position has no gradient`);
    if (tf.getBackend() === "wasm") {
      for (const k of ["Slice", "PadV2"]) {
        assert.ok(!fused.kernels.includes(k), `fused path: no ${k} of the logits (${fused.kernels.join(",")})`);
        assert.ok(ops.kernels.includes(k), `the op path slices the logits, and its gradient pads (${ops.kernels.join(",")})`);
      }
    }
  }
});

test("fused token log-probs: a NaN or ∞ logit in a target row stays non-finite, value and gradient (the fast exp does not hide it)", () => {
  tf.tidy(() => {
    const logits = tf.tensor3d([[[0.5, NaN, 1], [Infinity, 0, 1], [1, 2, 3]]]); // (1, 3, 3)
    const labels = tf.tensor2d([[0, 1, 2]], [1, 3], "int32");
    const f = (x: tf.Tensor): tf.Tensor => tokenLogProbs(x as tf.Tensor3D, labels);
    const lp = Array.from(f(logits).dataSync());
    assert.ok(Number.isNaN(lp[0]) && !Number.isFinite(lp[1] as number) && Number.isFinite(lp[2] as number), `${lp}`);
    const g = Array.from((tf.grads(f)([logits])[0] as tf.Tensor).dataSync());
    assert.ok(g.slice(0, 3).every(Number.isNaN), `NaN row gradient ${g.slice(0, 3)}`);
    assert.ok(g.slice(6).every(Number.isFinite), `clean row gradient ${g.slice(6)}`);
  });
});

test("fused token log-probs: the gradient passes finite differences, at temperature 1 and 0.5", () => {
  tf.tidy(() => {
    const labels = tf.tensor2d([[3, 0, IGNORE_INDEX], [6, 2, 1]], [2, 3], "int32");
    const weights = tf.tensor2d([[1, -0.5, 2], [0.3, 1, -1]]);
    for (const temperature of [1, 0.5]) {
      const logits = tf.randomNormal([2, 3, 7], 0, 1, "float32", 5);
      const check = checkGradients(([x]) => tf.sum(tf.mul(tokenLogProbs(x as tf.Tensor3D, labels, temperature), weights)) as tf.Scalar, [logits]);
      assert.ok(check.maxRelError < 1e-2, `τ ${temperature}: rel error ${check.maxRelError}`);
    }
  });
});

test("SFT loss: uniform logits give ln V on target tokens only; gradient passes finite differences", () => {
  tf.tidy(() => {
    const ids = tf.tensor2d([[1, 2, 3, 4], [4, 3, 2, 1]], [2, 4], "int32");
    const mask = tf.tensor2d([[0, 0, 1, 1], [0, 1, 1, 0]], [2, 4], "int32");
    close(scalar(sftLoss(tf.zeros([2, 4, 5]) as tf.Tensor3D, ids, mask)), Math.log(5));
    // closed form with real logits: mean of −log p over the 4 target positions
    const logits = tf.randomNormal([2, 4, 5], 0, 1, "float32", 3) as tf.Tensor3D;
    const lsm = tf.logSoftmax(logits).arraySync() as number[][][];
    const nll = -((lsm[0]?.[1]?.[3] ?? 0) + (lsm[0]?.[2]?.[4] ?? 0) + (lsm[1]?.[0]?.[3] ?? 0) + (lsm[1]?.[1]?.[2] ?? 0)) / 4;
    close(scalar(sftLoss(logits, ids, mask)), nll);
    const check = checkGradients(([x]) => sftLoss(x as tf.Tensor3D, ids, mask), [logits]);
    assert.ok(check.maxRelError < 1e-2, `sft rel error ${check.maxRelError}`);
  });
});

test("Bradley–Terry: ln 2 and accuracy ½ when scores are equal; margin and centering closed forms; gradients", () => {
  tf.tidy(() => {
    const s = tf.tensor1d([0.3, -1.2, 2.0]);
    close(scalar(bradleyTerryLoss(s, s)), LN2);
    assert.equal(rewardMetrics([0.3, -1.2], [0.3, -1.2]).accuracy, 0.5);
    // d = c − r − m = [1 − 0.5, −2 − 0] → mean(softplus(−d))
    const c = tf.tensor1d([1, -1]);
    const r = tf.tensor1d([0, 1]);
    const expected = (Math.log1p(Math.exp(-0.5)) + Math.log1p(Math.exp(2))) / 2 + 0.01 * ((1 + 0) ** 2 + (-1 + 1) ** 2) / 2;
    close(scalar(bradleyTerryLoss(c, r, { margin: tf.tensor1d([0.5, 0]), centerCoefficient: 0.01 })), expected);
    const m = rewardMetrics([1, -1], [0, 1]);
    assert.deepEqual(m, { accuracy: 0.5, margin: -0.5, min_reward: -1, mean_reward: 0.25, max_reward: 1 });
    const check = checkGradients(([x, y]) => bradleyTerryLoss(x as tf.Tensor1D, y as tf.Tensor1D, { centerCoefficient: 0.1 }), [c, r]);
    assert.ok(check.maxRelError < 1e-2);
  });
});

test("rankings: K=3 with a tie expands to the right pairs, each prompt weighted equally", () => {
  // prompt 0: ranks [0, 1, 2] → 3 pairs; prompt 1: ranks [1, 0, 0] (tie) → 2 pairs
  const pairs = rankingPairs([[0, 1, 2], [1, 0, 0]]);
  assert.deepEqual(pairs.chosen, [0, 0, 1, 4, 5]);
  assert.deepEqual(pairs.rejected, [1, 2, 2, 3, 3]);
  pairs.weights.slice(0, 3).forEach((w) => close(w, 1 / 6));
  pairs.weights.slice(3).forEach((w) => close(w, 1 / 4));
  tf.tidy(() => {
    close(scalar(rankingLoss(tf.zeros([6]) as tf.Tensor1D, pairs)), LN2);
    const scores = tf.tensor1d([2, 1, 0, 0, 1, 1]);
    const sp = (d: number): number => Math.log1p(Math.exp(-d));
    close(scalar(rankingLoss(scores, pairs)), (sp(1) + sp(2) + sp(1)) / 6 + (sp(1) + sp(1)) / 4);
    const check = checkGradients(([x]) => rankingLoss(x as tf.Tensor1D, pairs), [scores]);
    assert.ok(check.maxRelError < 1e-2);
  });
});

test("DPO: policy = reference gives ln 2, zero rewards, accuracy ½ for sigmoid; hinge 1; IPO 1/(4β²)", () => {
  tf.tidy(() => {
    const lp = { policyChosen: tf.tensor1d([-5, -7]), policyRejected: tf.tensor1d([-6, -4]) };
    const same = { ...lp, refChosen: lp.policyChosen, refRejected: lp.policyRejected };
    close(scalar(dpoLoss(same, { beta: 0.1 })), LN2);
    close(scalar(dpoLoss(same, { beta: 0.1, labelSmoothing: 0.2 })), LN2);
    close(scalar(dpoLoss(same, { beta: 0.1, lossType: "hinge" })), 1);
    close(scalar(dpoLoss(same, { beta: 0.5, lossType: "ipo" })), 1);
    const m = dpoMetrics({ policyChosen: [-5, -7], policyRejected: [-6, -4], refChosen: [-5, -7], refRejected: [-6, -4] }, 0.1);
    assert.deepEqual(m, { "rewards/chosen": 0, "rewards/rejected": 0, "rewards/accuracies": 0.5, "rewards/margins": 0, "logps/chosen": -6, "logps/rejected": -5 });
  });
});

/** The DPO tests' batch of two at β 0.5: chosen log-ratios [1, −0.5], rejected [−0.5, 1], so Δ = [1.5, −1.5]. */
function dpoBatch() {
  const policyChosen = tf.tensor1d([-4, -7.5]);
  const policyRejected = tf.tensor1d([-6.5, -3]);
  return { beta: 0.5, policyChosen, policyRejected, l: { policyChosen, policyRejected, refChosen: tf.tensor1d([-5, -7]), refRejected: tf.tensor1d([-6, -4]) } };
}
/** −log σ(z) = softplus(−z) */
const sp = (x: number): number => Math.log1p(Math.exp(x));

test("DPO: closed forms away from the reference and finite-difference gradients for every loss type", () => {
  tf.tidy(() => {
    const { beta, policyChosen, policyRejected, l } = dpoBatch();
    close(scalar(dpoLoss(l, { beta })), (sp(-0.75) + sp(0.75)) / 2);
    close(scalar(dpoLoss(l, { beta, labelSmoothing: 0.1 })), (0.9 * sp(-0.75) + 0.1 * sp(0.75) + 0.9 * sp(0.75) + 0.1 * sp(-0.75)) / 2);
    close(scalar(dpoLoss(l, { beta, lossType: "hinge" })), (0.25 + 1.75) / 2);
    close(scalar(dpoLoss(l, { beta, lossType: "ipo" })), ((1.5 - 1) ** 2 + (-1.5 - 1) ** 2) / 2);
    const lengths = tf.tensor1d([2, 4]);
    // IPO per-token: Δ = [1/2 + 0.5/2, −0.5/4 − 1/4] = [0.75, −0.375]
    close(scalar(dpoLoss(l, { beta, lossType: "ipo", chosenLengths: lengths, rejectedLengths: lengths })), ((0.75 - 1) ** 2 + (-0.375 - 1) ** 2) / 2);
    const metrics = dpoMetrics({ policyChosen: [-4, -7.5], policyRejected: [-6.5, -3], refChosen: [-5, -7], refRejected: [-6, -4] }, beta);
    close(metrics["rewards/margins"] ?? NaN, 0);
    close(metrics["rewards/accuracies"] ?? NaN, 0.5);
    close(metrics["rewards/chosen"] ?? NaN, 0.125);
    for (const lossType of DPO_LOSS_TYPES) {
      const check = checkGradients(
        ([c, r]) => dpoLoss({ ...l, policyChosen: c as tf.Tensor1D, policyRejected: r as tf.Tensor1D }, { beta, lossType, labelSmoothing: 0.1 }),
        [policyChosen, policyRejected],
        { eps: 1e-3 },
      );
      assert.ok(check.maxRelError < 1e-2, `${lossType} rel error ${check.maxRelError}`);
    }
  });
});

test("RPO: DPO plus α times the chosen NLL per token over the batch; closed form and finite-difference gradients", () => {
  tf.tidy(() => {
    const { beta, policyChosen, policyRejected, l } = dpoBatch();
    const chosenLengths = tf.tensor1d([2, 3]);
    const dpo = (sp(-0.75) + sp(0.75)) / 2;
    // NLL per token: (4 + 7.5) / (2 + 3) = 2.3, not the mean of per-answer means (2 and 2.5)
    close(scalar(rpoNll(policyChosen, chosenLengths)), 2.3);
    close(scalar(dpoLoss(l, { beta, rpoAlpha: 1, chosenLengths })), dpo + 2.3);
    close(scalar(dpoLoss(l, { beta, rpoAlpha: 0.5, chosenLengths })), dpo + 1.15);
    close(scalar(dpoLoss(l, { beta, rpoAlpha: 0, chosenLengths })), dpo);
    assert.throws(() => dpoLoss(l, { beta, rpoAlpha: 1 }), /chosenLengths/);
    // ∂/∂log π(c_b) of the NLL term is −α/Σ|c|: the rejected side gets DPO's gradient only
    const check = checkGradients(
      ([c, r]) => dpoLoss({ ...l, policyChosen: c as tf.Tensor1D, policyRejected: r as tf.Tensor1D }, { beta, rpoAlpha: 1, chosenLengths }),
      [policyChosen, policyRejected],
      { eps: 1e-3 },
    );
    assert.ok(check.maxRelError < 1e-2, `rel error ${check.maxRelError}`);
    const g = tf.grad((c: tf.Tensor) => dpoLoss({ ...l, policyChosen: c as tf.Tensor1D }, { beta, rpoAlpha: 1, chosenLengths }))(policyChosen).dataSync();
    const gDpo = tf.grad((c: tf.Tensor) => dpoLoss({ ...l, policyChosen: c as tf.Tensor1D }, { beta }))(policyChosen).dataSync();
    [0, 1].forEach((i) => close((g[i] ?? NaN) - (gDpo[i] ?? NaN), -1 / 5));
  });
});

test("DPOP: Δ loses λ·max(0, −chosen log-ratio) inside the loss; nothing changes while the chosen answer stays above the reference; finite-difference gradients", () => {
  tf.tidy(() => {
    const { beta, policyChosen, policyRejected, l } = dpoBatch(); // only the second chosen answer fell below the reference
    // λ = 2: Δ' = [1.5, −1.5 − 2·0.5] = [1.5, −2.5]
    close(scalar(dpoLoss(l, { beta, dpopLambda: 2 })), (sp(-0.75) + sp(1.25)) / 2);
    close(scalar(dpoLoss(l, { beta, dpopLambda: 0 })), (sp(-0.75) + sp(0.75)) / 2);
    close(scalar(dpoLoss(l, { beta, dpopLambda: 2, lossType: "hinge" })), (0.25 + (1 + 0.5 * 2.5)) / 2);
    // ∂/∂log π(c) for the fallen pair: −β·σ(−βΔ')·(1 + λ) / B; for the other pair plain DPO's −β·σ(−βΔ) / B
    const g = tf.grad((c: tf.Tensor) => dpoLoss({ ...l, policyChosen: c as tf.Tensor1D }, { beta, dpopLambda: 2 }))(policyChosen).dataSync();
    const sig = (x: number): number => 1 / (1 + Math.exp(-x));
    close(g[0] ?? NaN, (-beta * sig(-0.75)) / 2);
    close(g[1] ?? NaN, (-beta * sig(1.25) * 3) / 2);
    for (const lossType of DPO_LOSS_TYPES) {
      // away from the hinge's kink (chosen ratios ±0.5 and 1, not 0)
      const check = checkGradients(
        ([c, r]) => dpoLoss({ ...l, policyChosen: c as tf.Tensor1D, policyRejected: r as tf.Tensor1D }, { beta, lossType, dpopLambda: 3 }),
        [policyChosen, policyRejected],
        { eps: 1e-3 },
      );
      assert.ok(check.maxRelError < 1e-2, `${lossType} rel error ${check.maxRelError}`);
    }
  });
});

test("GAE on a hand-computed example, and γ = λ = 1 gives Monte-Carlo returns minus values", () => {
  // row 0: r = [0, 0, 1], V = [0.5, 0.6, 0.7]; row 1 ends after 2 tokens: r = [0, 2, ·], V = [0.1, 0.2, ·]
  const rewards = new Float32Array([0, 0, 1, 0, 2, 9]);
  const values = new Float32Array([0.5, 0.6, 0.7, 0.1, 0.2, 5]);
  const mask = [1, 1, 1, 1, 1, 0];
  const { advantages, returns } = gae(rewards, values, mask, [2, 3], 0.9, 0.8);
  // δ2 = 1 − 0.7 = 0.3; δ1 = 0.9·0.7 − 0.6 = 0.03; A1 = 0.03 + 0.72·0.3 = 0.246; δ0 = 0.04; A0 = 0.04 + 0.72·0.246
  [0.21712, 0.246, 0.3, 1.376, 1.8, 0].forEach((e, i) => close(advantages[i] ?? NaN, e));
  [0.71712, 0.846, 1.0, 1.476, 2.0, 0].forEach((e, i) => close(returns[i] ?? NaN, e));
  const mc = gae(rewards, values, mask, [2, 3], 1, 1).advantages;
  [1 - 0.5, 1 - 0.6, 1 - 0.7, 2 - 0.1, 2 - 0.2, 0].forEach((e, i) => close(mc[i] ?? NaN, e));
});

test("GAE skips inserted tokens: a row with a tool result spliced in equals the same row without it", () => {
  // row 0: actions at t = 0, 1, 4 with tokens 2–3 inserted (mask 0); row 1: the same three actions, contiguous
  const rewards = new Float32Array([0.1, -0.2, 7, 7, 1, 0.1, -0.2, 1, 0, 0]);
  const values = new Float32Array([0.5, 0.6, 9, 9, 0.7, 0.5, 0.6, 0.7, 0, 0]);
  const mask = [1, 1, 0, 0, 1, 1, 1, 1, 0, 0];
  const { advantages, returns } = gae(rewards, values, mask, [2, 5], 0.9, 0.8);
  for (const [a, b] of [[0, 5], [1, 6], [4, 7]] as const) {
    close(advantages[a] ?? NaN, advantages[b] ?? NaN);
    close(returns[a] ?? NaN, returns[b] ?? NaN);
  }
  // δ2 = 1 − 0.7 = 0.3; δ1 = −0.2 + 0.9·0.7 − 0.6 = −0.17, A1 = −0.17 + 0.72·0.3 = 0.046; δ0 = 0.1 + 0.54 − 0.5 = 0.14
  [0.14 + 0.72 * 0.046, 0.046, 0, 0, 0.3].forEach((e, i) => close(advantages[i] ?? NaN, e));
});

test("whitening uses valid tokens only (unbiased variance) and can keep the mean", () => {
  const x = new Float32Array([1, 2, 3, 100]);
  const w = maskedWhiten(x, [1, 1, 1, 0]); // mean 2, unbiased var 1
  [-1, 0, 1, 0].forEach((e, i) => close(w[i] ?? NaN, e));
  const kept = maskedWhiten(x, [1, 1, 1, 0], false);
  [1, 2, 3, 0].forEach((e, i) => close(kept[i] ?? NaN, e));
});

test("PPO losses: closed forms, clipping, and finite-difference gradients", () => {
  tf.tidy(() => {
    const old = tf.tensor2d([[-1, -2, -3]]);
    const mask = tf.tensor2d([[1, 1, 0]]);
    const adv = tf.tensor2d([[1, -1, 5]]);
    // ratio = 1 everywhere: loss = −mean(A) over valid tokens = 0
    close(scalar(ppoPolicyLoss(old, old, adv, mask, 0.2)), 0);
    // token 0: ρ = e^0.5 > 1.2 with A > 0 → clipped to −1.2; token 1: ρ = e^−0.5 < 0.8 with A < 0 → −(−1)·0.8
    const moved = tf.tensor2d([[-0.5, -2.5, 0]]);
    close(scalar(ppoPolicyLoss(moved, old, adv, mask, 0.2)), (-1.2 + 0.8) / 2);
    const stats = ppoPolicyStats([-0.5, -2.5, 0], [-1, -2, -3], [1, -1, 5], [1, 1, 0], 0.2);
    close(stats["policy/clipfrac"], 1);
    close(stats["policy/approxkl"], 0.125);
    close(stats["val/ratio"], (Math.exp(0.5) + Math.exp(-0.5)) / 2);
    // inside the clip range the gradient flows: finite differences agree
    const near = tf.tensor2d([[-0.95, -2.05, -3]]);
    const check = checkGradients(([x]) => ppoPolicyLoss(x as tf.Tensor2D, old, adv, mask, 0.2), [near], { eps: 1e-3 });
    assert.ok(check.maxRelError < 1e-2, `policy rel error ${check.maxRelError}`);
    // value loss: V = [1, 3], V_old = [0, 0], R = [2, 2], clip 0.5 → max((V−R)², (clip(V)−R)²) = [2.25, 2.25]
    const vOld = tf.tensor2d([[0, 0, 0]]);
    const ret = tf.tensor2d([[2, 2, 0]]);
    close(scalar(ppoValueLoss(tf.tensor2d([[1, 3, 7]]), vOld, ret, mask, 0.5)), 0.5 * (2.25 + 2.25) / 2);
    const vCheck = checkGradients(([v]) => ppoValueLoss(v as tf.Tensor2D, vOld, ret, mask, 0.5), [tf.tensor2d([[0.2, -0.3, 1]])], { eps: 1e-3 });
    assert.ok(vCheck.maxRelError < 1e-2, `value rel error ${vCheck.maxRelError}`);
  });
});
