// The step-time changes of decision trainer-026 (step-kernels.ts) against the paths they replace and against plain
// JS references, on whatever the process runs: wasm with OpenBLAS, or plain wasm under TANDEM_BLAS=off (then the
// "lm-head" and "bias-sum" groups fall back to the old paths and the tests check those). Groups:
//   embedding  GatherV2 / UnsortedSegmentSum as row copies and row adds over heap views (wasm-embedding-kernels.ts)
//   lm-head    the tied LM head with transpose flags (matmul.ts tiedLmHead), a new gradient: finite differences too
//   bias-sum   Sum over leading axes as cblas_sgemv (wasm-layout-kernels.ts)
//   causal     the in-place attention's products split to skip the masked quarter (qkv-attention.ts; needs OpenBLAS)
//   linear     x·w + b (+ residual) as one op, the bias in sgemm's output with beta 1 (matmul.ts linearBias, trainer-031)
import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "./select-backend.ts";
import { setStepKernels } from "./step-kernels.ts";
import { setSimdKernels } from "./wasm-simd.ts";
import { linearBias, tiedLmHead, transposedMatMulIsFast } from "./matmul.ts";
import { referenceSgemm } from "./native-blas.ts";
import { checkGradients } from "../testing/grad-check.ts";
import { createRng, normalArray } from "../random/rng.ts";
import { resolveGptConfig } from "../contract/gpt-config.ts";
import { attentionBias, disposeGpt, gptForward, initGpt, type GptModel } from "../model/gpt.ts";
import { causalSplits, qkvAttention } from "../model/qkv-attention.ts";

const info = await initBackend({ prefer: "wasm", blasThreads: 1 });
const where = info.blas ? "wasm + OpenBLAS" : "plain wasm";

after(() => setStepKernels(true));

const randn = (shape: number[], seed: number, std = 1): tf.Tensor => tf.tensor(normalArray(createRng(seed), shape.reduce((p, d) => p * d, 1), std), shape);
const values = (t: tf.Tensor): Float32Array => t.dataSync().slice() as Float32Array;

/** Runs fn with exactly the given groups on (true: all, false: none). */
function withGroups<T>(on: Parameters<typeof setStepKernels>[0], fn: () => T): T {
  setStepKernels(on);
  try {
    return fn();
  } finally {
    setStepKernels(true);
  }
}

function assertClose(want: ArrayLike<number>, got: ArrayLike<number>, tol: number, what: string): void {
  assert.equal(got.length, want.length, `${what}: length`);
  let scale = 1;
  for (let i = 0; i < want.length; i++) scale = Math.max(scale, Math.abs(want[i] as number));
  let worst = 0;
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs((want[i] as number) - ((got[i] as number) ?? Number.NaN)));
  assert.ok(worst <= tol * scale, `${what}: max |Δ| ${worst} (scale ${scale})`);
}

// ---- embedding ------------------------------------------------------------------------------------------------------

type GatherCase = { shape: number[]; axis: number; indices: number[]; indicesShape: number[]; dtype: "float32" | "int32" };
const GATHER_CASES: GatherCase[] = [
  { shape: [29, 16], axis: 0, indices: [3, 0, 28, 3, 7, 7, 1], indicesShape: [7], dtype: "float32" },
  { shape: [13, 33], axis: 0, indices: [1, 12, 0, 5, 5, 9], indicesShape: [2, 3], dtype: "float32" }, // odd row length, 2-D ids
  { shape: [11, 3], axis: 0, indices: [10, 2, 2, 0, 4], indicesShape: [5], dtype: "float32" }, // short rows (element loop)
  { shape: [4, 9, 5], axis: 1, indices: [8, 0, 3, 3], indicesShape: [4], dtype: "float32" }, // along a middle axis
  { shape: [7, 6], axis: 1, indices: [5, 0, 5], indicesShape: [3], dtype: "float32" }, // along the last axis (runs of 1)
  { shape: [9, 20], axis: 0, indices: [8, 1, 1, 4], indicesShape: [4], dtype: "int32" },
  { shape: [6, 4], axis: 0, indices: [], indicesShape: [0], dtype: "float32" }, // no indices
];

/** out[o, i, :] = x[o, ids[i], :], in float64 from the JS arrays. */
function referenceGather(x: ArrayLike<number>, shape: number[], axis: number, ids: number[]): number[] {
  const outer = shape.slice(0, axis).reduce((p, d) => p * d, 1);
  const dim = shape[axis] as number;
  const inner = shape.slice(axis + 1).reduce((p, d) => p * d, 1);
  const out: number[] = [];
  for (let o = 0; o < outer; o++) for (const id of ids) for (let j = 0; j < inner; j++) out.push(x[(o * dim + id) * inner + j] as number);
  return out;
}

test(`embedding group (${where}): GatherV2 from heap views equals the stock kernel and a JS reference, any axis, odd sizes, int32`, () => {
  for (const c of GATHER_CASES) {
    const size = c.shape.reduce((p, d) => p * d, 1);
    const data = c.dtype === "int32" ? Int32Array.from({ length: size }, (_, i) => (i * 37) % 101 - 50) : normalArray(createRng(size), size, 1);
    const x = tf.tensor(data, c.shape, c.dtype);
    const ids = tf.tensor(c.indices, c.indicesShape, "int32");
    const on = withGroups(true, () => tf.gather(x, ids, c.axis));
    const off = withGroups(false, () => tf.gather(x, ids, c.axis));
    const what = JSON.stringify(c);
    assert.deepEqual(on.shape, off.shape, what);
    assert.equal(on.dtype, c.dtype);
    assert.deepEqual(Array.from(on.dataSync()), Array.from(off.dataSync()), `${what}: on vs stock`);
    assert.deepEqual(Array.from(on.dataSync()), referenceGather(Array.from(data), c.shape, c.axis, c.indices), `${what}: on vs reference`);
    tf.dispose([x, ids, on, off]);
  }
});

test(`embedding group (${where}): an index out of range throws as the stock kernel does`, () => {
  const x = tf.ones([5, 4]);
  for (const bad of [5, -1]) {
    const ids = tf.tensor1d([0, bad], "int32");
    withGroups(true, () => assert.throws(() => tf.gather(x, ids), /GatherV2: the index value/));
    withGroups(false, () => assert.throws(() => tf.gather(x, ids), /GatherV2: the index value/));
    ids.dispose();
  }
  x.dispose();
});

test(`embedding group (${where}): UnsortedSegmentSum from heap views equals the JS kernel bit for bit; ids out of range dropped`, () => {
  const cases: { rows: number; inner: number[]; segments: number; ids: number[] }[] = [
    { rows: 7, inner: [5], segments: 4, ids: [3, 0, 3, 1, 3, 2, 0] },
    { rows: 6, inner: [3, 11], segments: 9, ids: [8, 8, 8, 0, -1, 9] }, // rank-3 values; −1 and 9 are dropped
    { rows: 5, inner: [], segments: 3, ids: [2, 2, 1, 0, 2] }, // scalar rows
    { rows: 65, inner: [33], segments: 30, ids: Array.from({ length: 65 }, (_, i) => (i * 7) % 30) },
  ];
  for (const c of cases) {
    for (const dtype of ["float32", "int32"] as const) {
      const shape = [c.rows, ...c.inner];
      const size = shape.reduce((p, d) => p * d, 1);
      const x = dtype === "int32" ? tf.tensor(Int32Array.from({ length: size }, (_, i) => (i * 13) % 17 - 8), shape, "int32") : randn(shape, size);
      const ids = tf.tensor1d(c.ids, "int32");
      const on = withGroups(true, () => tf.unsortedSegmentSum(x, ids, c.segments));
      const off = withGroups(false, () => tf.unsortedSegmentSum(x, ids, c.segments));
      const what = `${JSON.stringify(c)} ${dtype}`;
      assert.deepEqual(on.shape, [c.segments, ...c.inner], what);
      assert.equal(on.dtype, dtype);
      assert.deepEqual(Array.from(on.dataSync()), Array.from(off.dataSync()), what);
      tf.dispose([x, ids, on, off]);
    }
  }
});

/** A tiny GPT's loss on two padded rows (vocabulary 31) and its gradient for every parameter, as arrays. */
function lossAndGradients(model: GptModel): Float32Array[] {
  return tf.tidy(() => {
    const ids = tf.tensor2d([[1, 2, 3, 30, 5, 1, 1], [0, 0, 7, 8, 9, 10, 2]], [2, 7], "int32");
    const attentionMask = tf.tensor2d([[1, 1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1, 1]], [2, 7], "int32");
    const targets = tf.oneHot(tf.tensor2d([[2, 3, 4, 5, 6, 7, 8], [0, 0, 8, 9, 10, 11, 12]], [2, 7], "int32"), 31);
    const vars = [...model.params.values()];
    const { value, grads } = tf.variableGrads(() => tf.mean(tf.mul(tf.logSoftmax(gptForward(model, ids, { attentionMask }).logits as tf.Tensor), targets)) as tf.Scalar, vars);
    return [value, ...vars.map((v) => grads[v.name] as tf.Tensor)].map(values);
  }) as unknown as Float32Array[];
}

test(`embedding group (${where}): a tiny GPT's loss and every gradient (wte, wpe included) agree on and off`, () => {
  const model = initGpt(resolveGptConfig({ vocabSize: 31, blockSize: 16, nLayer: 1, nHead: 2, nEmbd: 12 }), 5);
  const run = () => lossAndGradients(model);
  const off = withGroups(false, run);
  const embeddingOnly = withGroups(["embedding"], run);
  const all = withGroups(true, run);
  off.forEach((a, k) => {
    assert.deepEqual(Array.from(embeddingOnly[k] as Float32Array), Array.from(a), `embedding only [${k}] bit-identical`);
    assertClose(a, all[k] as Float32Array, 1e-5, `all groups [${k}]`);
  });
  disposeGpt(model);
});

// ---- lm-head --------------------------------------------------------------------------------------------------------

const HEAD_CASES: [number, number, number][] = [[5, 7, 11], [33, 48, 65], [1, 1, 3], [17, 9, 2]]; // (N, C, V)

test(`lm-head group (${where}): x·wᵀ and its gradients equal the transposed-copy path and a float64 reference`, () => {
  for (const [N, C, V] of HEAD_CASES) {
    const x = randn([N, C], N * 100 + C) as tf.Tensor2D;
    const w = randn([V, C], V, 0.5) as tf.Tensor2D;
    const dy = randn([N, V], 7);
    const run = (): Float32Array[] =>
      tf.tidy(() => {
        const y = tiedLmHead(x, w);
        const g = tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tiedLmHead(a as tf.Tensor2D, b as tf.Tensor2D), dy)))([x, w]);
        return [y, ...g].map(values);
      }) as unknown as Float32Array[];
    const off = withGroups(false, run);
    const on = withGroups(true, run);
    const [xs, ws, ds] = [values(x), values(w), values(dy)];
    const want = [
      referenceSgemm(false, true, N, V, C, xs, ws), // y = x·wᵀ
      referenceSgemm(false, false, N, C, V, ds, ws), // dx = dy·w
      referenceSgemm(true, false, V, C, N, ds, xs), // dw = dyᵀ·x
    ];
    const what = `(N, C, V) = (${N}, ${C}, ${V})`;
    want.forEach((r, k) => {
      assertClose(r, on[k] as Float32Array, 1e-5, `${what} on [${k}] vs reference`);
      assertClose(off[k] as Float32Array, on[k] as Float32Array, 1e-5, `${what} on vs off [${k}]`);
    });
    tf.dispose([x, w, dy]);
  }
});

test(`lm-head group (${where}): a frozen embedding gives x its gradient and no product for w`, () => {
  const x = randn([9, 6], 3) as tf.Tensor2D;
  const w = tf.variable(randn([13, 6], 4), false);
  const dy = randn([9, 13], 5);
  const grad = (): Float32Array => tf.tidy(() => values(tf.grad((a: tf.Tensor) => tf.sum(tf.mul(tiedLmHead(a as tf.Tensor2D, w as tf.Tensor as tf.Tensor2D), dy)))(x)));
  assertClose(withGroups(false, grad), withGroups(true, grad), 1e-5, "dx, frozen w");
  tf.dispose([x, w, dy]);
});

test(`lm-head group (${where}): the flagged product's gradients pass a finite-difference check`, () => {
  assert.equal(transposedMatMulIsFast(), info.blas !== null);
  tf.tidy(() => {
    const x = randn([7, 5], 11);
    const w = randn([9, 5], 12, 0.5);
    const probe = randn([7, 9], 13);
    const loss = ([a, b]: tf.Tensor[]): tf.Scalar => tf.sum(tf.mul(tf.tanh(tiedLmHead(a as tf.Tensor2D, b as tf.Tensor2D)), probe));
    const check = checkGradients(loss, [x, w], { eps: 1e-2, directions: 6 });
    assert.ok(check.maxRelError < 1e-2, `rel error ${JSON.stringify(check)}`);
  });
});

// ---- bias-sum -------------------------------------------------------------------------------------------------------

test(`bias-sum group (${where}): Σ over leading axes equals the GEMM / loop path and a float64 reference`, () => {
  const cases: { shape: number[]; axes: number[] }[] = [
    { shape: [64, 7], axes: [0] }, // the smallest BLAS case
    { shape: [100, 33], axes: [0] },
    { shape: [1024, 1536], axes: [0] }, // micro's MLP bias gradient
    { shape: [3, 50, 17], axes: [0, 1] },
    { shape: [63, 5], axes: [0] }, // below the BLAS threshold: the loop in both arms
  ];
  for (const c of cases) {
    const x = randn(c.shape, c.shape[0] as number);
    const on = withGroups(true, () => tf.sum(x, c.axes));
    const off = withGroups(false, () => tf.sum(x, c.axes));
    const xs = values(x);
    const inner = c.shape.slice(c.axes.length).reduce((p, d) => p * d, 1);
    const rows = xs.length / inner;
    const want = new Float64Array(inner);
    for (let r = 0; r < rows; r++) for (let j = 0; j < inner; j++) want[j] = (want[j] as number) + (xs[r * inner + j] as number);
    const what = JSON.stringify(c);
    assert.deepEqual(on.shape, c.shape.slice(c.axes.length), what);
    // float32 sums of up to 1024 terms of N(0, 1) in different orders: compare relative to √rows
    assertClose(want, values(on), 1e-5 * Math.sqrt(rows), `${what} on vs reference`);
    assertClose(values(off), values(on), 1e-5 * Math.sqrt(rows), `${what} on vs off`);
    tf.dispose([x, on, off]);
  }
});

// ---- causal ---------------------------------------------------------------------------------------------------------

/** (B, T) left-padding mask with pads[b] pad tokens first, or right padding with pads[b] < 0. */
function paddingMask(T: number, pads: number[]): tf.Tensor2D {
  return tf.tensor2d(pads.flatMap((p) => Array.from({ length: T }, (_, t) => (p >= 0 ? (t < p ? 0 : 1) : t >= T + p ? 0 : 1))), [pads.length, T], "float32");
}

test(`causal group (${where}): where the attention's products may be split`, () => {
  const splitsOf = (B: number, T: number, mask?: tf.Tensor2D): number[] =>
    tf.tidy(() => Array.from(causalSplits(attentionBias(B, T, 0, mask).dataSync() as Float32Array, B, T)));
  assert.deepEqual(splitsOf(2, 64), [32, 32]);
  assert.deepEqual(splitsOf(1, 33), [16]);
  assert.deepEqual(splitsOf(1, 31), [0], "below the minimum length");
  // left padding: no split for that row; right padding (pad queries after the middle, pad keys masked): split
  assert.deepEqual(splitsOf(3, 40, paddingMask(40, [0, 3, -5])), [20, 0, 20]);
  assert.deepEqual(withGroups(false, () => splitsOf(2, 64)), [0, 0], "group off");
});

test(`causal group (${where}): split attention equals the whole products, values and qkv gradients, odd sizes and padding`, { skip: info.blas ? false : "needs OpenBLAS (the in-place attention)" }, () => {
  const cases: { B: number; T: number; C: number; H: number; pads?: number[] }[] = [
    { B: 2, T: 32, C: 12, H: 3 },
    { B: 2, T: 33, C: 16, H: 2, pads: [0, 2] },
    { B: 3, T: 65, C: 20, H: 5, pads: [0, -7, 4] },
    { B: 1, T: 128, C: 64, H: 1 },
  ];
  for (const c of cases) {
    const run = (): Float32Array[] =>
      tf.tidy(() => {
        const bias = attentionBias(c.B, c.T, 0, c.pads ? paddingMask(c.T, c.pads) : undefined);
        const qkv = randn([c.B * c.T, 3 * c.C], c.T, 0.7);
        const probe = randn([c.B * c.T, c.C], c.T + 1);
        const f = (x: tf.Tensor): tf.Tensor2D => {
          const y = qkvAttention(x as tf.Tensor2D, c.B, c.T, c.H, bias);
          if (!y) throw new Error("in-place path not taken");
          return y;
        };
        const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(f(x), probe)))(qkv);
        return [f(qkv), g].map(values);
      }) as unknown as Float32Array[];
    const whole = withGroups(false, run);
    const split = withGroups(true, run);
    assertClose(whole[0] as Float32Array, split[0] as Float32Array, 1e-5, `${JSON.stringify(c)} y`);
    assertClose(whole[1] as Float32Array, split[1] as Float32Array, 1e-5, `${JSON.stringify(c)} dqkv`);
  }
});

test(`causal group (${where}): the split attention's qkv gradient passes a finite-difference check`, { skip: info.blas ? false : "needs OpenBLAS (the in-place attention)" }, () => {
  tf.tidy(() => {
    const [B, T, C, H] = [2, 34, 8, 2];
    const bias = attentionBias(B, T, 0, undefined);
    assert.deepEqual(Array.from(causalSplits(bias.dataSync() as Float32Array, B, T)), [17, 17]);
    const probe = randn([B * T, C], 21);
    const qkv = randn([B * T, 3 * C], 22, 0.7);
    const loss = ([x]: tf.Tensor[]): tf.Scalar => {
      const y = qkvAttention(x as tf.Tensor2D, B, T, H, bias);
      if (!y) throw new Error("in-place path not taken");
      return tf.sum(tf.mul(y, probe));
    };
    const check = checkGradients(loss, [qkv], { eps: 1e-2, directions: 6 });
    assert.ok(check.maxRelError < 1e-2, `rel error ${JSON.stringify(check)}`);
  });
});

// ---- linear ---------------------------------------------------------------------------------------------------------

const LINEAR_CASES: [number, number, number][] = [[5, 7, 11], [33, 48, 65], [1, 1, 3], [17, 9, 2], [64, 16, 1], [130, 40, 96]]; // (N, K, M)

test(`linear group (${where}): x·w + b (+ residual) and every gradient equal matMul2d + tf.add and a float64 reference`, () => {
  for (const [N, K, M] of LINEAR_CASES)
    for (const withResidual of [false, true]) {
      const x = randn([N, K], N * 100 + K) as tf.Tensor2D;
      const w = randn([K, M], M + 1, 0.5) as tf.Tensor2D;
      const b = randn([M], M + 2);
      // the residual as gpt.ts passes it: (B, T, C) while x·w is (B·T, C); here (N, 1, M)
      const r = withResidual ? randn([N, 1, M], M + 3) : undefined;
      const dy = randn([N, M], 7);
      const inputs = r ? [x, w, b, r] : [x, w, b];
      const f = (a: tf.Tensor[]): tf.Tensor2D => linearBias(a[0] as tf.Tensor2D, a[1] as tf.Tensor2D, a[2] as tf.Tensor, a[3]);
      const run = (): Float32Array[] =>
        tf.tidy(() => {
          const y = f(inputs);
          assert.deepEqual(y.shape, [N, M]);
          const g = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(a), dy)))(inputs);
          g.forEach((gi, i) => assert.deepEqual(gi.shape, (inputs[i] as tf.Tensor).shape));
          return [y, ...g].map(values);
        }) as unknown as Float32Array[];
      const off = withGroups(false, run);
      const on = withGroups(["linear"], run);
      // the residual + bias fill as the JS loop: the same float32 sums as the SIMD kernel, so the same bits
      setSimdKernels(false);
      const onNoSimd = withGroups(["linear"], run);
      setSimdKernels(true);
      on.forEach((a, k) => assert.deepEqual(Array.from(onNoSimd[k] as Float32Array), Array.from(a), `(N, K, M) = (${N}, ${K}, ${M}) [${k}]: the fill without SIMD`));
      const [xs, ws, bs, ds] = [values(x), values(w), values(b), values(dy)];
      const rs = r ? values(r) : new Float32Array(N * M);
      const y = referenceSgemm(false, false, N, M, K, xs, ws).map((v, i) => v + (bs[i % M] as number) + (rs[i] as number));
      const db = new Float64Array(M);
      for (let i = 0; i < N * M; i++) db[i % M] = (db[i % M] as number) + (ds[i] as number);
      const want = [
        y,
        referenceSgemm(false, true, N, K, M, ds, ws), // dx = dy·wᵀ
        referenceSgemm(true, false, K, M, N, xs, ds), // dw = xᵀ·dy
        db, // db = Σ over rows
        ...(r ? [ds] : []), // d(residual) = dy
      ];
      const what = `(N, K, M) = (${N}, ${K}, ${M})${r ? " with residual" : ""}`;
      assert.equal(on.length, want.length, what);
      want.forEach((ref, k) => {
        assertClose(ref, on[k] as Float32Array, 1e-5 * Math.sqrt(Math.max(N, K)), `${what} on [${k}] vs reference`);
        assertClose(off[k] as Float32Array, on[k] as Float32Array, 1e-5 * Math.sqrt(Math.max(N, K)), `${what} on vs off [${k}]`);
      });
      if (r) assert.deepEqual(Array.from(on[4] as Float32Array), Array.from(ds), `${what}: the residual's gradient is dy itself`);
      tf.dispose([x, w, b, dy, ...(r ? [r] : [])]);
    }
});

test(`linear group (${where}): one op without a tfjs Add under OpenBLAS; matMul2d and Adds otherwise`, async () => {
  const x = randn([6, 4], 1) as tf.Tensor2D;
  const w = randn([4, 5], 2) as tf.Tensor2D;
  const b = randn([5], 3);
  const r = randn([6, 5], 4);
  const kernelsOf = async (groups: Parameters<typeof setStepKernels>[0]): Promise<string[]> => {
    setStepKernels(groups);
    try {
      const p = await tf.profile(() => linearBias(x, w, b, r));
      tf.dispose(p.result as tf.Tensor);
      return p.kernelNames;
    } finally {
      setStepKernels(true);
    }
  };
  const on = await kernelsOf(["linear"]);
  const off = await kernelsOf(false);
  assert.ok(off.includes("Add") && off.includes("BatchMatMul"), `off: ${off.join(", ")}`);
  if (info.blas) assert.ok(!on.includes("Add") && !on.includes("BatchMatMul"), `on: ${on.join(", ")}`);
  else assert.deepEqual(on, off, "plain wasm: the group falls back");
  tf.dispose([x, w, b, r]);
});

test(`linear group (${where}): the fused op's gradients (x, w, b, residual) pass a finite-difference check`, () => {
  tf.tidy(() => {
    const x = randn([9, 6], 31);
    const w = randn([6, 7], 32, 0.5);
    const b = randn([7], 33);
    const r = randn([9, 7], 34);
    const probe = randn([9, 7], 35);
    const loss = ([a, ww, bb, rr]: tf.Tensor[]): tf.Scalar => tf.sum(tf.mul(tf.tanh(linearBias(a as tf.Tensor2D, ww as tf.Tensor2D, bb as tf.Tensor, rr)), probe));
    const check = checkGradients(loss, [x, w, b, r], { eps: 1e-2, directions: 6 });
    assert.ok(check.maxRelError < 1e-2, `rel error ${JSON.stringify(check)}`);
  });
});

test(`linear group (${where}): a tiny GPT's loss and every gradient agree with the group on and off, with padding`, () => {
  const model = initGpt(resolveGptConfig({ vocabSize: 31, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 12 }), 6);
  const run = () => lossAndGradients(model);
  const others = ["embedding", "lm-head", "bias-sum", "causal", "decode"] as const;
  const off = withGroups([...others], run);
  const on = withGroups(true, run);
  assert.equal(on.length, 1 + model.params.size);
  off.forEach((a, k) => assertClose(a, on[k] as Float32Array, 1e-5, `[${k}]`));
  disposeGpt(model);
});
