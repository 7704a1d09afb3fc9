import assert from "node:assert/strict";
import { test } from "node:test";
import { featurize, pearson, predict, raterAgreementAccuracy, rankingAuc, ridgeGradient, ridgeLoss, trainRidge, type SparseVector } from "./quality-model.ts";

let state = 7;
const random = () => {
  state = (Math.imul(state, 1103515245) + 12345) >>> 0;
  return state / 2 ** 32;
};
/** n sparse rows over `dims` features, 1–4 non-zeros each. */
function problem(n: number, dims: number) {
  const xs: SparseVector[] = [];
  const ys: number[] = [];
  for (let i = 0; i < n; i++) {
    const picked = [...new Set(Array.from({ length: 1 + Math.floor(random() * 4) }, () => Math.floor(random() * dims)))].sort((a, b) => a - b);
    xs.push({ indices: Int32Array.from(picked), values: Float32Array.from(picked.map(() => random() * 2 - 1)) });
    ys.push(1 + random() * 4);
  }
  return { xs, ys };
}

test("the gradient matches central finite differences of the loss", () => {
  const dims = 12;
  const { xs, ys } = problem(20, dims);
  const lambda = 0.3;
  const w = Float64Array.from({ length: dims }, () => random() - 0.5);
  const b = 0.7;
  const grad = ridgeGradient(w, b, xs, ys, lambda);
  const h = 1e-6;
  for (let j = 0; j < dims; j++) {
    const plus = Float64Array.from(w);
    const minus = Float64Array.from(w);
    plus[j]! += h;
    minus[j]! -= h;
    const numeric = (ridgeLoss(plus, b, xs, ys, lambda) - ridgeLoss(minus, b, xs, ys, lambda)) / (2 * h);
    assert.ok(Math.abs(numeric - grad.weights[j]!) < 1e-7, `w${j}: ${numeric} vs ${grad.weights[j]}`);
  }
  const numericBias = (ridgeLoss(w, b + h, xs, ys, lambda) - ridgeLoss(w, b - h, xs, ys, lambda)) / (2 * h);
  assert.ok(Math.abs(numericBias - grad.bias) < 1e-7);
});

/** Solves A θ = c by Gaussian elimination with partial pivoting (the test's independent closed form). */
function solve(a: number[][], c: number[]): number[] {
  const n = c.length;
  const m = a.map((row, i) => [...row, c[i]!]);
  for (let col = 0; col < n; col++) {
    let pivot = col;
    for (let r = col + 1; r < n; r++) if (Math.abs(m[r]![col]!) > Math.abs(m[pivot]![col]!)) pivot = r;
    [m[col], m[pivot]] = [m[pivot]!, m[col]!];
    for (let r = 0; r < n; r++) {
      if (r === col) continue;
      const f = m[r]![col]! / m[col]![col]!;
      for (let k = col; k <= n; k++) m[r]![k]! -= f * m[col]![k]!;
    }
  }
  return m.map((row, i) => row[n]! / row[i]!);
}

test("conjugate gradient reaches the closed-form ridge solution (normal equations with an unpenalised bias)", () => {
  const dims = 10;
  const { xs, ys } = problem(40, dims);
  const lambda = 0.05;
  const n = xs.length;
  // Dense (XᵀX / n + λ diag(1…1, 0)) and Xᵀy / n, X with a ones column for the bias.
  const a = Array.from({ length: dims + 1 }, () => new Array<number>(dims + 1).fill(0));
  const c = new Array<number>(dims + 1).fill(0);
  xs.forEach((x, i) => {
    const row = new Array<number>(dims + 1).fill(0);
    x.indices.forEach((j, k) => (row[j] = x.values[k]!));
    row[dims] = 1;
    for (let p = 0; p <= dims; p++) {
      c[p]! += (row[p]! * ys[i]!) / n;
      for (let q = 0; q <= dims; q++) a[p]![q]! += (row[p]! * row[q]!) / n;
    }
  });
  for (let j = 0; j < dims; j++) a[j]![j]! += lambda;
  const exact = solve(a, c);
  const model = trainRidge(xs, ys, { dims, lambda });
  assert.ok(model.iterations <= dims + 1 + 5, `CG took ${model.iterations} steps`);
  for (let j = 0; j < dims; j++) assert.ok(Math.abs(model.weights[j]! - exact[j]!) < 1e-5, `w${j}: ${model.weights[j]} vs ${exact[j]}`);
  assert.ok(Math.abs(model.bias - exact[dims]!) < 1e-6);
  // And the gradient vanishes there.
  const grad = ridgeGradient(Float64Array.from(model.weights), model.bias, xs, ys, lambda);
  assert.ok(Math.max(...grad.weights.map(Math.abs), Math.abs(grad.bias)) < 1e-5);
});

test("with no signal the model predicts the mean rating (the bias is the unpenalised intercept)", () => {
  const xs = Array.from({ length: 6 }, () => featurize(""));
  const model = trainRidge(xs, [1, 2, 3, 4, 5, 3], { dims: 64, lambda: 1 });
  assert.ok(Math.abs(model.bias - 3) < 1e-9);
  assert.ok(Math.abs(predict(model, featurize("")) - 3) < 1e-9);
});

test("features: unit length, deterministic, unigrams and bigrams, case-folded", () => {
  const a = featurize("The river runs; the river bends.", 1 << 10);
  const b = featurize("the RIVER runs the river bends", 1 << 10);
  assert.deepEqual(a, b);
  const norm = Math.sqrt(a.values.reduce((s, v) => s + v * v, 0));
  assert.ok(Math.abs(norm - 1) < 1e-6);
  // 4 distinct words + 5 bigrams (one repeated: "the river"), collisions aside.
  assert.ok(a.indices.length >= 7 && a.indices.length <= 8, String(a.indices.length));
  assert.equal(featurize("", 16).indices.length, 0);
});

test("AUC, correlation and rater agreement on known cases", () => {
  assert.equal(rankingAuc([0.1, 0.4, 0.35, 0.8], [false, false, true, true]), 0.75);
  assert.equal(rankingAuc([1, 1, 1], [true, false, false]), 0.5);
  assert.equal(rankingAuc([1, 2], [true, true]), null);
  assert.ok(Math.abs(pearson([1, 2, 3], [2, 4, 6])! - 1) < 1e-12);
  // Doc 1: both agree; doc 2: the 2 disagrees with the others' mean 4.5, the 4 and the 5 agree (at threshold 3).
  assert.equal(raterAgreementAccuracy([[4, 5], [2, 4, 5]], 3), 4 / 5);
});
