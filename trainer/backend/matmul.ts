// A 2-D matmul whose gradient issues only untransposed 2-D matmuls.
//
// Why: wasm's BatchMatMul sends only rank-2, untransposed products to XNNPACK; transposed ones run a
// naive loop ~10× slower (tfjs-notes.md, cliff 3: 30.6 GFLOP/s plain vs 3.1 transposeB, 0.9
// transposeA). tfjs's stock matmul gradient uses transposeA/transposeB, so the backward pass hit the
// slow path. Transposing explicitly first (a cheap copy) keeps every product on the fast path.
import * as tf from "@tensorflow/tfjs-core";

const matMulExplicitGrad = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
  const [a, b, save] = args as [tf.Tensor2D, tf.Tensor2D, tf.GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b), // (N, K) @ (K, M) -> (N, M)
    gradFunc: (g: tf.Tensor2D, saved: tf.Tensor[]) => {
      const [sa, sb] = saved as [tf.Tensor2D, tf.Tensor2D];
      return [
        tf.matMul(g, tf.transpose(sb)), // dA = dY · Bᵀ  (N, M) @ (M, K)
        tf.matMul(tf.transpose(sa), g), // dB = Aᵀ · dY  (K, N) @ (N, M)
      ];
    },
  };
}) as (a: tf.Tensor2D, b: tf.Tensor2D) => tf.Tensor2D;

/** a (N, K) @ b (K, M) -> (N, M), with a backward pass made of untransposed matmuls. */
export function matMul2d(a: tf.Tensor2D, b: tf.Tensor2D): tf.Tensor2D {
  return matMulExplicitGrad(a, b);
}
