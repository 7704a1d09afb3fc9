// A 2-D matmul whose gradient issues only untransposed 2-D matmuls.
//
// Why: wasm's BatchMatMul sends only rank-2, untransposed products to XNNPACK; transposed ones run a
// naive loop ~10× slower (tfjs-notes.md, cliff 3: 30.6 GFLOP/s plain vs 3.1 transposeB, 0.9
// transposeA). tfjs's stock matmul gradient uses transposeA/transposeB, so the backward pass hit the
// slow path. Transposing explicitly first (a cheap copy) keeps every product on the fast path.
//
// With native BLAS on (wasm-blas-matmul.ts), transposed products cost the same as plain ones, so the
// gradients pass the transpose flags instead of making transposed copies.
import * as tf from "@tensorflow/tfjs-core";
import { wasmBlasActive } from "./wasm-blas-matmul.ts";
import { stepKernelOn } from "./step-kernels.ts";
import type { WasmBackendLike } from "./wasm-kernel-types.ts";
import { simdKernels } from "./wasm-simd.ts";
import { activeHeapBackend } from "./wasm-heap.ts";

/** True when matmuls with transpose flags are as fast as plain ones (native BLAS under wasm). */
export function transposedMatMulIsFast(): boolean {
  return wasmBlasActive() !== null && tf.getBackend() === "wasm";
}

/** a · bᵀ: a transpose flag on the fast path, else an explicit transposed copy (freed at once). */
function matMulBT(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return transposedMatMulIsFast() ? tf.matMul(a, b, false, true) : tf.tidy(() => tf.matMul(a, tf.transpose(b)));
}

/** aᵀ · b, as matMulBT. */
function matMulAT(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return transposedMatMulIsFast() ? tf.matMul(a, b, true, false) : tf.tidy(() => tf.matMul(tf.transpose(a), b));
}

const matMulExplicitGrad = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b), // (N, K) @ (K, M) -> (N, M)
    gradFunc: (g: tf.Tensor2D, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
      // each transposed copy is freed as soon as its product is made (tidy): for a large model the
      // backward pass would otherwise hold a transposed copy of every weight until it ends
      return [
        matMulBT(g, sb), // dA = dY · Bᵀ  (N, M) @ (M, K)
        matMulAT(sa, g), // dB = Aᵀ · dY  (K, N) @ (N, M)
      ];
    },
  };
}) as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;

/** a (N, K) @ b (K, M) -> (N, M), with a backward pass made of untransposed matmuls. */
export function matMul2d(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return matMulExplicitGrad(a, b);
}

/**
 * a (N, K) @ b (K, M) where b needs no gradient (a frozen weight under LoRA, a reference model):
 * the backward pass computes dA = dY · Bᵀ only. With matMul2d the weight's gradient (a third of a
 * step's matmul work) would be computed and then thrown away. `b` must outlive the backward pass
 * (a variable): it is not an input of the op, so the tape does not keep it.
 */
export function matMul2dFrozenB(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x] = args as [tf.Tensor2D, tf.GradSaveFunc];
    return {
      value: tf.matMul(x, b),
      gradFunc: (g: tf.Tensor2D) => [matMulBT(g, b)],
    };
  }) as (x: tf.Tensor2D) => tf.Tensor2D;
  return op(a);
}

/**
 * a (N, K) @ wᵀ for a frozen w (M, K) (a tied, frozen embedding as the LM head): the forward pass
 * multiplies by a transposed copy made and freed on the spot, the backward pass needs none
 * (dA = dY · w, untransposed). `w` must outlive the backward pass (a variable).
 */
export function matMulTransposedFrozen(a: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x] = args as [tf.Tensor2D, tf.GradSaveFunc];
    return {
      value: matMulBT(x, w),
      gradFunc: (g: tf.Tensor2D) => [tf.matMul(g, w)],
    };
  }) as (x: tf.Tensor2D) => tf.Tensor2D;
  return op(a);
}

const matMulBTExplicitGrad = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: matMulBT(a, b), // (N, K) @ (M, K)ᵀ -> (N, M)
    gradFunc: (g: tf.Tensor2D, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [
        tf.matMul(g, sb), // dA = dY · B  (N, M) @ (M, K)
        matMulAT(g, sa), // dB = dYᵀ · A  (M, N) @ (N, K)
      ];
    },
  };
}) as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;

/**
 * A tied LM head: x (N, C) @ wᵀ for an embedding w (V, C) → (N, V). With transpose flags fast (native BLAS under
 * wasm) and the step-kernels group "lm-head" on, one NT product forward and NN / TN products for the gradients, so
 * neither wᵀ (C, V) nor its gradient is copied (decision trainer-026); a frozen w gets no gradient product at all
 * (matMulTransposedFrozen). Otherwise matMul2d on a transposed copy, as before.
 */
export function tiedLmHead(x: tf.Tensor2D, w: tf.Tensor2D): tf.Tensor2D {
  if (!stepKernelOn("lm-head") || !transposedMatMulIsFast()) return matMul2d(x, tf.transpose(w));
  return (w as tf.Tensor as Partial<tf.Variable>).trainable === false ? matMulTransposedFrozen(x, w) : matMulBTExplicitGrad(x, w);
}

/** The wasm backend's heap access when the fused linear (step-kernels.ts group "linear") applies, else null. */
function fusedLinearBackend(): { blas: NonNullable<ReturnType<typeof wasmBlasActive>>; backend: WasmBackendLike } | null {
  const blas = wasmBlasActive();
  const backend = blas && stepKernelOn("linear") ? activeHeapBackend() : null;
  return blas && backend ? { blas, backend } : null;
}

/**
 * C (N, M) = the bias in every row, or residual + bias (float32 sums, as tf.add), before sgemm adds x·w onto it with
 * beta 1. sgemm with beta 0 zeros C in a pass of its own first, so the fill costs what that pass did. The residual
 * sum is the SIMD kernel add_rows when the module is loaded (a JS loop ran at ~2.5 ns an element), the JS loop
 * otherwise and for the last M mod 4 columns.
 */
function fillBiasRows(backend: WasmBackendLike, out: tf.TensorInfo, b: tf.Tensor, r: tf.Tensor | null, N: number, M: number): void {
  const simd = r ? simdKernels(backend) : null; // first: its first load allocates (a self-check)
  const c = backend.typedArrayFromHeap(out) as Float32Array;
  const bias = backend.typedArrayFromHeap(b) as Float32Array;
  if (!r) {
    for (let i = 0; i < N; i++) c.set(bias, i * M);
    return;
  }
  const residual = backend.typedArrayFromHeap(r) as Float32Array;
  const from = simd ? M - (M % 4) : 0;
  if (simd && from > 0) simd.addRows(simd.address(r), simd.address(b), simd.address(out), N, M);
  if (from === M) return;
  for (let i = 0; i < N; i++) {
    const o = i * M;
    for (let j = from; j < M; j++) c[o + j] = (residual[o + j] as number) + (bias[j] as number);
  }
}

function fusedLinearOp(env: NonNullable<ReturnType<typeof fusedLinearBackend>>, withResidual: boolean) {
  const { blas, backend } = env;
  return tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, w, b] = args as [tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
    const r = withResidual ? (args[3] as tf.Tensor) : null;
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [N = 0, K = 0] = x.shape;
    const M = w.shape[1] ?? 0;
    const out = backend.makeOutput([N, M], "float32");
    fillBiasRows(backend, out, b, r, N, M);
    // views only after makeOutput and the fill (the SIMD module's first load allocates): the heap buffer may grow and detach
    const c = backend.typedArrayFromHeap(out) as Float32Array;
    blas.sgemmLd(false, false, N, M, K, backend.typedArrayFromHeap(x) as Float32Array, K, backend.typedArrayFromHeap(w) as Float32Array, M, c, M, 1);
    save([x, w]);
    return {
      value: tf.engine().makeTensorFromTensorInfo(out) as tf.Tensor2D,
      gradFunc: (g: tf.Tensor2D, saved: tf.Tensor[]) => {
        const [sx, sw] = saved as [tf.Tensor2D, tf.Tensor2D];
        const grads = [
          tf.matMul(g, sw, false, true), // dx = dY · wᵀ
          tf.matMul(sx, g, true, false), // dw = xᵀ · dY
          tf.sum(g, 0), // db: the column sums (wasm-layout-kernels.ts: sgemv)
        ];
        return r ? [...grads, tf.reshape(g, r.shape)] : grads;
      },
    };
  });
}

/**
 * x (N, K) · w (K, M) + b (M), plus `residual` (N·M elements, any shape) when given; (N, M). With native BLAS under
 * wasm and the step-kernels group "linear" on (decision trainer-031), one op: the output is filled with the bias (or
 * residual + bias) and cblas_sgemm adds the product onto it with beta 1, so there is no tfjs Add and no pass over
 * the output besides sgemm's; backward dx = dY·wᵀ and dw = xᵀ·dY with transpose flags, db the column sums, and the
 * residual's gradient dY itself. Otherwise matMul2d and tf.add, as before. The sums differ from tf.add's only in
 * float32 rounding (the bias is in C while sgemm accumulates).
 */
export function linearBias(x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor, residual?: tf.Tensor): tf.Tensor2D {
  const env = fusedLinearBackend();
  const [N = 0, K = 0] = x.shape;
  const M = w.shape[1] ?? 0;
  const fits =
    env !== null && x.rank === 2 && w.rank === 2 && w.shape[0] === K && b.rank === 1 && b.shape[0] === M && N * M * K > 0 &&
    [x, w, b, residual ?? x].every((t) => t.dtype === "float32") && (residual === undefined || residual.size === N * M);
  if (!fits || !env) {
    const y = tf.add(matMul2d(x, w), b) as tf.Tensor2D;
    return residual ? (tf.add(tf.reshape(residual, [N, M]), y) as tf.Tensor2D) : y;
  }
  if (residual) return (fusedLinearOp(env, true) as (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor, r: tf.Tensor) => tf.Tensor2D)(x, w, b, residual);
  return (fusedLinearOp(env, false) as (x: tf.Tensor, w: tf.Tensor, b: tf.Tensor) => tf.Tensor2D)(x, w, b);
}
