// GRPO, RLOO and KTO losses against hand-computed values, and their gradients by finite differences.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { checkGradients } from "../testing/grad-check.ts";
import { clipStats, grpoAdvantages, grpoLoss, k3Kl, nanMeanStd, type GrpoLossOptions } from "./grpo-loss.ts";
import { rlooAdvantages, rlooClipStats, rlooLoss } from "./rloo-loss.ts";
import { ktoLoss, ktoMetrics, ktoReferencePoint, mismatchedIndex } from "./kto-loss.ts";

before(async () => {
  await initBackend({ prefer: "wasm" });
});

const close = (a: number, b: number, tol = 1e-5): void => assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b}`);
const closeAll = (a: ArrayLike<number>, b: number[], tol = 1e-5): void => {
  assert.equal(a.length, b.length);
  b.forEach((x, i) => close(a[i] ?? NaN, x, tol));
};
const scalar = (t: tf.Tensor): number => t.dataSync()[0] ?? NaN;
const sigmoid = (x: number): number => 1 / (1 + Math.exp(-x));

test("nanMeanStd: Bessel-corrected std over finite entries, NaN below two", () => {
  const s = nanMeanStd([1, NaN, 3, 5]);
  close(s.mean, 3);
  close(s.std, 2); // √((4 + 0 + 4) / 2)
  assert.equal(s.count, 3);
  assert.ok(Number.isNaN(nanMeanStd([7, NaN]).std));
});

test("GRPO advantages: group mean/std (Bessel) + 1e-4; batch and no scaling; zero-std groups; unscored answers get 0", () => {
  const rewards = [1, 0, 0, 1, 1, 1, 1, 1];
  const groupStd = Math.sqrt(1 / 3); // four values ±0.5 around 0.5: Σ = 1, / (4 − 1)
  const g = grpoAdvantages(rewards, 4, "group");
  const a = 0.5 / (groupStd + 1e-4);
  closeAll(g.advantages, [a, -a, -a, a, 0, 0, 0, 0]);
  assert.deepEqual(g.zeroStd, [false, false, false, false, true, true, true, true]);
  const batchStd = Math.sqrt(1.5 / 7); // mean 0.75: 6·0.0625 + 2·0.5625 = 1.5
  const b = grpoAdvantages(rewards, 4, "batch");
  const ab = 0.5 / (batchStd + 1e-4);
  closeAll(b.advantages, [ab, -ab, -ab, ab, 0, 0, 0, 0]);
  assert.ok(b.zeroStd.every((z) => !z));
  closeAll(grpoAdvantages(rewards, 4, "none").advantages, [0.5, -0.5, -0.5, 0.5, 0, 0, 0, 0]);
  // NaN = no source scored the answer: left out of the group's mean/std, advantage 0
  const n = grpoAdvantages([1, NaN, 0, 0], 4, "group");
  const s = Math.sqrt(1 / 3); // values 1, 0, 0: mean 1/3, Σ(x − m)² = 4/9 + 1/9 + 1/9 = 2/3, / 2
  closeAll(n.advantages, [(2 / 3) / (s + 1e-4), 0, (-1 / 3) / (s + 1e-4), (-1 / 3) / (s + 1e-4)]);
  // a group with one scorable answer has no std: no signal, and not counted as "zero std" (TRL isclose on NaN)
  const one = grpoAdvantages([1, NaN, NaN, NaN], 4, "group");
  closeAll(one.advantages, [0, 0, 0, 0]);
  assert.deepEqual(one.zeroStd, [false, false, false, false]);
  assert.throws(() => grpoAdvantages([1, 2, 3], 2, "group"), /groups of 2/);
});

test("RLOO advantages: r_i − mean of the others = G/(G−1)·(r_i − mean); unscored siblings left out; normalisation", () => {
  closeAll(rlooAdvantages([1, 0, 0, 1], 4, false), [2 / 3, -2 / 3, -2 / 3, 2 / 3]);
  const r = [0.3, -1.2, 2.5, 0.7, 4, 4, 1];
  const a = rlooAdvantages(r, 7, false);
  const mean = r.reduce((x, y) => x + y, 0) / 7;
  r.forEach((x, i) => close(a[i] ?? NaN, (7 / 6) * (x - mean)));
  // scorable siblings only: baselines over the other two scored answers
  closeAll(rlooAdvantages([1, NaN, 0, 0.5], 4, false), [1 - 0.25, 0, 0 - 0.75, 0.5 - 0.5]);
  closeAll(rlooAdvantages([1, NaN, NaN, NaN], 4, false), [0, 0, 0, 0]);
  const norm = rlooAdvantages([1, 0, 0, 1, 3, 1, 2, 2], 4, true);
  const s = nanMeanStd(norm);
  close(s.mean, 0);
  close(s.std, 1, 1e-3);
});

test("k3 KL: closed form, zero at equality, never negative", () => {
  tf.tidy(() => {
    const logp = tf.tensor1d([-1, -2, -0.5, -3]);
    const ref = tf.tensor1d([-1, -1, -2, -3.5]);
    const k = k3Kl(logp, ref).dataSync();
    const expected = [0, 1, -1.5, -0.5].map((d) => Math.exp(d) - d - 1);
    closeAll(k, expected);
    assert.ok(Array.from(k).every((x) => x >= 0));
  });
});

const base: GrpoLossOptions = { epsilonLow: 0.2, epsilonHigh: 0.2, beta: 0, lossType: "dapo", maxCompletionLength: 4 };

test("GRPO loss: ratio 1 gives −A per policy token; dapo, grpo and dr_grpo aggregation; clipping; β·k3", () => {
  tf.tidy(() => {
    const old = tf.tensor2d([[-1, -2, -3], [-1, -1, -1]]);
    const mask = tf.tensor2d([[1, 1, 0], [1, 0, 0]]);
    const adv = tf.tensor1d([2, -1]);
    // per token −A: row 0 → −2, −2 (third masked), row 1 → +1
    close(scalar(grpoLoss(old, old, null, adv, mask, base)), (-2 - 2 + 1) / 3);
    close(scalar(grpoLoss(old, old, null, adv, mask, { ...base, lossType: "grpo" })), (-2 + 1) / 2);
    close(scalar(grpoLoss(old, old, null, adv, mask, { ...base, lossType: "dr_grpo" })), (-2 - 2 + 1) / (2 * 4));
    // ratios 1.5 (A > 0: clipped at 1.2) and 0.5 (A < 0: clipped at 0.8), one token each
    const logp = tf.tensor2d([[-1 + Math.log(1.5), -2, -3], [-1 + Math.log(0.5), -1, -1]]);
    close(scalar(grpoLoss(logp, old, null, adv, mask, base)), (-1.2 * 2 - 2 + 0.8) / 3);
    // a higher upper clip lets the positive token's ratio through
    close(scalar(grpoLoss(logp, old, null, adv, mask, { ...base, epsilonHigh: 0.6 })), (-1.5 * 2 - 2 + 0.8) / 3);
    // the KL term: β·k3 per policy token, same aggregation
    const ref = tf.tensor2d([[-1.5, -2, -9], [-0.5, -9, -9]]);
    const k3 = (lp: number, r: number): number => Math.exp(r - lp) - (r - lp) - 1;
    const expected = (-2 + 0.1 * k3(-1, -1.5) - 2 + 0.1 * k3(-2, -2) + 1 + 0.1 * k3(-1, -0.5)) / 3;
    close(scalar(grpoLoss(old, old, ref, adv, mask, { ...base, beta: 0.1 })), expected);
    assert.throws(() => grpoLoss(old, old, null, adv, mask, { ...base, beta: 0.1 }), /reference/);
  });
});

test("GRPO loss: gradients pass finite differences; masked (inserted) tokens get exactly zero gradient", () => {
  tf.tidy(() => {
    const B = 3, W = 5;
    const rng = (i: number): number => Math.sin(i * 12.9898) * 0.5;
    const old = tf.tensor2d(Array.from({ length: B * W }, (_, i) => -1 - Math.abs(rng(i)) * 2), [B, W]);
    // inside the clip range so the loss is smooth where we differentiate
    const logp = tf.add(old, tf.tensor2d(Array.from({ length: B * W }, (_, i) => rng(i + 100) * 0.2), [B, W])) as tf.Tensor2D;
    const ref = tf.add(old, tf.tensor2d(Array.from({ length: B * W }, (_, i) => rng(i + 200)), [B, W])) as tf.Tensor2D;
    // a synthetic policy mask: row 1 has an inserted span (a tool result) in the middle
    const maskValues = [1, 1, 1, 0, 0, 1, 0, 0, 1, 1, 1, 1, 1, 1, 0];
    const mask = tf.tensor2d(maskValues, [B, W]);
    const adv = tf.tensor1d([1.3, -0.7, 0.4]);
    for (const lossType of ["dapo", "grpo", "dr_grpo"] as const) {
      const f = (xs: tf.Tensor[]): tf.Scalar => grpoLoss(xs[0] as tf.Tensor2D, old, ref, adv, mask, { ...base, beta: 0.05, lossType, epsilonLow: 0.3, epsilonHigh: 0.3 });
      const check = checkGradients(f, [logp], { eps: 1e-3 });
      assert.ok(check.maxRelError < 2e-2, `${lossType} rel error ${check.maxRelError}`);
      const g = tf.grad((x: tf.Tensor) => f([x]))(logp).dataSync();
      maskValues.forEach((m, i) => {
        if (!m) assert.ok(g[i] === 0, `gradient at inserted token ${i}: ${g[i]}`);
        else assert.notEqual(g[i], 0, `gradient at policy token ${i}`);
      });
    }
  });
});

test("GRPO clip metrics: low/high/region shares over policy tokens, min/max of each answer's share", () => {
  // row 0 (A > 0): ratios 1.5 (high-clipped), 1.0; row 1 (A < 0): ratios 0.5 (low-clipped), 0.9, masked 0.1
  const old = [0, 0, 0, 0, 0, 0];
  const logp = [Math.log(1.5), 0, 0, Math.log(0.5), Math.log(0.9), Math.log(0.1)];
  const mask = [1, 1, 0, 1, 1, 0];
  const s = clipStats(logp, old, [1, -1], mask, 3, 0.2, 0.2);
  close(s["clip_ratio/high_mean"], 1 / 4);
  close(s["clip_ratio/low_mean"], 1 / 4);
  close(s["clip_ratio/region_mean"], 2 / 4);
  close(s["clip_ratio/low_min"], 0); // row 0 has no low-clipped token
  close(s["clip_ratio/high_max"], 1 / 2);
});

test("RLOO loss: sequence ratio, clipped, mean over answers; gradients; clip metrics", () => {
  tf.tidy(() => {
    const old = tf.tensor1d([-5, -7, -3]);
    const adv = tf.tensor1d([1, -2, 0.5]);
    close(scalar(rlooLoss(old, old, adv, 0.2, 0.2)), -(1 - 2 + 0.5) / 3);
    // ratios e^0.5 ≈ 1.65 (A > 0: clipped at 1.2), e^−1 ≈ 0.37 (A < 0: clipped at 0.8), 1
    const seq = tf.tensor1d([-4.5, -8, -3]);
    close(scalar(rlooLoss(seq, old, adv, 0.2, 0.2)), (-1.2 * 1 + 0.8 * 2 - 0.5) / 3);
    const inside = tf.tensor1d([-5.05, -6.9, -3.1]);
    const check = checkGradients((xs) => rlooLoss(xs[0] as tf.Tensor1D, old, adv, 0.2, 0.2), [inside], { eps: 1e-3 });
    assert.ok(check.maxRelError < 1e-2, `rel error ${check.maxRelError}`);
    const s = rlooClipStats([-4.5, -8, -3], [-5, -7, -3], [1, -2, 0.5], 0.2, 0.2);
    close(s["clip_ratio/high_mean"] ?? NaN, 1 / 3);
    close(s["clip_ratio/low_mean"] ?? NaN, 1 / 3);
    close(s["clip_ratio/region_mean"] ?? NaN, 2 / 3);
  });
});

test("KTO: reference point from mismatched pairs (clamped at 0), rotation by one, hand-computed loss and metrics", () => {
  close(ktoReferencePoint([-3, -4], [-3.5, -4.1]), 0.3);
  assert.equal(ktoReferencePoint([-5, -4], [-3, -4]), 0); // a negative mean is clamped
  assert.deepEqual([0, 1, 2, 3].map((i) => mismatchedIndex(i, 4)), [3, 0, 1, 2]);
  tf.tidy(() => {
    // policy = reference and z₀ = 0: every term is λ·(1 − σ(0)) = λ/2
    const same = tf.tensor1d([-2, -3, -4]);
    close(scalar(ktoLoss(same, same, tf.tensor1d([1, 0, 1]), 0, { beta: 0.1, desirableWeight: 1, undesirableWeight: 1 })), 0.5);
    close(scalar(ktoLoss(same, same, tf.tensor1d([1, 0, 1]), 0, { beta: 0.1, desirableWeight: 1, undesirableWeight: 1.5 })), (0.5 + 0.75 + 0.5) / 3);
    // log-ratios 0.5, 0, −1 with z₀ = 0.2, β = 0.1, λ_U = 1.5
    const policy = tf.tensor1d([-1, -2, -3]);
    const ref = tf.tensor1d([-1.5, -2, -2]);
    const labels = tf.tensor1d([1, 0, 1]);
    const o = { beta: 0.1, desirableWeight: 1, undesirableWeight: 1.5 };
    const expected = ((1 - sigmoid(0.1 * (0.5 - 0.2))) + 1.5 * (1 - sigmoid(0.1 * (0.2 - 0))) + (1 - sigmoid(0.1 * (-1 - 0.2)))) / 3;
    close(scalar(ktoLoss(policy, ref, labels, 0.2, o)), expected);
    const check = checkGradients((xs) => ktoLoss(xs[0] as tf.Tensor1D, ref, labels, 0.2, { ...o, beta: 0.7 }), [policy], { eps: 1e-3 });
    assert.ok(check.maxRelError < 1e-2, `rel error ${check.maxRelError}`);
    // d loss / d log π: desirable rows are pushed up (negative gradient), undesirable ones down
    const g = tf.grad((x: tf.Tensor) => ktoLoss(x as tf.Tensor1D, ref, labels, 0.2, o))(policy).dataSync();
    assert.ok((g[0] ?? 0) < 0 && (g[2] ?? 0) < 0 && (g[1] ?? 0) > 0, `gradient signs ${Array.from(g)}`);
    close(g[0] ?? NaN, -(0.1 * sigmoid(0.03) * (1 - sigmoid(0.03))) / 3);
  });
  const m = ktoMetrics({ policyLogps: [-1, -2, -3], refLogps: [-1.5, -2, -2], desirable: [1, 0, 1], z0: 0.2 }, 0.1);
  close(m["kl"] ?? NaN, 0.2);
  close(m["rewards/chosen"] ?? NaN, (0.05 - 0.1) / 2);
  close(m["rewards/rejected"] ?? NaN, 0);
  close(m["rewards/margins"] ?? NaN, -0.025);
  close(m["logps/chosen"] ?? NaN, -2);
  close(m["logps/rejected"] ?? NaN, -2);
  // a batch without undesirable answers logs no rejected side and no margin (TRL)
  assert.deepEqual(Object.keys(ktoMetrics({ policyLogps: [-1], refLogps: [-1], desirable: [1], z0: 0 }, 0.1)).sort(), ["kl", "logps/chosen", "rewards/chosen"]);
});
