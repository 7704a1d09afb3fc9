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
