// Causal self-attention's two products read straight from the (B·T, 3C) qkv projection and write straight into the
// (B·T, C) merged heads, with cblas_sgemm's leading dimensions (decision trainer-025).
//
// Why: the tensor-op form splits qkv into three strided copies (SplitV), transposes each to (B, H, T, D), and
// transposes the (B, H, T, D) context back before the output projection: three copies and four transposes forward,
// and backward four transposes plus the split's concat. Head h of batch row b is the block of rows b·T … b·T+T−1
// and columns h·D … h·D+D−1 (q), C + h·D … (k), 2C + h·D … (v) of qkv, a row-major matrix with row length 3C, so
// sgemm can multiply it in place given lda = 3C. The context of head (b, h) is likewise a block of the merged
// (B·T, C) output with ldc = C. Scores and the attention matrix stay (B, H, T, T) tensors, so the masked softmax
// between the two products (fused-softmax.ts) is unchanged.
//   scores (b, h) = Q Kᵀ                  context (b, h) = P V
//   dQ = dS K,  dK = dSᵀ Q                 dP = dY Vᵀ,  dV = Pᵀ dY
// With the softmax's SIMD kernels on (the default) the two products and the softmax are one op (qkvAttentionCore),
// whose backward pass writes every column of the qkv gradient. Without them the products are two ops around the
// masked softmax; each op's qkv gradient fills only its own columns (q and k, or v) and zeros the rest, and the tape
// adds the two.
// In the one-op core, batch rows whose bias is causal in its first half skip the masked quarter of every (T, T)
// product (causalSplits; step-kernels.ts group "causal", decision trainer-026).
// Only with native BLAS under wasm (the products run as one sgemm per (b, h), as the batched path's do) and
// without a KV cache (training, and forward passes that keep no keys/values).
import * as tf from "@tensorflow/tfjs-core";
import { wasmBlasActive } from "../backend/wasm-blas-matmul.ts";
import type { NativeBlas } from "../backend/native-blas.ts";
import { activeHeapBackend, fusedBackend, type WasmHeapBackend } from "../backend/wasm-heap.ts";
import { simdKernels, type SimdKernels } from "../backend/wasm-simd.ts";
import { stepKernelOn } from "../backend/step-kernels.ts";
import { maskedSoftmax } from "./fused-softmax.ts";

let enabled = process.env["TANDEM_QKV_ATTENTION"] !== "off";

/** Switches the in-place qkv attention on (the default) or off (tensor ops: split, transposes, batched matmuls). */
export function setQkvAttention(on: boolean): void {
  enabled = on;
}

/** The BLAS and wasm backend when the in-place attention applies, else null. */
export function qkvAttentionBackend(): { blas: NativeBlas; backend: WasmHeapBackend } | null {
  const blas = wasmBlasActive();
  const backend = enabled && blas ? activeHeapBackend() : null;
  return blas && backend ? { blas, backend } : null;
}

type Dims = { B: number; T: number; H: number; D: number; C: number };

/** Zeros columns [from, to) of every row of a (rows, width) row-major matrix. */
function zeroColumns(m: Float32Array, rows: number, width: number, from: number, to: number): void {
  for (let r = 0; r < rows; r++) m.fill(0, r * width + from, r * width + to);
}

/** Calls fn for every head (b, h), batch row first. */
function forEachHead(d: Dims, fn: (b: number, h: number) => void): void {
  for (let b = 0; b < d.B; b++) for (let h = 0; h < d.H; h++) fn(b, h);
}

/** Below this sequence length the causal split's extra calls cost more than the products they save. */
const CAUSAL_SPLIT_MIN_T = 32;

/**
 * Per batch row, where the causal split of decision trainer-026 cuts its queries (step-kernels.ts group "causal"), or
 * 0 for no split. With m = ⌊T/2⌋, queries 0 … m−1 see only keys 0 … m−1 when their diagonal is unmasked (bias 0) and
 * every key from m on is masked (bias ≤ −1e9): those probabilities are exp(≈ −1e9) = 0 exactly, so their scores need
 * not be computed, and the products skip that quarter of every (T, T) block. A row with left padding (a pad query's
 * diagonal is masked, and it may see later real keys) keeps the full products. bias (B, 1, T, T) as a heap view.
 */
export function causalSplits(bias: Float32Array, B: number, T: number): Int32Array {
  const splits = new Int32Array(B);
  if (T < CAUSAL_SPLIT_MIN_T || !stepKernelOn("causal")) return splits;
  const m = Math.floor(T / 2);
  for (let b = 0; b < B; b++) {
    let ok = true;
    for (let r = 0; r < m && ok; r++) {
      const row = (b * T + r) * T;
      if (bias[row + r] !== 0) ok = false;
      for (let j = m; j < T && ok; j++) if (!((bias[row + j] as number) <= -1e9)) ok = false;
    }
    splits[b] = ok ? m : 0;
  }
  return splits;
}

/** Zeros columns m … T−1 of rows 0 … m−1 of a (T, T) block: the causal split's quarter that no product writes. */
function zeroUpperRight(block: Float32Array, T: number, m: number): void {
  for (let r = 0; r < m; r++) block.fill(0, r * T + m, r * T + T);
}

/**
 * The products of head (b, h), one sgemm each, on blocks of the heap views: in qkv (row length 3C) the head's q starts
 * at b·T·3C + h·D, its k C further, its v 2C further; in the merged heads (row length C) at b·T·C + h·D; its (T, T)
 * block of scores or P at (b·H + h)·T². The in-place ops below all call these, so the offsets are written once.
 * With a causal split m = splits[b] > 0 (causalSplits) each product is two: queries 0 … m−1 against keys 0 … m−1,
 * and queries m … T−1 against all keys (the key-side gradients dV, dK likewise by key rows); the scores' and dP's
 * skipped quarter is zero-filled so the softmax kernels read finite values there (they give 0 for it: P is 0).
 */
function headProducts(blas: NativeBlas, d: Dims, splits: Int32Array = new Int32Array(d.B)) {
  const { T, H, D, C } = d;
  const ld = 3 * C;
  const qAt = (b: number, h: number) => b * T * ld + h * D;
  const mergedAt = (b: number, h: number) => b * T * C + h * D;
  const blockAt = (b: number, h: number) => (b * H + h) * T * T;
  /** A·Bᵀ (T, T) from row blocks a, b with row length ld, written into c (row length T), split or whole */
  const abT = (m: number, a: Float32Array, lda: number, b: Float32Array, c: Float32Array): void => {
    if (m > 0) {
      blas.sgemmLd(false, true, m, m, D, a, lda, b, ld, c, T);
      zeroUpperRight(c, T, m);
    }
    blas.sgemmLd(false, true, T - m, T, D, a.subarray(m * lda), lda, b, ld, c.subarray(m * T), T);
  };
  /** P·X (T, D) for a (T, T) block p: rows before m use only the first m columns */
  const pX = (m: number, p: Float32Array, x: Float32Array, c: Float32Array, ldc: number): void => {
    if (m > 0) blas.sgemmLd(false, false, m, D, m, p, T, x, ld, c, ldc);
    blas.sgemmLd(false, false, T - m, D, T, p.subarray(m * T), T, x, ld, c.subarray(m * ldc), ldc);
  };
  /** Pᵀ·X (T, D) for a (T, T) block p: key rows from m on are seen only by query rows from m on */
  const pTX = (m: number, p: Float32Array, x: Float32Array, ldx: number, c: Float32Array): void => {
    if (m > 0) blas.sgemmLd(true, false, m, D, T, p, T, x, ldx, c, ld);
    blas.sgemmLd(true, false, T - m, D, T - m, p.subarray(m * T + m), T, x.subarray(m * ldx), ldx, c.subarray(m * ld), ld);
  };
  return {
    blockAt,
    /** S = Q·Kᵀ into the scores block */
    scores(x: Float32Array, b: number, h: number, s: Float32Array): void {
      const at = qAt(b, h);
      abT(splits[b] as number, x.subarray(at), ld, x.subarray(at + C), s.subarray(blockAt(b, h)));
    },
    /** Y = P·V into the head's columns of the merged heads */
    context(p: Float32Array, x: Float32Array, b: number, h: number, y: Float32Array): void {
      pX(splits[b] as number, p.subarray(blockAt(b, h)), x.subarray(qAt(b, h) + 2 * C), y.subarray(mergedAt(b, h)), C);
    },
    /** dP = dY·Vᵀ into the dP block, dV = Pᵀ·dY into v's columns of the qkv gradient */
    contextGrad(dy: Float32Array, p: Float32Array, x: Float32Array, b: number, h: number, dp: Float32Array, dx: Float32Array): void {
      const m = splits[b] as number;
      const dY = dy.subarray(mergedAt(b, h));
      const vAt = qAt(b, h) + 2 * C;
      abT(m, dY, C, x.subarray(vAt), dp.subarray(blockAt(b, h)));
      pTX(m, p.subarray(blockAt(b, h)), dY, C, dx.subarray(vAt));
    },
    /** dQ = dS·K into q's columns, dK = dSᵀ·Q into k's columns of the qkv gradient */
    scoresGrad(ds: Float32Array, x: Float32Array, b: number, h: number, dx: Float32Array): void {
      const m = splits[b] as number;
      const at = qAt(b, h);
      const dS = ds.subarray(blockAt(b, h));
      pX(m, dS, x.subarray(at + C), dx.subarray(at), ld);
      pTX(m, dS, x.subarray(at), ld, dx.subarray(at + C));
    },
  };
}

/** scores (B, H, T, T) = q·kᵀ per head, q and k read from qkv (B·T, 3C) in place. */
function qkvScores(env: { blas: NativeBlas; backend: WasmHeapBackend }, qkv: tf.Tensor2D, d: Dims): tf.Tensor4D {
  const { backend } = env;
  const { B, T, H, C } = d;
  const ld = 3 * C;
  const heads = headProducts(env.blas, d);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const info = backend.makeOutput([B, H, T, T], "float32");
    const s = backend.typedArrayFromHeap(info) as Float32Array; // views after the allocation
    const q = backend.typedArrayFromHeap(x) as Float32Array;
    forEachHead(d, (b, h) => heads.scores(q, b, h, s));
    save([x]);
    return {
      value: tf.engine().makeTensorFromTensorInfo(info) as tf.Tensor4D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const dInfo = backend.makeOutput([B * T, ld], "float32");
        const dq = backend.typedArrayFromHeap(dInfo) as Float32Array;
        const xs = backend.typedArrayFromHeap(saved[0] as tf.Tensor) as Float32Array;
        const ds = backend.typedArrayFromHeap(dy) as Float32Array;
        zeroColumns(dq, B * T, ld, 2 * C, ld); // v's columns: no gradient from the scores
        forEachHead(d, (b, h) => heads.scoresGrad(ds, xs, b, h, dq));
        return [tf.engine().makeTensorFromTensorInfo(dInfo)];
      },
    };
  }) as (x: tf.Tensor2D) => tf.Tensor4D;
  return op(qkv);
}

/** merged (B·T, C) = p·v per head, v read from qkv (B·T, 3C) and each head's context written into its columns. */
function qkvContext(env: { blas: NativeBlas; backend: WasmHeapBackend }, att: tf.Tensor4D, qkv: tf.Tensor2D, d: Dims): tf.Tensor2D {
  const { backend } = env;
  const { B, T, H, C } = d;
  const ld = 3 * C;
  const heads = headProducts(env.blas, d);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [p, x, save] = args as [tf.Tensor4D, tf.Tensor2D, tf.GradSaveFunc];
    const info = backend.makeOutput([B * T, C], "float32");
    const y = backend.typedArrayFromHeap(info) as Float32Array;
    const pv = backend.typedArrayFromHeap(p) as Float32Array;
    const xv = backend.typedArrayFromHeap(x) as Float32Array;
    forEachHead(d, (b, h) => heads.context(pv, xv, b, h, y));
    save([p, x]);
    return {
      value: tf.engine().makeTensorFromTensorInfo(info) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const dpInfo = backend.makeOutput([B, H, T, T], "float32");
        const dxInfo = backend.makeOutput([B * T, ld], "float32");
        const dp = backend.typedArrayFromHeap(dpInfo) as Float32Array;
        const dx = backend.typedArrayFromHeap(dxInfo) as Float32Array;
        const ps = backend.typedArrayFromHeap(saved[0] as tf.Tensor) as Float32Array;
        const xs = backend.typedArrayFromHeap(saved[1] as tf.Tensor) as Float32Array;
        const g = backend.typedArrayFromHeap(dy) as Float32Array;
        zeroColumns(dx, B * T, ld, 0, 2 * C); // q's and k's columns: no gradient from the context
        forEachHead(d, (b, h) => heads.contextGrad(g, ps, xs, b, h, dp, dx));
        return [tf.engine().makeTensorFromTensorInfo(dpInfo), tf.engine().makeTensorFromTensorInfo(dxInfo)];
      },
    };
  }) as (p: tf.Tensor4D, x: tf.Tensor2D) => tf.Tensor2D;
  return op(att, qkv);
}

/**
 * The whole attention core as one op when the softmax's SIMD row kernels are on (wasm-simd.ts): scores are written
 * by sgemm and turned into P by the softmax kernel in place, then P·v goes straight into the merged heads. Backward
 * makes one (B·T, 3C) qkv gradient with every column written by sgemm (no zero fill, no second gradient for the
 * tape to add): dP = dY·Vᵀ, dV = Pᵀ·dY, dS = softmax′(P, dP) in place, dQ = dS·K, dK = dSᵀ·Q. Only P is kept for
 * the backward pass (the scores are not: they are P's buffer). bias (B, 1, T, T).
 */
function qkvAttentionCore(env: { blas: NativeBlas; backend: WasmHeapBackend }, simd: SimdKernels, qkv: tf.Tensor2D, bias: tf.Tensor4D, d: Dims): tf.Tensor2D {
  const { backend } = env;
  const { B, T, H, D, C } = d;
  const ld = 3 * C;
  const scale = 1 / Math.sqrt(D);
  const block = T * T;
  const heads = headProducts(env.blas, d, causalSplits(backend.typedArrayFromHeap(bias) as Float32Array, B, T));
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const pInfo = backend.makeOutput([B, H, T, T], "float32");
    const info = backend.makeOutput([B * T, C], "float32");
    const pv = backend.typedArrayFromHeap(pInfo) as Float32Array; // views after the allocations
    const xv = backend.typedArrayFromHeap(x) as Float32Array;
    const y = backend.typedArrayFromHeap(info) as Float32Array;
    const [pAt, bAt] = [simd.address(pInfo), simd.address(bias)];
    forEachHead(d, (b, h) => {
      const k = heads.blockAt(b, h);
      heads.scores(xv, b, h, pv); // S = Q·Kᵀ
      simd.softmaxRows(pAt + 4 * k, bAt + 4 * b * block, pAt + 4 * k, T, T, scale); // P, in place
      heads.context(pv, xv, b, h, y); // P·V
    });
    const p = tf.engine().makeTensorFromTensorInfo(pInfo);
    save([x, p]);
    return {
      value: tf.engine().makeTensorFromTensorInfo(info) as tf.Tensor2D,
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [xs, ps] = saved as [tf.Tensor, tf.Tensor];
        const dpInfo = backend.makeOutput([B, H, T, T], "float32");
        const dxInfo = backend.makeOutput([B * T, ld], "float32");
        const dp = backend.typedArrayFromHeap(dpInfo) as Float32Array;
        const dx = backend.typedArrayFromHeap(dxInfo) as Float32Array;
        const P = backend.typedArrayFromHeap(ps) as Float32Array;
        const X = backend.typedArrayFromHeap(xs) as Float32Array;
        const g = backend.typedArrayFromHeap(dy) as Float32Array;
        forEachHead(d, (b, h) => heads.contextGrad(g, P, X, b, h, dp, dx)); // dP, dV
        simd.softmaxGradRows(ps, dpInfo, dpInfo, B * H * T, T, scale); // dS, in place over dP
        forEachHead(d, (b, h) => heads.scoresGrad(dp, X, b, h, dx)); // dQ, dK
        tf.engine().makeTensorFromTensorInfo(dpInfo).dispose();
        return [tf.engine().makeTensorFromTensorInfo(dxInfo)];
      },
    };
  }) as (x: tf.Tensor2D) => tf.Tensor2D;
  return op(qkv);
}

/**
 * Attention over qkv (B·T, 3C) → merged heads (B·T, C) without a KV cache: softmax(q·kᵀ/√D + bias)·v per head.
 * bias (B, 1, T, T). With the softmax's SIMD kernels, one op (qkvAttentionCore); otherwise the two products as ops
 * around fused-softmax.ts's maskedSoftmax. Null when the in-place path does not apply (the caller then runs the
 * tensor ops).
 */
export function qkvAttention(qkv: tf.Tensor2D, B: number, T: number, nHead: number, bias: tf.Tensor4D): tf.Tensor2D | null {
  const env = qkvAttentionBackend();
  const C = (qkv.shape[1] ?? 0) / 3;
  if (!env || qkv.dtype !== "float32" || qkv.shape[0] !== B * T || !Number.isInteger(C) || C % nHead !== 0 || B * T * C === 0) return null;
  const d = { B, T, H: nHead, D: C / nHead, C };
  const softmaxOn = fusedBackend("softmax");
  const simd = softmaxOn ? simdKernels(softmaxOn, "softmax") : null;
  const biasFits = bias.dtype === "float32" && bias.rank === 4 && [B, 1, T, T].every((n, i) => bias.shape[i] === n);
  if (simd && biasFits) return qkvAttentionCore(env, simd, qkv, bias, d);
  return qkvContext(env, maskedSoftmax(qkvScores(env, qkv, d), bias, 1 / Math.sqrt(d.D)) as tf.Tensor4D, qkv, d);
}
