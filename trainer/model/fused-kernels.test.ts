// The fused LayerNorm, RMSNorm and attention softmax (fused-norms.ts, fused-softmax.ts, decision
// trainer-019) against the tensor-op path they replace, a hand-computed case and finite differences.
import { test, before } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { setAttentionImpl, attentionBias, disposeGpt, gptForward, initGpt, layerNorm } from "./gpt.ts";
import { disposeLlama, initLlama, llamaForward, rmsNorm } from "./llama.ts";
import { maskedSoftmax } from "./fused-softmax.ts";
import { ALL_FUSED_KERNELS, setFusedKernels, type WasmHeapBackend } from "../backend/wasm-heap.ts";
import { simdKernels } from "../backend/wasm-simd.ts";
import { checkGradients } from "../testing/grad-check.ts";
import { resolveGptConfig } from "../contract/gpt-config.ts";
import { resolveLlamaConfig } from "../contract/llama-config.ts";
import { sftLoss } from "../losses/sft-loss.ts";

before(async () => {
  await initBackend({ prefer: "wasm" });
  assert.equal(tf.getBackend(), "wasm"); // the fused loops exist on wasm only
});

/** Runs `f` with every fused loop on (the softmax too, which is off by default) or off (the tensor-op reference). */
function withFused(fused: boolean, f: () => tf.Tensor[]): Float32Array[] {
  setFusedKernels(fused ? ALL_FUSED_KERNELS : false);
  try {
    return tf.tidy(() => f().map((t) => t.dataSync().slice() as Float32Array));
  } finally {
    setFusedKernels(true);
  }
}

/**
 * Every element within `tol` relative to the largest value of its tensor (and absolute below 1). Relative to
 * the tensor, not the element: dγ and dβ are sums over 1024 rows whose float32 rounding in the op path is
 * about 1e-5 of the terms' size, however small their sum.
 */
function assertClose(a: Float32Array[], b: Float32Array[], tol: number, what: string): void {
  assert.equal(a.length, b.length);
  a.forEach((x, k) => {
    const y = b[k] as Float32Array;
    assert.equal(x.length, y.length, `${what}[${k}] length`);
    const scale = y.reduce((m, v) => Math.max(m, Math.abs(v)), 1);
    let worst = 0;
    let at = -1;
    x.forEach((v, i) => {
      const e = Math.abs(v - (y[i] as number)) / scale;
      if (!(e <= worst)) [worst, at] = [e, i];
    });
    assert.ok(worst <= tol, `${what}[${k}][${at}]: ${x[at]} vs ${y[at]} (rel ${worst})`);
  });
}

// micro's shapes: 8 × 128 tokens of width 384, 6 heads
const B = 8;
const T = 128;
const C = 384;

test("fused LayerNorm and RMSNorm equal the op path on micro-shaped activations: values and dx, dγ, dβ", () => {
  const run = (fused: boolean, rms: boolean): Float32Array[] =>
    withFused(fused, () => {
      const x = tf.add(tf.randomNormal([B, T, C], 0, 2, "float32", 1), tf.randomNormal([B, T, 1], 0, 3, "float32", 2)); // rows off-centre
      const g = tf.randomNormal([C], 1, 0.3, "float32", 3);
      const b = tf.randomNormal([C], 0, 0.5, "float32", 4);
      const w = tf.randomNormal([B, T, C], 0, 1, "float32", 5); // upstream gradient
      const f = rms ? (x_: tf.Tensor, g_: tf.Tensor) => rmsNorm(x_, g_, 1e-5) : (x_: tf.Tensor, g_: tf.Tensor, b_: tf.Tensor) => layerNorm(x_, g_, b_, 1e-5);
      const inputs = rms ? [x, g] : [x, g, b];
      const grads = tf.grads((...xs: tf.Tensor[]) => tf.sum(tf.mul((f as (...t: tf.Tensor[]) => tf.Tensor)(...xs), w)))(inputs);
      return [(f as (...t: tf.Tensor[]) => tf.Tensor)(...inputs), ...grads];
    });
  assertClose(run(true, false), run(false, false), 1e-5, "LayerNorm");
  assertClose(run(true, true), run(false, true), 1e-5, "RMSNorm");
});

test("fused LayerNorm and RMSNorm: hand-computed row, and the inputs keep their values", () => {
  tf.tidy(() => {
    // x = [1, 2, 3, 4]: mean 2.5, biased variance 1.25; γ = 2, β = 1
    const x = tf.tensor2d([[1, 2, 3, 4]]);
    const g = tf.fill([4], 2);
    const b = tf.ones([4]);
    const r = 1 / Math.sqrt(1.25 + 1e-5);
    const xh = [-1.5, -0.5, 0.5, 1.5].map((d) => d * r);
    const upstream = tf.tensor2d([[1, 0, 0, 0]]);
    const [y, dx, dg, db] = [
      layerNorm(x, g, b, 1e-5),
      ...tf.grads((x_: tf.Tensor, g_: tf.Tensor, b_: tf.Tensor) => tf.sum(tf.mul(layerNorm(x_, g_, b_, 1e-5), upstream)))([x, g, b]),
    ].map((t) => Array.from(t.dataSync()));
    xh.forEach((v, j) => assert.ok(Math.abs((y?.[j] ?? NaN) - (2 * v + 1)) < 1e-6, `y[${j}]`));
    // ∂y₀/∂x_j = γ·r·(δ₀ⱼ − 1/4 − x̂₀x̂ⱼ/4); dγ = dy·x̂ = (x̂₀, 0, 0, 0); dβ = dy
    xh.forEach((v, j) => assert.ok(Math.abs((dx?.[j] ?? NaN) - 2 * r * ((j === 0 ? 1 : 0) - 0.25 - ((xh[0] as number) * v) / 4)) < 1e-5, `dx[${j}]`));
    assert.deepEqual(dg?.map((v) => Math.round(v * 1e5) / 1e5), [Math.round((xh[0] as number) * 1e5) / 1e5, 0, 0, 0]);
    assert.deepEqual(db, [1, 0, 0, 0]);
    assert.deepEqual(Array.from(x.dataSync()), [1, 2, 3, 4]);
    // RMSNorm of [3, 4] with γ = 1: mean(x²) = 12.5
    const rms = Array.from(rmsNorm(tf.tensor1d([3, 4]), tf.ones([2]), 0).dataSync());
    assert.ok(Math.abs((rms[0] ?? NaN) - 3 / Math.sqrt(12.5)) < 1e-6 && Math.abs((rms[1] ?? NaN) - 4 / Math.sqrt(12.5)) < 1e-6);
  });
});

test("fused LayerNorm and RMSNorm: gradients pass finite differences", () => {
  tf.tidy(() => {
    const x = tf.randomNormal([3, 5, 16], 0, 1, "float32", 7);
    const g = tf.randomNormal([16], 1, 0.3, "float32", 8);
    const b = tf.randomNormal([16], 0, 0.3, "float32", 9);
    const w = tf.randomNormal([3, 5, 16], 0, 1, "float32", 10);
    const ln = checkGradients(([x_, g_, b_]) => tf.sum(tf.mul(layerNorm(x_ as tf.Tensor, g_ as tf.Tensor, b_ as tf.Tensor, 1e-5), w)) as tf.Scalar, [x, g, b]);
    assert.ok(ln.maxRelError < 1e-2, `LayerNorm: rel error ${ln.maxRelError}`);
    const rms = checkGradients(([x_, g_]) => tf.sum(tf.mul(rmsNorm(x_ as tf.Tensor, g_ as tf.Tensor, 1e-6), w)) as tf.Scalar, [x, g]);
    assert.ok(rms.maxRelError < 1e-2, `RMSNorm: rel error ${rms.maxRelError}`);
  });
});

test("fused attention softmax equals the op path with causal and padding masks: batched, per-head and decoding shapes", () => {
  const H = 6;
  const mask = tf.tensor2d(Array.from({ length: B }, (_, b) => Array.from({ length: T }, (_, t) => (t < 5 * b ? 0 : 1))), [B, T], "int32"); // left padding, row 0 none
  const cases: [string, () => [tf.Tensor, tf.Tensor]][] = [
    ["batched (B, H, T, T)", () => [tf.randomNormal([B, H, T, T], 0, 8, "float32", 11), attentionBias(B, T, 0, mask)]],
    ["per head (T, T)", () => [tf.randomNormal([T, T], 0, 8, "float32", 12), tf.reshape(tf.slice(attentionBias(B, T, 0, mask), [3, 0, 0, 0], [1, 1, T, T]), [T, T])]],
    ["decoding (B, H, 1, past + 1)", () => [tf.randomNormal([B, H, 1, T], 0, 8, "float32", 13), attentionBias(B, 1, T - 1, mask)]],
  ];
  for (const [name, make] of cases) {
    const run = (fused: boolean): Float32Array[] =>
      withFused(fused, () => {
        const [s, bias] = make();
        const w = tf.randomNormal(s.shape, 0, 1, "float32", 14);
        const [ds] = tf.grads((s_: tf.Tensor) => tf.sum(tf.mul(maskedSoftmax(s_, bias, 0.125), w)))([s]);
        return [maskedSoftmax(s, bias, 0.125), ds as tf.Tensor];
      });
    assertClose(run(true), run(false), 1e-5, name);
  }
  mask.dispose();
});

test("fused attention softmax: hand-computed row, masked key 0, and finite differences", (t) => {
  setFusedKernels(ALL_FUSED_KERNELS); // the fused softmax is off by default
  t.after(() => setFusedKernels(true));
  tf.tidy(() => {
    // scores (0, ln 2, ln 3) with the last key masked: y = (1/3, 2/3, 0); ∂y₀/∂s = y₀(δ − y) = (2/9, −2/9, 0)
    const s = tf.tensor2d([[0, Math.log(2), Math.log(3)]]);
    const bias = tf.tensor2d([[0, 0, -1e9]]);
    const y = Array.from(maskedSoftmax(s, bias, 1).dataSync());
    [1 / 3, 2 / 3, 0].forEach((v, j) => assert.ok(Math.abs((y[j] ?? NaN) - v) < 1e-6, `y[${j}] ${y[j]}`));
    const [ds] = tf.grads((s_: tf.Tensor) => tf.sum(tf.mul(maskedSoftmax(s_, bias, 1), tf.tensor2d([[1, 0, 0]]))))([s]);
    const d = Array.from((ds as tf.Tensor).dataSync());
    [2 / 9, -2 / 9, 0].forEach((v, j) => assert.ok(Math.abs((d[j] ?? NaN) - v) < 1e-6, `ds[${j}] ${d[j]}`));
    assert.deepEqual(Array.from(s.dataSync()), [0, Math.fround(Math.log(2)), Math.fround(Math.log(3))]);
    const scores = tf.randomNormal([2, 3, 4, 4], 0, 2, "float32", 15);
    const w = tf.randomNormal([2, 3, 4, 4], 0, 1, "float32", 16);
    // causal mask only: a pad query's row is all −1e9, which swallows its scores in float32 (on both paths), so
    // the function is flat there while the softmax gradient is not
    const causal = attentionBias(2, 4, 0, undefined);
    const check = checkGradients(([s_]) => tf.sum(tf.mul(maskedSoftmax(s_ as tf.Tensor, causal, 0.5), w)) as tf.Scalar, [scores]);
    assert.ok(check.maxRelError < 1e-2, `rel error ${check.maxRelError}`);
  });
});

test("dispatch: on wasm the fused loops replace the op chains (no Rsqrt, no Softmax kernel); the softmax's JS loop only when named", async () => {
  const x = tf.randomNormal([4, 8, 16]);
  const g = tf.ones([16]);
  const b = tf.zeros([16]);
  const s = tf.randomNormal([2, 8, 8]);
  const bias = tf.zeros([2, 8, 8]);
  const kernels = async (groups: boolean | (typeof ALL_FUSED_KERNELS)[number][]): Promise<Set<string>> => {
    setFusedKernels(groups);
    try {
      const info = await tf.profile(() => {
        tf.dispose(tf.grads((x_: tf.Tensor, g_: tf.Tensor, b_: tf.Tensor) => tf.sum(rmsNorm(layerNorm(x_, g_, b_, 1e-5), g_, 1e-5)))([x, g, b]));
        tf.dispose(tf.grads((s_: tf.Tensor) => tf.sum(tf.mul(maskedSoftmax(s_, bias, 0.5), s)))([s]));
      });
      return new Set(info.kernels.map((k) => k.name));
    } finally {
      setFusedKernels(true);
    }
  };
  const ops = await kernels(false);
  assert.ok(ops.has("Rsqrt") && ops.has("Softmax"), [...ops].join(" "));
  // by default the softmax is its SIMD kernel when the SIMD module is on (decision trainer-024), else the tensor ops
  const byDefault = await kernels(true);
  const simdSoftmax = simdKernels(tf.backend() as unknown as WasmHeapBackend, "softmax") !== null;
  assert.ok(!byDefault.has("Rsqrt") && byDefault.has("Softmax") === !simdSoftmax, [...byDefault].join(" "));
  const all = await kernels([...ALL_FUSED_KERNELS]);
  assert.ok(!all.has("Rsqrt") && !all.has("Softmax"), [...all].join(" "));
  tf.dispose([x, g, b, s, bias]);
});

test("a GPT and a Llama step: loss and every parameter gradient agree with all fused loops on and off, both attention forms", () => {
  const gptConfig = resolveGptConfig({ vocabSize: 97, blockSize: 32, nLayer: 2, nHead: 4, nEmbd: 32 });
  const llamaConfig = resolveLlamaConfig({
    architecture: "llama", vocabSize: 97, blockSize: 32, nLayer: 2, nHead: 4, nKvHead: 2, nEmbd: 32, intermediateSize: 48, ropeTheta: 10000, rmsNormEps: 1e-5,
  });
  const gpt = initGpt(gptConfig, 3);
  const llama = initLlama(llamaConfig, 4);
  const ids = tf.tensor2d([Array.from({ length: 24 }, (_, i) => (i * 7) % 97), Array.from({ length: 24 }, (_, i) => (i * 13 + 5) % 97)], [2, 24], "int32");
  const lossMask = tf.tensor2d([Array.from({ length: 24 }, () => 1), Array.from({ length: 24 }, (_, i) => (i < 6 ? 0 : 1))], [2, 24], "int32");
  const attentionMask = tf.tensor2d([Array.from({ length: 24 }, () => 1), Array.from({ length: 24 }, (_, i) => (i < 4 ? 0 : 1))], [2, 24], "int32");
  try {
    for (const [name, params, forward] of [
      ["gpt", gpt.params, () => gptForward(gpt, ids, { attentionMask }).logits],
      ["llama", llama.params, () => llamaForward(llama, ids, { attentionMask }).logits],
    ] as const) {
      for (const impl of ["batched", "per-head"] as const) {
        setAttentionImpl(impl);
        const run = (fused: boolean): Float32Array[] =>
          withFused(fused, () => {
            const vars = [...params.values()];
            const { value, grads } = tf.variableGrads(() => sftLoss(forward() as tf.Tensor3D, ids, lossMask), vars);
            return [value, ...vars.map((v) => grads[v.name] as tf.Tensor)];
          });
        assertClose(run(true), run(false), 1e-4, `${name} ${impl}`);
      }
    }
  } finally {
    setAttentionImpl("auto");
    tf.dispose([ids, lossMask, attentionMask]);
    disposeGpt(gpt);
    disposeLlama(llama);
  }
});
