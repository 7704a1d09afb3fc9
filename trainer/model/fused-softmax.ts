// Attention's softmax(scale·scores + bias) over the last axis, with its additive mask, as one loop per
// row on the wasm heap, forward and backward (decision trainer-019). By default it runs as the wasm SIMD row kernels
// (decision trainer-024); this JS loop runs only when the "softmax" group is named, since it is slower than tfjs's ops.
//
// Why: the tensor-op form is Mul, Add and Softmax forward, and backward the softmax gradient (Mul, Sum,
// Sub, Mul) plus the Mul for the scale: seven passes over (B, H, T, T_k) scores. Here the forward pass
// writes z = scale·s + bias into the output row (stored as float32, so a −1e9 mask swallows the score
// exactly as the op path's float32 Add does: a pad query, whose keys are all masked, still gets the
// same uniform row), then exp(z − max) and the 1/Σ in two more passes over the row, which sits in cache.
// Backward reads y and dy twice per row and writes dx once:
//   ds = scale · y ⊙ (dy − Σ dy ⊙ y).
// The output y is saved for the backward pass (it is the attention matrix the next matmul needs anyway).
// The bias is a constant (the causal and padding mask from gpt.ts's attentionBias) and gets no gradient.
import * as tf from "@tensorflow/tfjs-core";
import { fusedBackend, fusedSoftmaxLoopNamed, heapView, type WasmHeapBackend } from "../backend/wasm-heap.ts";
import { simdKernels, type SimdKernels } from "../backend/wasm-simd.ts";
import { expNonPositive } from "./fast-exp.ts";

/**
 * softmax(scores · scale + bias, −1). scores (…, T, T_k); bias either the same shape or (B, 1, T, T_k)
 * against scores (B, H, T, T_k), shared by the heads. Fused on wasm, tensor ops elsewhere.
 */
export function maskedSoftmax(scores: tf.Tensor, bias: tf.Tensor, scale: number): tf.Tensor {
  const backend = fusedBackend("softmax");
  const groups = backend ? biasGroups(scores, bias) : 0;
  if (backend && groups > 0 && scores.size > 0) {
    const simd = simdKernels(backend, "softmax");
    if (simd) return simdMaskedSoftmax(backend, simd, scores, bias, scale, groups);
    // the JS loop costs more than the tensor ops (trainer-019): only when the group is named
    if (fusedSoftmaxLoopNamed()) return fusedMaskedSoftmax(backend, scores, bias, scale, groups);
  }
  return tf.softmax(tf.add(tf.mul(scores, scale), bias), -1);
}

/**
 * The same on the wasm SIMD row kernels (wasm-simd.ts, decision trainer-024): one kernel call per (T, T_k) block of
 * scores with its block of bias forward, one call over every row backward.
 */
function simdMaskedSoftmax(backend: WasmHeapBackend, simd: SimdKernels, scores: tf.Tensor, bias: tf.Tensor, scale: number, perBias: number): tf.Tensor {
  const shape = scores.shape;
  const Tk = shape[shape.length - 1] as number;
  const rowsPerBlock = shape[shape.length - 2] as number;
  const block = rowsPerBlock * Tk;
  const blocks = scores.size / block;
  const rows = scores.size / Tk;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [st, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const info = backend.makeOutput(shape, "float32");
    const [sAt, bAt, yAt] = [simd.address(st), simd.address(bias), simd.address(info)]; // after the allocation
    for (let k = 0; k < blocks; k++) {
      simd.softmaxRows(sAt + 4 * k * block, bAt + 4 * Math.floor(k / perBias) * block, yAt + 4 * k * block, rowsPerBlock, Tk, scale);
    }
    const out = tf.engine().makeTensorFromTensorInfo(info);
    save([out]);
    return {
      value: out,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const dx = backend.makeOutput(shape, "float32");
        simd.softmaxGradRows(saved[0] as tf.Tensor, dy, dx, rows, Tk, scale);
        return [tf.engine().makeTensorFromTensorInfo(dx)];
      },
    };
  }) as (s: tf.Tensor) => tf.Tensor;
  return op(scores);
}

/** How many consecutive (T, T_k) blocks of scores share one block of bias; 0 when the fused loop does not apply. */
function biasGroups(scores: tf.Tensor, bias: tf.Tensor): number {
  if (scores.dtype !== "float32" || bias.dtype !== "float32" || scores.rank < 2) return 0;
  const s = scores.shape;
  const b = bias.shape;
  if (s.every((d, i) => d === b[i]) && s.length === b.length) return 1;
  // (B, H, T, T_k) against (B, 1, T, T_k)
  if (s.length === 4 && b.length === 4 && b[0] === s[0] && b[1] === 1 && b[2] === s[2] && b[3] === s[3]) return s[1] as number;
  return 0;
}

/** The fused loop; `perBias` consecutive (T, T_k) blocks of scores use the same block of bias. */
export function fusedMaskedSoftmax(backend: WasmHeapBackend, scores: tf.Tensor, bias: tf.Tensor, scale: number, perBias: number): tf.Tensor {
  const shape = scores.shape;
  const Tk = shape[shape.length - 1] as number;
  const block = (shape[shape.length - 2] as number) * Tk;
  const rowsPerBlock = block === 0 ? 0 : block / Tk;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [st, save] = args as [tf.Tensor, tf.GradSaveFunc];
    const info = backend.makeOutput(shape, "float32");
    // views after the allocation, which may move the heap
    const y = backend.typedArrayFromHeap(info) as Float32Array;
    const sv = heapView(backend, st);
    const bv = heapView(backend, bias);
    softmaxRows(sv, bv, y, scale, Tk, rowsPerBlock, perBias);
    const out = tf.engine().makeTensorFromTensorInfo(info);
    save([out]);
    return {
      value: out,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sy] = saved as [tf.Tensor];
        const dxInfo = backend.makeOutput(shape, "float32");
        const dx = backend.typedArrayFromHeap(dxInfo) as Float32Array;
        const yv = heapView(backend, sy);
        const dv = heapView(backend, dy);
        softmaxGradRows(yv, dv, dx, scale, Tk);
        return [tf.engine().makeTensorFromTensorInfo(dxInfo)];
      },
    };
  }) as (s: tf.Tensor) => tf.Tensor;
  return op(scores);
}

// The loops are top-level functions over typed arrays so that V8 optimises them once for every call (a loop in
// the per-call closure ran at half the speed, with the garbage collector busy with boxed doubles).

/** y = softmax(s·scale + bias) per row of length Tk; row r reads bias row (r's block / perBias, r's row in it). */
function softmaxRows(s: Float32Array, bias: Float32Array, y: Float32Array, scale: number, Tk: number, rowsPerBlock: number, perBias: number): void {
  const rows = Tk === 0 ? 0 : s.length / Tk;
  const block = rowsPerBlock * Tk;
  for (let r = 0; r < rows; r++) {
    const o = r * Tk;
    const blk = Math.floor(r / rowsPerBlock);
    const ob = Math.floor(blk / perBias) * block + (r - blk * rowsPerBlock) * Tk; // the bias row
    let max = -Infinity;
    for (let j = 0; j < Tk; j++) {
      y[o + j] = (s[o + j] as number) * scale + (bias[ob + j] as number); // rounded to float32 here
      const z = y[o + j] as number;
      if (z > max) max = z;
    }
    let sum = 0;
    for (let j = 0; j < Tk; j++) {
      const e = expNonPositive((y[o + j] as number) - max);
      y[o + j] = e;
      sum += e;
    }
    const inv = 1 / sum;
    for (let j = 0; j < Tk; j++) y[o + j] = (y[o + j] as number) * inv;
  }
}

/** dx = scale · y ⊙ (dy − Σ dy ⊙ y) per row of length Tk. */
function softmaxGradRows(y: Float32Array, dy: Float32Array, dx: Float32Array, scale: number, Tk: number): void {
  const rows = Tk === 0 ? 0 : y.length / Tk;
  for (let r = 0; r < rows; r++) {
    const o = r * Tk;
    let dot = 0;
    for (let j = 0; j < Tk; j++) dot += (dy[o + j] as number) * (y[o + j] as number);
    for (let j = 0; j < Tk; j++) dx[o + j] = scale * (y[o + j] as number) * ((dy[o + j] as number) - dot);
  }
}
