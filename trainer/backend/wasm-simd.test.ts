// The SIMD kernels on tfjs-wasm's heap (wasm-simd.ts, decision trainer-023): GELU forward and backward against
// gpt.ts's tensor ops, GPT-2's tanh formula in float64 and finite differences; the AdamW update and the sum of
// squares against the JS loops and the tensor ops; LayerNorm, RMSNorm, the attention softmax and the token log-probs
// (decision trainer-024) against the JS loops, the tensor ops, hand-computed rows and finite differences; the decode
// step's attention products (decision trainer-028) against float64; add_rows (decision trainer-031); lengths that
// are not a multiple of 4; NaN and ±∞; the dispatch and the fallback when the module cannot be had.
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { describeBackend, initBackend } from "./select-backend.ts";
import { ALL_FUSED_KERNELS, setFusedKernels, type WasmHeapBackend } from "./wasm-heap.ts";
import { SIMD_KERNELS_LABEL, setSimdKernels, simdKernels, simdKernelsStatus, simdModuleBytes } from "./wasm-simd.ts";
import { attentionBias, geluTanh, geluTanhOps, layerNorm } from "../model/gpt.ts";
import { maskedSoftmax } from "../model/fused-softmax.ts";
import { tokenLogProbs } from "../losses/logprobs.ts";
import { rmsNorm } from "../model/llama.ts";
import { adamwStep, createAdamW, disposeAdamW } from "../optim/adamw.ts";
import { globalNorm } from "../optim/gradients.ts";
import { checkGradients } from "../testing/grad-check.ts";
import { createRng, normalArray } from "../random/rng.ts";

before(async () => {
  setSimdKernels(true); // on even under TANDEM_SIMD=off: this file tests them
  await initBackend({ prefer: "wasm" });
  assert.equal(tf.getBackend(), "wasm");
});
after(() => {
  setSimdKernels(true);
  setFusedKernels(true);
});

const wasmBackend = (): WasmHeapBackend => tf.backend() as unknown as WasmHeapBackend;

/** Runs f with the SIMD kernels on or off (off: the JS loops where there are some, else tensor ops). */
function withSimd<T>(on: boolean, f: () => T): T {
  setSimdKernels(on);
  try {
    return f();
  } finally {
    setSimdKernels(true);
  }
}

/** GELU's value and its gradient under upstream w, as plain arrays. */
function geluAndGrad(gelu: (x: tf.Tensor) => tf.Tensor, x: tf.Tensor, w: tf.Tensor): [Float32Array, Float32Array] {
  return tf.tidy(() => {
    const y = gelu(x).dataSync().slice() as Float32Array;
    const dx = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(gelu(v), w)))(x).dataSync().slice() as Float32Array;
    return [y, dx];
  });
}

/** |a − b| ≤ tol·max(1, |b|) element by element; NaN only where b is NaN, and ±∞ equal. */
function assertClose(a: Float32Array, b: Float32Array, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what} length`);
  for (let i = 0; i < a.length; i++) {
    const [u, v] = [a[i] as number, b[i] as number];
    const ok = Number.isFinite(v) ? Math.abs(u - v) <= tol * Math.max(1, Math.abs(v)) : Object.is(u, v) || (Number.isNaN(u) && Number.isNaN(v));
    if (!ok) assert.fail(`${what}[${i}]: ${u} vs ${v}`); // the message only on failure: micro's shape has 1.5M elements
  }
}

test("the module is one fixed byte string, valid wasm with simd128; it loads on this backend, which lists it", () => {
  const bytes = simdModuleBytes();
  assert.deepEqual(simdModuleBytes(), bytes); // assembled from this repository's source alone
  assert.ok(WebAssembly.validate(bytes));
  assert.deepEqual(simdKernelsStatus(wasmBackend()), { ok: true });
  assert.ok(describeBackend().customKernels.includes(SIMD_KERNELS_LABEL), describeBackend().customKernels.join(", "));
});

test("SIMD GELU equals the tensor-op GELU, values and gradients, at lengths 4…13, 1023 and (256, 1536)", () => {
  const shapes = [[4], [5], [6], [7], [8], [9], [13], [3, 341], [256, 1536]];
  shapes.forEach((shape, k) => {
    const x = tf.randomNormal(shape, 0, 3, "float32", 10 + k);
    const w = tf.randomNormal(shape, 0, 1, "float32", 30 + k);
    const simd = geluAndGrad(geluTanh, x, w);
    const ops = geluAndGrad(geluTanhOps, x, w);
    assertClose(simd[0], ops[0], 1e-6, `y ${shape}`);
    // dx: both paths are within 2e-6 of GPT-2's formula in float64 on this data (float32 cancellation in s + x·σ'·z')
    assertClose(simd[1], ops[1], 5e-6, `dx ${shape}`);
    tf.dispose([x, w]);
  });
});

test("SIMD GELU: GPT-2's tanh formula and its derivative in float64 at odd lengths, and finite differences", () => {
  const u = (x: number): number => Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3);
  const gelu = (x: number): number => 0.5 * x * (1 + Math.tanh(u(x)));
  const dgelu = (x: number): number => 0.5 * (1 + Math.tanh(u(x))) + 0.5 * x * (1 - Math.tanh(u(x)) ** 2) * Math.sqrt(2 / Math.PI) * (1 + 3 * 0.044715 * x * x);
  for (const xs of [[-6, -3, -1.5, -0.5, -1e-3, 0, 0.25, 1, 2.5, 7, 11], [-20, -9.5, 0.125, 30, 3], [1e-7, -2, 4, -4, 1.7, -0.8, 5]]) {
    tf.tidy(() => {
      const x = tf.tensor1d(xs);
      const [y, g] = geluAndGrad(geluTanh, x, tf.onesLike(x));
      xs.forEach((v, i) => {
        assert.ok(Math.abs((y[i] ?? NaN) - gelu(v)) < 1e-6 * Math.max(1, Math.abs(v)), `gelu(${v}) = ${y[i]} vs ${gelu(v)}`);
        assert.ok(Math.abs((g[i] ?? NaN) - dgelu(v)) < 1e-5, `gelu'(${v}) = ${g[i]} vs ${dgelu(v)}`);
      });
    });
  }
  tf.tidy(() => {
    const w = tf.randomNormal([5, 7], 0, 1, "float32", 8);
    const check = checkGradients(([a]) => tf.sum(tf.mul(geluTanh(a as tf.Tensor), w)) as tf.Scalar, [tf.randomNormal([5, 7], 0, 2, "float32", 9)]);
    assert.ok(check.maxRelError < 1e-2, `gelu rel error ${check.maxRelError}`);
  });
});

test("SIMD GELU: NaN and ±∞ come out as the tensor ops give them, forward and backward, in every lane and the tail", () => {
  const specials = [NaN, Infinity, -Infinity, 0, -0, 1e30, -1e30, 88, -88, 3.4e38, -3.4e38];
  for (const offset of [0, 1, 2, 3]) {
    const xs = [...Array.from({ length: offset }, (_, i) => i - 1), ...specials];
    const x = tf.tensor1d(xs);
    const w = tf.tensor1d(xs.map((_, i) => (i % 3) - 1));
    const simd = geluAndGrad(geluTanh, x, w);
    const ops = geluAndGrad(geluTanhOps, x, w);
    assertClose(simd[0], ops[0], 1e-6, `y, offset ${offset}`);
    assertClose(simd[1], ops[1], 1e-6, `dx, offset ${offset}`);
    // and a NaN upstream gradient reaches dx
    const [, dNaN] = geluAndGrad(geluTanh, x, tf.fill([xs.length], NaN));
    assert.ok(dNaN.every((v) => Number.isNaN(v)));
    tf.dispose([x, w]);
  }
});

test("dispatch: with the SIMD kernels no Sigmoid runs for GELU; without them, and below 4 elements, the op chain does", async () => {
  const kernelsOf = async (x: tf.Tensor): Promise<Set<string>> =>
    new Set((await tf.profile(() => tf.dispose(tf.grad((v: tf.Tensor) => tf.sum(geluTanh(v)))(x)))).kernels.map((k) => k.name));
  const x = tf.randomNormal([6, 7]);
  const small = tf.tensor1d([1, -2, 3]);
  assert.ok(!(await kernelsOf(x)).has("Sigmoid"));
  assert.ok((await kernelsOf(small)).has("Sigmoid"));
  setSimdKernels(false);
  assert.ok((await kernelsOf(x)).has("Sigmoid"));
  setSimdKernels(true);
  setFusedKernels(["optimizer", "logprobs", "norm"]);
  assert.ok((await kernelsOf(x)).has("Sigmoid"));
  setFusedKernels(true);
  tf.dispose([x, small]);
});

/** Three AdamW steps with clipping over parameters of odd sizes; the new p, m and v. */
function adamwRun(mode: "simd" | "js" | "ops", gradsNaN = false): Float32Array[] {
  const rng = createRng(7);
  const shapes = [[37, 5], [4], [5], [7], [1], [2, 3], [64, 3]];
  const params = new Map(shapes.map((s, i) => [`p${i}`, tf.variable(tf.tensor(normalArray(rng, s.reduce((a, b) => a * b, 1), 1), s))]));
  const state = createAdamW(params);
  const h = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
  setSimdKernels(mode === "simd");
  setFusedKernels(mode !== "ops");
  try {
    for (let step = 0; step < 3; step++) {
      const grads = new Map([...params].map(([name, p]) => {
        const values = normalArray(rng, p.size, 0.5);
        if (gradsNaN && name === "p0") values[33] = NaN;
        if (gradsNaN && name === "p6") values[190] = Infinity;
        return [name, tf.tensor(values, p.shape)] as const;
      }));
      const norm = globalNorm(grads);
      adamwStep(params, state, grads, 1e-2, h, gradsNaN ? 1 : Math.min(1, 1 / (norm + 1e-6)));
      tf.dispose([...grads.values()]);
    }
    return [...params.values(), ...state.m.values(), ...state.v.values()].map((t) => t.dataSync().slice() as Float32Array);
  } finally {
    setSimdKernels(true);
    setFusedKernels(true);
    disposeAdamW(state);
    tf.dispose([...params.values()]);
  }
}

test("SIMD AdamW with clipping equals the JS loop and the tensor ops over three steps, sizes 1…192 (not multiples of 4)", () => {
  const [simd, js, ops] = [adamwRun("simd"), adamwRun("js"), adamwRun("ops")];
  simd.forEach((a, k) => {
    assertClose(a, js[k] as Float32Array, 2e-6, `vs JS loop, tensor ${k}`);
    assertClose(a, ops[k] as Float32Array, 2e-6, `vs tensor ops, tensor ${k}`);
  });
});

test("SIMD AdamW: a NaN or ∞ gradient element spoils its own parameter element as on the other paths, and no neighbour", () => {
  const [simd, js] = [adamwRun("simd", true), adamwRun("js", true)];
  simd.forEach((a, k) => assertClose(a, js[k] as Float32Array, 2e-6, `tensor ${k}`));
  const p0 = simd[0] as Float32Array;
  assert.ok(Number.isNaN(p0[33]) && Number.isFinite(p0[32]) && Number.isFinite(p0[34]));
});

test("SIMD sum of squares: float64 sums at lengths 1…9 and 1023, NaN and ∞ propagate", () => {
  const backend = wasmBackend();
  const kernels = simdKernels(backend);
  assert.ok(kernels);
  const rng = createRng(3);
  for (const n of [1, 2, 3, 4, 5, 6, 7, 8, 9, 1023]) {
    const values = normalArray(rng, n, 2);
    const x = tf.tensor1d(values);
    const want = Array.from(x.dataSync()).reduce((s, v) => s + v * v, 0);
    assert.ok(Math.abs(kernels.sumOfSquares(x, n) - want) <= 1e-12 * want, `n = ${n}`);
    x.dispose();
  }
  for (const [values, want] of [[[1, 2, NaN, 3, 4, 5], NaN], [[1, 2, 3, 4, Infinity], Infinity], [[-Infinity, 0, 0, 0, 0], Infinity]] as const) {
    const x = tf.tensor1d([...values]);
    assert.ok(Object.is(kernels.sumOfSquares(x, values.length), want), `${values}`);
    x.dispose();
  }
  const grads = new Map([["a", tf.tensor1d([3, 4, 12, 0, 0])], ["b", tf.tensor1d([0])]]);
  assert.equal(globalNorm(grads), 13);
  assert.equal(withSimd(false, () => globalNorm(grads)), 13);
  tf.dispose([...grads.values()]);
});

test("fallback: without a reachable heap memory the kernels are off with the reason, and the real backend loads again", () => {
  const cpuLike = {} as WasmHeapBackend; // a backend without tfjs-wasm's module: no memory to import
  assert.equal(simdKernels(cpuLike), null);
  const status = simdKernelsStatus(cpuLike);
  assert.ok(!status.ok && /not reachable/.test(status.reason), JSON.stringify(status));
  assert.ok(simdKernels(wasmBackend()));
  // GELU still runs on the op chain when the kernels are off
  withSimd(false, () => {
    const [y] = geluAndGrad(geluTanh, tf.tensor1d([1, 2, 3, 4, 5]), tf.ones([5]));
    assert.ok(Math.abs((y[0] as number) - 0.8411920070648193) < 1e-6);
  });
});

/** A norm's value and dx, dγ (and dβ) under upstream w, with the SIMD kernels, the JS loop or the tensor ops. */
function normRun(mode: "simd" | "js" | "ops", rms: boolean, shape: number[], seed: number, edit?: (x: Float32Array) => void): Float32Array[] {
  const C = shape[shape.length - 1] as number;
  setSimdKernels(mode === "simd");
  setFusedKernels(mode === "ops" ? false : true);
  try {
    return tf.tidy(() => {
      // rows off-centre by a per-row shift, as residual-stream activations are
      let x = tf.add(tf.randomNormal(shape, 0, 2, "float32", seed), tf.randomNormal([...shape.slice(0, -1), 1], 0, 3, "float32", seed + 1));
      if (edit) {
        const values = x.dataSync().slice() as Float32Array;
        edit(values);
        x = tf.tensor(values, shape);
      }
      const g = tf.randomNormal([C], 1, 0.3, "float32", seed + 2);
      const b = tf.randomNormal([C], 0, 0.5, "float32", seed + 3);
      const w = tf.randomNormal(shape, 0, 1, "float32", seed + 4);
      const f = (...a: tf.Tensor[]): tf.Tensor => (rms ? rmsNorm(a[0] as tf.Tensor, a[1] as tf.Tensor, 1e-5) : layerNorm(a[0] as tf.Tensor, a[1] as tf.Tensor, a[2] as tf.Tensor, 1e-5));
      const inputs = rms ? [x, g] : [x, g, b];
      const grads = tf.grads((...a: tf.Tensor[]) => tf.sum(tf.mul(f(...a), w)))(inputs);
      return [f(...inputs), ...grads].map((t) => t.dataSync().slice() as Float32Array);
    });
  } finally {
    setSimdKernels(true);
    setFusedKernels(true);
  }
}

/** Every element within tol of the other's, relative to that tensor's largest value (dγ, dβ are sums over rows). */
function assertCloseToScale(a: Float32Array, b: Float32Array, tol: number, what: string): void {
  assert.equal(a.length, b.length, `${what} length`);
  const scale = b.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
  for (let i = 0; i < a.length; i++) {
    if (!(Math.abs((a[i] as number) - (b[i] as number)) <= tol * scale)) assert.fail(`${what}[${i}]: ${a[i]} vs ${b[i]} (scale ${scale})`);
  }
}

test("SIMD LayerNorm and RMSNorm equal the JS loops and the tensor ops: y, dx, dγ, dβ at widths 1…13 and 384, up to 1000 rows", () => {
  const shapes = [[3, 1], [5, 2], [4, 3], [6, 4], [3, 5], [2, 7], [7, 8], [9, 13], [130, 9], [2, 128, 384], [1000, 6]];
  shapes.forEach((shape, k) => {
    for (const rms of [false, true]) {
      const name = `${rms ? "RMSNorm" : "LayerNorm"} ${shape}`;
      const simd = normRun("simd", rms, shape, 100 + 10 * k);
      const js = normRun("js", rms, shape, 100 + 10 * k);
      const ops = normRun("ops", rms, shape, 100 + 10 * k);
      assert.equal(simd.length, rms ? 3 : 4);
      // dx at width 2 is almost 0 (the row's two x̂ are ±1 for any x), the difference of terms of size r·dy·γ, which
      // is up to ~10 here: float32 rounding in that cancellation differs by 1e-5 between the JS loop and the ops too
      const tol = (i: number): number => (i === 1 && shape[shape.length - 1] === 2 ? 5e-5 : 1e-5);
      simd.forEach((t, i) => {
        assertCloseToScale(t, js[i] as Float32Array, tol(i), `${name}: tensor ${i} vs JS loop`);
        assertCloseToScale(t, ops[i] as Float32Array, tol(i), `${name}: tensor ${i} vs tensor ops`);
      });
    }
  });
});

test("SIMD LayerNorm and RMSNorm: a hand-computed row of 5 (a vector and a tail), finite differences, inputs unchanged", () => {
  tf.tidy(() => {
    // x = [1, 2, 3, 4, 10]: mean 4, biased variance (9 + 4 + 1 + 0 + 36)/5 = 10; γ = 2, β = 1; upstream (0, …, 0, 1)
    const x = tf.tensor2d([[1, 2, 3, 4, 10]]);
    const g = tf.fill([5], 2);
    const b = tf.ones([5]);
    const r = 1 / Math.sqrt(10 + 1e-5);
    const xh = [-3, -2, -1, 0, 6].map((d) => d * r);
    const upstream = tf.tensor2d([[0, 0, 0, 0, 1]]);
    const [y, dx, dg, db] = [
      layerNorm(x, g, b, 1e-5),
      ...tf.grads((x_: tf.Tensor, g_: tf.Tensor, b_: tf.Tensor) => tf.sum(tf.mul(layerNorm(x_, g_, b_, 1e-5), upstream)))([x, g, b]),
    ].map((t) => Array.from(t.dataSync()));
    xh.forEach((v, j) => assert.ok(Math.abs((y?.[j] ?? NaN) - (2 * v + 1)) < 1e-6, `y[${j}] ${y?.[j]}`));
    // ∂y₄/∂x_j = γ·r·(δ₄ⱼ − 1/5 − x̂₄x̂ⱼ/5); dγ = dy·x̂ = (0, 0, 0, 0, x̂₄); dβ = dy
    xh.forEach((v, j) => assert.ok(Math.abs((dx?.[j] ?? NaN) - 2 * r * ((j === 4 ? 1 : 0) - 0.2 - ((xh[4] as number) * v) / 5)) < 1e-6, `dx[${j}] ${dx?.[j]}`));
    [0, 0, 0, 0, xh[4] as number].forEach((v, j) => assert.ok(Math.abs((dg?.[j] ?? NaN) - v) < 1e-6, `dγ[${j}]`));
    assert.deepEqual(db, [0, 0, 0, 0, 1]);
    assert.deepEqual(Array.from(x.dataSync()), [1, 2, 3, 4, 10]);
    // RMSNorm of [3, 4, 0, 0, 0, 0, 0, 12] with γ = 1: mean(x²) = 169/8
    const rms = Array.from(rmsNorm(tf.tensor1d([3, 4, 0, 0, 0, 0, 0, 12]), tf.ones([8]), 0).dataSync());
    [3, 4, 0, 0, 0, 0, 0, 12].forEach((v, j) => assert.ok(Math.abs((rms[j] ?? NaN) - v / Math.sqrt(169 / 8)) < 1e-6, `rms[${j}]`));
    for (const C of [16, 7]) {
      const xr = tf.randomNormal([3, 5, C], 0, 1, "float32", 7);
      const gr = tf.randomNormal([C], 1, 0.3, "float32", 8);
      const br = tf.randomNormal([C], 0, 0.3, "float32", 9);
      const w = tf.randomNormal([3, 5, C], 0, 1, "float32", 10);
      const ln = checkGradients(([x_, g_, b_]) => tf.sum(tf.mul(layerNorm(x_ as tf.Tensor, g_ as tf.Tensor, b_ as tf.Tensor, 1e-5), w)) as tf.Scalar, [xr, gr, br]);
      assert.ok(ln.maxRelError < 1e-2, `LayerNorm C=${C}: rel error ${ln.maxRelError}`);
      const rmsCheck = checkGradients(([x_, g_]) => tf.sum(tf.mul(rmsNorm(x_ as tf.Tensor, g_ as tf.Tensor, 1e-6), w)) as tf.Scalar, [xr, gr]);
      assert.ok(rmsCheck.maxRelError < 1e-2, `RMSNorm C=${C}: rel error ${rmsCheck.maxRelError}`);
    }
  });
});

test("SIMD LayerNorm: a NaN or ∞ spoils its own row, forward and in dx, as in the JS loop; the other rows are untouched", () => {
  const shape = [6, 11];
  const edit = (x: Float32Array): void => {
    x[1 * 11 + 9] = NaN; // row 1, in the scalar tail
    x[4 * 11 + 2] = Infinity; // row 4, in a vector
  };
  for (const rms of [false, true]) {
    const simd = normRun("simd", rms, shape, 50, edit);
    const js = normRun("js", rms, shape, 50, edit);
    const [y, dx] = [simd[0] as Float32Array, simd[1] as Float32Array];
    assert.ok(y.subarray(11, 22).every((v) => Number.isNaN(v)) && dx.subarray(11, 22).every((v) => Number.isNaN(v)), "row 1");
    // row 4: LayerNorm's mean is ∞, so all NaN; RMSNorm's 1/√(mean x²) is 0, so y is 0 but NaN at the ∞ (∞·0)
    const name = rms ? "RMSNorm" : "LayerNorm";
    assert.equal(y.subarray(44, 55).filter((v) => Number.isNaN(v)).length, rms ? 1 : 11, `${name} y row 4`);
    assertClose(y, js[0] as Float32Array, 1e-5, `${name} y`); // NaN exactly where the JS loop has NaN
    assertClose(dx, js[1] as Float32Array, 1e-5, `${name} dx`);
    for (const row of [0, 2, 3, 5]) assert.ok(y.subarray(row * 11, row * 11 + 11).every((v) => Number.isFinite(v)), `${name} y row ${row}`);
    // dγ (and dβ) sum over rows, so they are NaN wherever the JS loop's are
    simd.slice(2).forEach((t, i) => t.forEach((v, j) => assert.equal(Number.isNaN(v), Number.isNaN((js[2 + i] as Float32Array)[j] as number), `grad ${i}[${j}]`)));
  }
});

/** Runs f with the SIMD kernels (simd), the JS loops (js: the softmax's named so that its loop runs) or the tensor ops. */
function inMode<T>(mode: "simd" | "js" | "ops", f: () => T): T {
  setSimdKernels(mode === "simd");
  setFusedKernels(mode === "ops" ? false : mode === "js" ? ALL_FUSED_KERNELS : true);
  try {
    return f();
  } finally {
    setSimdKernels(true);
    setFusedKernels(true);
  }
}

test("SIMD attention softmax equals the JS loop and the tensor ops: causal and padding masks, batched, per head, decoding, T_k = 1…9 and 128", () => {
  const cases: [string, number[], () => tf.Tensor][] = [];
  for (const T of [1, 2, 3, 4, 5, 6, 7, 9, 128]) {
    const mask = tf.tensor2d(Array.from({ length: 3 }, (_, b) => Array.from({ length: T }, (_, t) => (t < 2 * b ? 0 : 1))), [3, T], "int32"); // left padding
    cases.push([`batched T=${T}`, [3, 4, T, T], () => attentionBias(3, T, 0, mask)]);
    if (T === 128 || T === 7) {
      cases.push([`per head T=${T}`, [T, T], () => tf.reshape(tf.slice(attentionBias(3, T, 0, mask), [2, 0, 0, 0], [1, 1, T, T]), [T, T])]);
      cases.push([`decoding T_k=${T}`, [3, 4, 1, T], () => attentionBias(3, 1, T - 1, mask)]);
    }
  }
  cases.forEach(([name, shape, makeBias], k) => {
    const run = (mode: "simd" | "js" | "ops"): Float32Array[] =>
      inMode(mode, () =>
        tf.tidy(() => {
          const s = tf.randomNormal(shape, 0, 8, "float32", 200 + k);
          const bias = makeBias();
          const w = tf.randomNormal(shape, 0, 1, "float32", 300 + k);
          const [ds] = tf.grads((s_: tf.Tensor) => tf.sum(tf.mul(maskedSoftmax(s_, bias, 0.125), w)))([s]);
          return [maskedSoftmax(s, bias, 0.125), ds as tf.Tensor].map((t) => t.dataSync().slice() as Float32Array);
        }),
      );
    const [simd, js, ops] = [run("simd"), run("js"), run("ops")];
    simd.forEach((t, i) => {
      assertCloseToScale(t, js[i] as Float32Array, 1e-5, `${name}: ${i === 0 ? "y" : "ds"} vs JS loop`);
      assertCloseToScale(t, ops[i] as Float32Array, 1e-5, `${name}: ${i === 0 ? "y" : "ds"} vs tensor ops`);
    });
  });
});

test("SIMD attention softmax: a hand-computed row of 6, a NaN score spoils its row as in the tensor ops, finite differences", () => {
  tf.tidy(() => {
    // scores (0, ln 2, ln 3, ln 4, 5, 0) with the last two keys masked: y = (1, 2, 3, 4, 0, 0)/10
    const s = tf.tensor2d([[0, Math.log(2), Math.log(3), Math.log(4), 5, 0]]);
    const bias = tf.tensor2d([[0, 0, 0, 0, -1e9, -1e9]]);
    const y = Array.from(maskedSoftmax(s, bias, 1).dataSync());
    [0.1, 0.2, 0.3, 0.4, 0, 0].forEach((v, j) => assert.ok(Math.abs((y[j] ?? NaN) - v) < 1e-6, `y[${j}] ${y[j]}`));
    // ∂y₀/∂s = y₀(δ − y) = 0.1·(0.9, −0.2, −0.3, −0.4, 0, 0)
    const [ds] = tf.grads((s_: tf.Tensor) => tf.sum(tf.mul(maskedSoftmax(s_, bias, 1), tf.tensor2d([[1, 0, 0, 0, 0, 0]]))))([s]);
    const d = Array.from((ds as tf.Tensor).dataSync());
    [0.09, -0.02, -0.03, -0.04, 0, 0].forEach((v, j) => assert.ok(Math.abs((d[j] ?? NaN) - v) < 1e-6, `ds[${j}] ${d[j]}`));
    // a NaN in row 1 (in a vector) and row 2 (in the tail) of (3, 7)
    const values = Array.from({ length: 21 }, (_, i) => Math.sin(i));
    values[7 + 2] = NaN;
    values[14 + 5] = NaN;
    const withNaN = tf.tensor2d(values, [3, 7]);
    const zeros = tf.zeros([3, 7]);
    const [simd, ops] = (["simd", "ops"] as const).map((mode) => inMode(mode, () => maskedSoftmax(withNaN, zeros, 1).dataSync().slice() as Float32Array));
    assertClose(simd as Float32Array, ops as Float32Array, 1e-6, "NaN rows");
    assert.ok((simd as Float32Array).subarray(7).every((v) => Number.isNaN(v)) && (simd as Float32Array).subarray(0, 7).every((v) => Number.isFinite(v)));
    const scores = tf.randomNormal([2, 3, 5, 5], 0, 2, "float32", 15);
    const w = tf.randomNormal([2, 3, 5, 5], 0, 1, "float32", 16);
    const causal = attentionBias(2, 5, 0, undefined);
    const check = checkGradients(([s_]) => tf.sum(tf.mul(maskedSoftmax(s_ as tf.Tensor, causal, 0.5), w)) as tf.Scalar, [scores]);
    assert.ok(check.maxRelError < 1e-2, `rel error ${check.maxRelError}`);
  });
});

test("SIMD dot_rows and weighted_rows (the decode step's attention products) against float64: n = 16, 64, 128, R = 1…9 and 200, inputs unchanged", () => {
  const backend = wasmBackend();
  const k = simdKernels(backend);
  assert.ok(k, "SIMD kernels loaded");
  for (const n of [16, 64, 128])
    for (const R of [1, 2, 3, 5, 8, 9, 200]) {
      const a = normalArray(createRng(n * 1000 + R), R * n, 1);
      const x = normalArray(createRng(n * 1000 + R + 1), n, 1);
      const p = normalArray(createRng(n * 1000 + R + 2), R, 1);
      const tensors = [tf.tensor1d(a), tf.tensor1d(x), tf.tensor1d(p)];
      // outputs inside a larger buffer filled with NaN: nothing outside y may be written, nothing read from y
      const outInfo = backend.makeOutput([R + n + 16], "float32");
      const out = tf.engine().makeTensorFromTensorInfo(outInfo);
      try {
        const view = () => backend.typedArrayFromHeap(out) as Float32Array;
        view().fill(NaN);
        const [aAt, xAt, pAt] = tensors.map((t) => k.address(t)) as [number, number, number];
        const yAt = k.address(out) + 16;
        k.dotRows(aAt, xAt, yAt, R, n);
        const dots = Array.from({ length: R }, (_, r) => x.reduce((acc, xi, i) => acc + (a[r * n + i] as number) * xi, 0));
        assertClose(view().slice(4, 4 + R), Float32Array.from(dots), 1e-5, `dot_rows n ${n} R ${R}`);
        assert.ok(Number.isNaN(view()[3]) && Number.isNaN(view()[4 + R]), "dot_rows wrote outside y");
        view().fill(NaN);
        k.weightedRows(aAt, pAt, yAt, R, n);
        const sums = Array.from({ length: n }, (_, i) => p.reduce((acc, pr, r) => acc + pr * (a[r * n + i] as number), 0));
        assertClose(view().slice(4, 4 + n), Float32Array.from(sums), 1e-5, `weighted_rows n ${n} R ${R}`);
        assert.ok(Number.isNaN(view()[3]) && Number.isNaN(view()[4 + n]), "weighted_rows wrote outside y");
        assert.deepEqual(Array.from(tensors[0]?.dataSync() ?? []), Array.from(Float32Array.from(a)), "a unchanged");
      } finally {
        tf.dispose([...tensors, out]);
      }
    }
});

test("SIMD swiglu (the Llama decode step's silu(gate) ⊙ up) and rmsNormAt against float64: n = 4…13 and 1536, large |g|, nothing written outside y", () => {
  const backend = wasmBackend();
  const k = simdKernels(backend);
  assert.ok(k, "SIMD kernels loaded");
  for (const n of [4, 5, 6, 7, 8, 9, 13, 1536]) {
    const g = normalArray(createRng(n), n, 3);
    g[0] = -95; // σ(g) underflows: g·σ(g) is −0 or a tiny negative, as float32 gives it
    g[n - 1] = 40;
    const u = normalArray(createRng(n + 1), n, 1);
    const tensors = [tf.tensor1d(g), tf.tensor1d(u)];
    const outInfo = backend.makeOutput([n + 8], "float32");
    const out = tf.engine().makeTensorFromTensorInfo(outInfo);
    try {
      const view = () => backend.typedArrayFromHeap(out) as Float32Array;
      view().fill(NaN);
      const [gAt, uAt] = tensors.map((t) => k.address(t)) as [number, number];
      k.swigluAt(gAt, uAt, k.address(out) + 16, n);
      const want = Float32Array.from(g, (gi, i) => (gi / (1 + Math.exp(-gi))) * (u[i] as number));
      assertClose(view().slice(4, 4 + n), want, 1e-6, `swiglu n ${n}`);
      assert.ok(Number.isNaN(view()[3]) && Number.isNaN(view()[4 + n]), "swiglu wrote outside y");
    } finally {
      tf.dispose([...tensors, out]);
    }
  }
  // rmsNormAt: the rms_fwd export on addresses, two rows of 7 (a vector and a tail), against float64
  const xs = [3, -1, 0.5, 2, -4, 1.25, 7, 0.1, 0.2, -0.3, 0.4, 5, -6, 0.7];
  const gs = [1, 2, -1, 0.5, 1.5, 1, -2];
  const [x, gain] = [tf.tensor1d(xs), tf.tensor1d(gs)];
  const yInfo = backend.makeOutput([14 + 4], "float32");
  const y = tf.engine().makeTensorFromTensorInfo(yInfo);
  try {
    k.rmsNormAt(k.address(x), k.address(gain), k.address(y), k.address(y) + 4 * 14, 2, 7, 1e-5);
    const got = (backend.typedArrayFromHeap(y) as Float32Array).slice(0, 14);
    const want = xs.map((v, i) => {
      const row = xs.slice(7 * Math.floor(i / 7), 7 * Math.floor(i / 7) + 7);
      return (v / Math.sqrt(row.reduce((a, r) => a + r * r, 0) / 7 + 1e-5)) * (gs[i % 7] as number);
    });
    assertClose(got, Float32Array.from(want), 1e-5, "rmsNormAt");
  } finally {
    tf.dispose([x, gain, y]);
  }
});

test("SIMD add_rows (the fused linear's residual + bias fill) equals float32 sums bit for bit: n = 4…13 and 384, R = 1, 3 and 64, in place, the tail and the rest untouched", () => {
  const backend = wasmBackend();
  const k = simdKernels(backend);
  assert.ok(k, "SIMD kernels loaded");
  for (const n of [4, 5, 6, 7, 8, 9, 13, 384])
    for (const R of [1, 3, 64]) {
      const a = normalArray(createRng(n * 100 + R), R * n, 1);
      const b = normalArray(createRng(n * 100 + R + 1), n, 1);
      const tensors = [tf.tensor1d(a), tf.tensor1d(b)];
      // y inside a larger buffer filled with NaN: the kernel writes only columns below 4⌊n/4⌋ of each row
      const outInfo = backend.makeOutput([R * n + 8], "float32");
      const out = tf.engine().makeTensorFromTensorInfo(outInfo);
      try {
        const view = () => backend.typedArrayFromHeap(out) as Float32Array;
        view().fill(NaN);
        const [aAt, bAt] = tensors.map((t) => k.address(t)) as [number, number];
        k.addRows(aAt, bAt, k.address(out) + 16, R, n);
        const vec = n - (n % 4);
        const got = view();
        assert.ok(Number.isNaN(got[3]) && Number.isNaN(got[4 + R * n]), `n ${n} R ${R}: wrote outside y`);
        for (let r = 0; r < R; r++)
          for (let j = 0; j < n; j++) {
            const v = got[4 + r * n + j] as number;
            if (j < vec) assert.equal(v, Math.fround((a[r * n + j] as number) + (b[j] as number)), `n ${n} R ${R} [${r}, ${j}]`);
            else assert.ok(Number.isNaN(v), `n ${n} R ${R} [${r}, ${j}]: the tail is the caller's`);
          }
        // in place (y = a), as the caller may pass it
        const aT = tensors[0] as tf.Tensor;
        k.addRows(k.address(aT), bAt, k.address(aT), R, n);
        const inPlace = aT.dataSync();
        for (let i = 0; i < R * n; i++)
          assert.equal(inPlace[i], i % n < vec ? Math.fround((a[i] as number) + (b[i % n] as number)) : a[i], `in place [${i}]`);
      } finally {
        tf.dispose([...tensors, out]);
      }
    }
});

test("SIMD token log-probs equal the JS loop and the tensor ops at V = 1…9, 37 and 2048, temperatures 1 and 0.7, ignored labels", () => {
  for (const V of [1, 2, 3, 4, 5, 7, 9, 37, 2048]) {
    for (const temperature of [1, 0.7]) {
      const run = (mode: "simd" | "js" | "ops"): Float32Array[] =>
        inMode(mode, () =>
          tf.tidy(() => {
            const logits = tf.randomNormal([2, 5, V], 0, 3, "float32", V) as tf.Tensor3D;
            const labels = tf.tensor2d([[0, V - 1, V >> 1, -100, (3 * V) >> 2], [-100, V > 1 ? 1 : 0, V - 1, 0, V >> 2]], [2, 5], "int32");
            const weights = tf.tensor2d([[1, -2, 0.5, 3, 1], [2, 1, -1, 0.25, 0]]);
            const f = (x: tf.Tensor): tf.Tensor => tf.sum(tf.mul(tokenLogProbs(x as tf.Tensor3D, labels, temperature), weights));
            const [g] = tf.grads(f)([logits]);
            return [tokenLogProbs(logits, labels, temperature), g as tf.Tensor].map((t) => t.dataSync().slice() as Float32Array);
          }),
        );
      const [simd, js, ops] = [run("simd"), run("js"), run("ops")];
      simd.forEach((t, i) => {
        assertClose(t, js[i] as Float32Array, 1e-5, `V=${V} τ=${temperature} tensor ${i} vs JS loop`);
        assertClose(t, ops[i] as Float32Array, 1e-5, `V=${V} τ=${temperature} tensor ${i} vs tensor ops`);
      });
      assert.equal(simd[0]?.[3], 0);
      assert.ok((simd[1] as Float32Array).subarray(3 * V, 4 * V).every((v) => v === 0), "an ignored row gets no gradient");
    }
  }
});

test("SIMD token log-probs: log p of a hand-computed row, NaN and ∞ rows stay non-finite, finite differences", () => {
  tf.tidy(() => {
    // logits (0, ln 2, ln 3, ln 4, ln 10) → p = (1, 2, 3, 4, 10)/20; label 4 → log ½; ∂/∂x_j = δ₄ⱼ − p_j
    const x = tf.tensor3d([[[0, Math.log(2), Math.log(3), Math.log(4), Math.log(10)]]]);
    const labels = tf.tensor2d([[4]], [1, 1], "int32");
    assert.ok(Math.abs((tokenLogProbs(x, labels).dataSync()[0] ?? NaN) - Math.log(0.5)) < 1e-6);
    const g = Array.from((tf.grads((a: tf.Tensor) => tf.sum(tokenLogProbs(a as tf.Tensor3D, labels)))([x])[0] as tf.Tensor).dataSync());
    [-0.05, -0.1, -0.15, -0.2, 0.5].forEach((v, j) => assert.ok(Math.abs((g[j] ?? NaN) - v) < 1e-6, `g[${j}] ${g[j]}`));
    // NaN in a vector and in the tail, ∞, and a clean row, V = 6
    const rows = [[0.5, NaN, 1, 2, 0, 1], [0.5, 1, 1, 2, 0, NaN], [Infinity, 0, 1, 1, 2, 3], [1, 2, 3, 4, 5, 6]];
    const logits = tf.tensor3d([rows]);
    const lab = tf.tensor2d([[0, 1, 2, 3]], [1, 4], "int32");
    const f = (a: tf.Tensor): tf.Tensor => tokenLogProbs(a as tf.Tensor3D, lab);
    const lp = Array.from(f(logits).dataSync());
    assert.ok(Number.isNaN(lp[0]) && Number.isNaN(lp[1]) && !Number.isFinite(lp[2] as number) && Number.isFinite(lp[3] as number), `${lp}`);
    const grad = Array.from((tf.grads(f)([logits])[0] as tf.Tensor).dataSync());
    assert.ok(grad.slice(0, 12).every(Number.isNaN), `NaN rows' gradient ${grad.slice(0, 12)}`);
    assert.ok(grad.slice(18).every(Number.isFinite), `clean row's gradient ${grad.slice(18)}`);
    const labels2 = tf.tensor2d([[3, 0, -100], [6, 2, 1]], [2, 3], "int32");
    const weights = tf.tensor2d([[1, -0.5, 2], [0.3, 1, -1]]);
    for (const temperature of [1, 0.5]) {
      const check = checkGradients(([a]) => tf.sum(tf.mul(tokenLogProbs(a as tf.Tensor3D, labels2, temperature), weights)) as tf.Scalar, [tf.randomNormal([2, 3, 7], 0, 1, "float32", 5)]);
      assert.ok(check.maxRelError < 1e-2, `τ ${temperature}: rel error ${check.maxRelError}`);
    }
  });
});
