// The in-place qkv attention (qkv-attention.ts, decision trainer-025) against the tensor-op attention: values and
// gradients of causalSelfAttention with and without it on wasm + OpenBLAS, and against plain wasm, with causal and
// padding masks; a finite-difference check of its gradient; and a whole GPT's loss gradient on both paths. SKIPs,
// with the reason, where OpenBLAS is not installed (Debian: apt-get install libopenblas0-pthread).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { ALL_FUSED_KERNELS, setFusedKernels } from "../backend/wasm-heap.ts";
import { loadNativeBlas } from "../backend/native-blas.ts";
import { resolveGptConfig } from "../contract/gpt-config.ts";
import { checkGradients } from "../testing/grad-check.ts";
import { createRng, normalArray } from "../random/rng.ts";
import { attentionBias, causalSelfAttention, disposeGpt, gptForward, initGpt } from "./gpt.ts";
import { qkvAttention, qkvAttentionBackend, setQkvAttention } from "./qkv-attention.ts";

const probe = await loadNativeBlas({ threads: 1 });
const skip = "reason" in probe ? `native BLAS unavailable: ${probe.reason}` : false;

after(async () => {
  setQkvAttention(true);
  setFusedKernels(true);
  await initBackend({ prefer: "wasm" });
});

const randn = (shape: number[], seed: number, std = 1): tf.Tensor => tf.tensor(normalArray(createRng(seed), shape.reduce((p, d) => p * d, 1), std), shape);

type Case = { B: number; T: number; C: number; H: number; mask: boolean };
const CASES: Case[] = [
  { B: 2, T: 5, C: 12, H: 3, mask: false },
  { B: 3, T: 9, C: 16, H: 2, mask: true },
  { B: 2, T: 33, C: 48, H: 4, mask: true },
  { B: 1, T: 1, C: 6, H: 6, mask: false },
];

/** y and the gradients of Σ y·probe with respect to x, c_attn (weight, bias) and c_proj's weight. */
function attentionAndGrads(c: Case, seed: number): Float32Array[] {
  return tf.tidy(() => {
    const { B, T, C, H } = c;
    const x = randn([B, T, C], seed) as tf.Tensor3D;
    const w = { cAttnW: randn([C, 3 * C], seed + 1, 0.5), cAttnB: randn([3 * C], seed + 2, 0.1), cProjW: randn([C, C], seed + 3, 0.5), cProjB: randn([C], seed + 4, 0.1) };
    // padding: the first rows are left-padded by 0, 1, 2, … tokens
    const mask = c.mask ? tf.tensor2d(Array.from({ length: B * T }, (_, i) => (i % T < Math.min(i / T | 0, T - 1) ? 0 : 1)), [B, T], "float32") : undefined;
    const bias = attentionBias(B, T, 0, mask);
    const probeT = randn([B, T, C], seed + 5);
    const f = (xx: tf.Tensor, wa: tf.Tensor, ba: tf.Tensor, wp: tf.Tensor): tf.Scalar =>
      tf.sum(tf.mul(causalSelfAttention(xx as tf.Tensor3D, { ...w, cAttnW: wa, cAttnB: ba, cProjW: wp }, H, bias, undefined, false).y, probeT));
    const y = causalSelfAttention(x, w, H, bias, undefined, false).y;
    const g = tf.grads((xx, wa, ba, wp) => f(xx as tf.Tensor, wa as tf.Tensor, ba as tf.Tensor, wp as tf.Tensor))([x, w.cAttnW, w.cAttnB, w.cProjW]);
    return [y, ...g].map((t) => t.dataSync().slice() as Float32Array);
  }) as unknown as Float32Array[];
}

function assertClose(want: Float32Array[], got: Float32Array[], tol: number, what: string): void {
  assert.equal(want.length, got.length);
  want.forEach((a, k) => {
    const b = got[k] as Float32Array;
    assert.equal(a.length, b.length);
    const scale = Math.max(1, ...Array.from(a, Math.abs));
    let worst = 0;
    for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs((a[i] ?? 0) - (b[i] ?? Number.NaN)));
    assert.ok(worst <= tol * scale, `${what} [${k}]: max |Δ| ${worst} (scale ${scale})`);
  });
}

test("in-place qkv attention equals the tensor-op attention (BLAS and plain wasm): values and gradients, causal and padding masks", { skip }, async () => {
  // the one-op core (softmax SIMD kernels on, the default) and the two products around the softmax ops (group off)
  for (const [i, c] of [...CASES.entries(), ...CASES.map((c, i) => [i + 10, c] as const)]) {
    setFusedKernels(i < 10 ? true : ALL_FUSED_KERNELS.filter((k) => k !== "softmax"));
    await initBackend({ prefer: "wasm", blas: "off" });
    const wasm = attentionAndGrads(c, 10 * i);
    await initBackend({ prefer: "wasm", blas: "auto", blasThreads: 1 });
    setQkvAttention(false);
    assert.equal(qkvAttentionBackend(), null);
    const ops = attentionAndGrads(c, 10 * i);
    setQkvAttention(true);
    assert.notEqual(qkvAttentionBackend(), null, "the in-place path is on");
    // it really runs: without a cache the in-place path returns no per-head keys/values
    tf.tidy(() => {
      const x = randn([c.B, c.T, c.C], 1) as tf.Tensor3D;
      const w = { cAttnW: randn([c.C, 3 * c.C], 2), cAttnB: randn([3 * c.C], 3), cProjW: randn([c.C, c.C], 4), cProjB: randn([c.C], 5) };
      assert.equal(causalSelfAttention(x, w, c.H, attentionBias(c.B, c.T, 0, undefined), undefined, false).k, undefined);
    });
    const inPlace = attentionAndGrads(c, 10 * i);
    const what = `${JSON.stringify(c)} ${i < 10 ? "one op" : "two ops"}`;
    assertClose(ops, inPlace, 1e-5, `${what} in place vs ops on BLAS`);
    assertClose(wasm, inPlace, 1e-4, `${what} in place vs plain wasm`);
  }
  setFusedKernels(true);
});

test("in-place qkv attention: its own op's gradients pass a finite-difference check", { skip }, async () => {
  await initBackend({ prefer: "wasm", blas: "auto", blasThreads: 1 });
  setQkvAttention(true);
  tf.tidy(() => {
    const [B, T, C, H] = [2, 6, 12, 3];
    // causal mask only: a pad query's row is all −1e9 + s, which rounds to a constant in float32, so finite
    // differences see no change there while the analytic softmax gradient (of every path) is not zero
    const bias = attentionBias(B, T, 0, undefined);
    const probeT = randn([B * T, C], 7);
    const qkv = randn([B * T, 3 * C], 8, 0.7);
    const loss = ([x]: tf.Tensor[]): tf.Scalar => {
      const y = qkvAttention(x as tf.Tensor2D, B, T, H, bias);
      if (!y) throw new Error("in-place path not taken");
      return tf.sum(tf.mul(y, probeT));
    };
    for (const fused of [true, ALL_FUSED_KERNELS.filter((k) => k !== "softmax")]) {
      setFusedKernels(fused);
      const check = checkGradients(loss, [qkv], { eps: 1e-2, directions: 4 });
      assert.ok(check.maxRelError < 1e-2, `${fused === true ? "one op" : "two ops"}: rel error ${JSON.stringify(check)}`);
    }
    setFusedKernels(true);
  });
});

test("a tiny GPT's logits and loss gradients are the same with the in-place attention on and off", { skip }, async () => {
  await initBackend({ prefer: "wasm", blas: "auto", blasThreads: 1 });
  const model = initGpt(resolveGptConfig({ vocabSize: 29, blockSize: 16, nLayer: 2, nHead: 2, nEmbd: 16 }), 4);
  const run = (): Float32Array[] =>
    tf.tidy(() => {
      const ids = tf.tensor2d([[1, 2, 3, 4, 5, 6], [0, 0, 7, 8, 9, 10]], [2, 6], "int32");
      const attentionMask = tf.tensor2d([[1, 1, 1, 1, 1, 1], [0, 0, 1, 1, 1, 1]], [2, 6], "int32");
      const targets = tf.oneHot(tf.tensor2d([[2, 3, 4, 5, 6, 7], [0, 0, 8, 9, 10, 11]], [2, 6], "int32"), 29);
      const vars = [...model.params.values()];
      const { value, grads } = tf.variableGrads(() => tf.mean(tf.mul(tf.logSoftmax(gptForward(model, ids, { attentionMask }).logits as tf.Tensor), targets)) as tf.Scalar, vars);
      return [value, ...vars.map((v) => grads[v.name] as tf.Tensor)].map((t) => t.dataSync().slice() as Float32Array);
    }) as unknown as Float32Array[];
  setQkvAttention(false);
  const off = run();
  setQkvAttention(true);
  const on = run();
  assertClose(off, on, 1e-5, "GPT loss and gradients");
  disposeGpt(model);
});
