// log p(label) over the vocabulary, as one loop per row on the wasm heap, with its gradient as
// one more (decision trainer-015). This is the fused form of logprobs.ts's logSoftmax + gather.
//
// Why: for every token the tensor-op path runs max, subtract, exp, sum, log and subtract over the
// whole vocabulary. A gather then reads one value, and the backward pass runs the same chain in
// reverse plus an UnsortedSegmentSum that scatters into a (rows × V) tensor of zeros. micro's logits
// are 1024 × 2048, so that is about a dozen passes over 2M floats each way, and wasm's Exp is a
// scalar loop. Here the forward pass reads each logit twice (max, then Σ exp) and keeps only the
// log-normaliser per row. The backward pass writes each gradient once:
//   ∂ log p(y) / ∂ x_j = (1[j = y] − softmax_j) / τ, scaled by the row's upstream gradient.
// The arithmetic is float64 per row, so the results match the op path to float32 rounding
// (losses.test.ts: values, gradients, finite differences). Every exp here has an argument ≤ 0 (x − max
// forward, x/τ − log Σ backward), so it uses fast-exp.ts's polynomial (within 1e-8 relative, about half
// the CPU of Math.exp); a row whose normaliser is not finite keeps Math.exp, so NaN and ∞ propagate. With the wasm
// SIMD kernels (decision trainer-024) the max, the sum of exps and the gradient row run as f32x4 loops instead (the
// exps in float32, the sum in float64); the rest stays here.
import * as tf from "@tensorflow/tfjs-core";
import { heapView, type WasmHeapBackend } from "../backend/wasm-heap.ts";
import { simdKernels } from "../backend/wasm-simd.ts";
import { expNonPositive } from "../model/fast-exp.ts";

/**
 * logits (R, V) float32 on the wasm heap, labels (R) as numbers (< 0 means "no target": 0 out, no gradient) → log p
 * (R), differentiable with respect to the logits. `temperature` divides the logits first.
 */
export function fusedTokenLogProbs(backend: WasmHeapBackend, logits: tf.Tensor2D, labels: Int32Array, temperature: number): tf.Tensor1D {
  const [R, V] = logits.shape;
  const inv = 1 / temperature;
  // the SIMD row kernels (decision trainer-024) when they are loaded: the same passes with f32x4 exps, sums in float64
  const simd = V > 0 ? simdKernels(backend, "logprobs") : null;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, save] = args as [tf.Tensor2D, tf.GradSaveFunc];
    const xs = heapView(backend, x);
    const xAt = simd ? simd.address(x) : 0;
    const out = new Float32Array(R);
    const lse = new Float64Array(R); // log Σ_j exp(x_j/τ), per row
    const maxes = new Float64Array(R);
    const logSums = new Float64Array(R); // log Σ_j exp((x_j − max)/τ)
    for (let r = 0; r < R; r++) {
      const y = labels[r] as number;
      if (y < 0) continue; // no target (prompt, padding, a sequence's last position): 0 out, no gradient, no work
      const row = r * V;
      let max = -Infinity;
      if (simd) max = simd.rowMax(xAt + 4 * row, V); // may skip a NaN, which its sum of exps then gives back
      else for (let j = 0; j < V; j++) max = Math.max(max, xs[row + j] as number);
      const sum = !Number.isFinite(max) ? sumMathExp(xs, row, V, max, inv) : simd ? simd.rowSumExp(xAt + 4 * row, V, max, inv) : sumExp(xs, row, V, max, inv);
      maxes[r] = max;
      logSums[r] = Math.log(sum);
      lse[r] = max * inv + (logSums[r] as number);
      out[r] = (xs[row + y] as number) * inv - (lse[r] as number);
    }
    save([x]);
    return {
      value: tf.tensor1d(out),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx] = saved as [tf.Tensor2D];
        const info = backend.makeOutput([R, V], "float32");
        // views after the allocation, which may move the heap
        const g = backend.typedArrayFromHeap(info) as Float32Array;
        const xv = heapView(backend, sx);
        const dv = heapView(backend, dy);
        const [xAt2, gAt] = simd ? [simd.address(sx), simd.address(info)] : [0, 0];
        for (let r = 0; r < R; r++) {
          const row = r * V;
          const y = labels[r] as number;
          const d = y >= 0 ? (dv[r] as number) * inv : 0;
          if (d === 0) {
            g.fill(0, row, row + V);
            continue;
          }
          const l = lse[r] as number;
          if (Number.isFinite(l) && simd) simd.rowLogProbGrad(xAt2 + 4 * row, gAt + 4 * row, V, maxes[r] as number, inv, logSums[r] as number, -d);
          else if (Number.isFinite(l)) softmaxGradRow(xv, g, row, V, inv, l, d);
          else for (let j = 0; j < V; j++) g[row + j] = -d * Math.exp((xv[row + j] as number) * inv - l);
          g[row + y] = (g[row + y] as number) + d;
        }
        return [tf.engine().makeTensorFromTensorInfo(info)];
      },
    };
  }) as (x: tf.Tensor2D) => tf.Tensor1D;
  return op(logits);
}

// Top-level loops, so that V8 optimises each once for every call (fused-softmax.ts).

/** Σ_j exp((x_j − max)/τ) over one row; every argument ≤ 0. */
function sumExp(x: Float32Array, row: number, V: number, max: number, inv: number): number {
  let sum = 0;
  for (let j = 0; j < V; j++) sum += expNonPositive(((x[row + j] as number) - max) * inv);
  return sum;
}

function sumMathExp(x: Float32Array, row: number, V: number, max: number, inv: number): number {
  let sum = 0;
  for (let j = 0; j < V; j++) sum += Math.exp(((x[row + j] as number) - max) * inv);
  return sum;
}

/** g_j = −d·softmax_j = −d·exp(x_j/τ − log Σ) over one row; every argument ≤ 0 (up to rounding, which the exp takes). */
function softmaxGradRow(x: Float32Array, g: Float32Array, row: number, V: number, inv: number, l: number, d: number): void {
  for (let j = 0; j < V; j++) g[row + j] = -d * expNonPositive((x[row + j] as number) * inv - l);
}
