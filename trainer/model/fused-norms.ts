// LayerNorm and RMSNorm over the last axis as one loop per row on the wasm heap, forward and backward
// (decision trainer-019). The fused form of gpt.ts's layerNorm and llama.ts's rmsNorm.
//
// Why: the tensor-op LayerNorm is mean, sub, square, mean, add, rsqrt, mul, mul, add forward and about
// twice that backward, each a pass over the (B·T, C) activations, and the innermost-axis Sums of the
// backward pass were a tenth of a micro step's kernel time (trainer-015). Here the forward pass reads each
// row twice (mean, then variance) and writes y once; it keeps only the mean and 1/√(var + ε) per row, not
// the normalised tensor, which the backward pass recomputes from x as it goes. The backward pass reads x
// and dy twice per row and writes dx once, and sums dγ and dβ over rows in float64:
//   x̂ = (x − μ)·r,  g = dy·γ,  dx = r·(g − mean(g) − x̂·mean(g·x̂)),  dγ = Σ_rows dy·x̂,  dβ = Σ_rows dy.
// RMSNorm is the same without centring (μ = 0, no mean(g) term) and without β.
// Outputs go to buffers allocated with the backend's makeOutput, never into an input (wasm-heap.ts).
import * as tf from "@tensorflow/tfjs-core";
import { heapView, type WasmHeapBackend } from "../backend/wasm-heap.ts";
import { simdKernels, type SimdKernels } from "../backend/wasm-simd.ts";

/** (x − mean) / √(var + eps) · g + b over the last axis, biased variance; x float32 (…, C), g and b (C). */
export function fusedLayerNorm(backend: WasmHeapBackend, x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, eps: number): tf.Tensor {
  return fusedNorm(backend, x, g, b, eps);
}

/** x / √(mean(x²) + eps) · g over the last axis; x float32 (…, C), g (C). */
export function fusedRmsNorm(backend: WasmHeapBackend, x: tf.Tensor, g: tf.Tensor, eps: number): tf.Tensor {
  return fusedNorm(backend, x, g, null, eps);
}

/** Whether the fused loops take these tensors: float32, gain (and bias) one value per channel. */
export function fusedNormApplies(x: tf.Tensor, g: tf.Tensor, b?: tf.Tensor): boolean {
  const C = x.shape[x.rank - 1];
  const channel = (t: tf.Tensor): boolean => t.dtype === "float32" && t.size === C && t.rank === 1;
  return x.dtype === "float32" && x.rank >= 1 && channel(g) && (b === undefined || channel(b));
}

function fusedNorm(backend: WasmHeapBackend, x: tf.Tensor, g: tf.Tensor, b: tf.Tensor | null, eps: number): tf.Tensor {
  const shape = x.shape;
  const C = shape[shape.length - 1] as number;
  const R = C === 0 ? 0 : x.size / C;
  const centre = b !== null;
  const simd = R > 0 ? simdKernels(backend, "norm") : null;
  if (simd) return simdNorm(backend, simd, x, g, b, eps, R, C);
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [xt, gt, bt] = args.slice(0, -1) as [tf.Tensor, tf.Tensor, tf.Tensor | undefined];
    const mean = new Float64Array(R);
    const rstd = new Float64Array(R);
    const info = backend.makeOutput(shape, "float32");
    // views after the allocation, which may move the heap
    const y = backend.typedArrayFromHeap(info) as Float32Array;
    const xs = heapView(backend, xt);
    const gs = heapView(backend, gt);
    const bs = bt ? heapView(backend, bt) : null;
    for (let r = 0; r < R; r++) {
      const o = r * C;
      let mu = 0;
      if (centre) {
        for (let j = 0; j < C; j++) mu += xs[o + j] as number;
        mu /= C;
      }
      let ss = 0;
      for (let j = 0; j < C; j++) {
        const d = (xs[o + j] as number) - mu;
        ss += d * d;
      }
      const rs = 1 / Math.sqrt(ss / C + eps);
      mean[r] = mu;
      rstd[r] = rs;
      if (bs) for (let j = 0; j < C; j++) y[o + j] = ((xs[o + j] as number) - mu) * rs * (gs[j] as number) + (bs[j] as number);
      else for (let j = 0; j < C; j++) y[o + j] = (xs[o + j] as number) * rs * (gs[j] as number);
    }
    save([xt, gt]);
    return {
      value: tf.engine().makeTensorFromTensorInfo(info),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sg] = saved as [tf.Tensor, tf.Tensor];
        const dxInfo = backend.makeOutput(shape, "float32");
        const dgInfo = backend.makeOutput([C], "float32");
        const dbInfo = centre ? backend.makeOutput([C], "float32") : null;
        const dx = backend.typedArrayFromHeap(dxInfo) as Float32Array;
        const xv = heapView(backend, sx);
        const gv = heapView(backend, sg);
        const dv = heapView(backend, dy);
        const dgAcc = new Float64Array(C);
        const dbAcc = new Float64Array(C);
        for (let r = 0; r < R; r++) {
          const o = r * C;
          const mu = mean[r] as number;
          const rs = rstd[r] as number;
          let sumG = 0; // Σ dy·γ
          let sumGX = 0; // Σ dy·γ·x̂
          for (let j = 0; j < C; j++) {
            const d = dv[o + j] as number;
            const xh = ((xv[o + j] as number) - mu) * rs;
            const gj = d * (gv[j] as number);
            sumG += gj;
            sumGX += gj * xh;
            dgAcc[j] = (dgAcc[j] as number) + d * xh;
            dbAcc[j] = (dbAcc[j] as number) + d;
          }
          const mG = centre ? sumG / C : 0;
          const mGX = sumGX / C;
          for (let j = 0; j < C; j++) {
            const xh = ((xv[o + j] as number) - mu) * rs;
            dx[o + j] = rs * ((dv[o + j] as number) * (gv[j] as number) - mG - xh * mGX);
          }
        }
        (backend.typedArrayFromHeap(dgInfo) as Float32Array).set(dgAcc);
        const grads = [tf.engine().makeTensorFromTensorInfo(dxInfo), tf.engine().makeTensorFromTensorInfo(dgInfo)];
        if (dbInfo) {
          (backend.typedArrayFromHeap(dbInfo) as Float32Array).set(dbAcc);
          grads.push(tf.engine().makeTensorFromTensorInfo(dbInfo));
        }
        return grads;
      },
    };
  }) as (...inputs: tf.Tensor[]) => tf.Tensor;
  return b ? op(x, g, b) : op(x, g);
}

/**
 * The same on the wasm SIMD kernels (wasm-simd.ts, decision trainer-024), in float32: the forward pass keeps μ and
 * 1/√(var + ε) per row in a (R, 2) tensor saved for the backward pass, instead of the JS loop's float64 arrays.
 */
function simdNorm(backend: WasmHeapBackend, simd: SimdKernels, x: tf.Tensor, g: tf.Tensor, b: tf.Tensor | null, eps: number, R: number, C: number): tf.Tensor {
  const shape = x.shape;
  const op = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const save = args[args.length - 1] as tf.GradSaveFunc;
    const [xt, gt, bt] = args.slice(0, -1) as [tf.Tensor, tf.Tensor, tf.Tensor | undefined];
    const y = backend.makeOutput(shape, "float32");
    const stats = backend.makeOutput([R, 2], "float32");
    simd.normForward(xt, gt, bt ?? null, y, stats, R, C, eps);
    save([xt, gt, tf.engine().makeTensorFromTensorInfo(stats)]);
    return {
      value: tf.engine().makeTensorFromTensorInfo(y),
      gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
        const [sx, sg, sStats] = saved as [tf.Tensor, tf.Tensor, tf.Tensor];
        const dx = backend.makeOutput(shape, "float32");
        const dg = backend.makeOutput([C], "float32");
        const db = bt ? backend.makeOutput([C], "float32") : null;
        simd.normBackward(sx, sg, dy, sStats, dx, dg, db, R, C);
        return [dx, dg, ...(db ? [db] : [])].map((info) => tf.engine().makeTensorFromTensorInfo(info));
      },
    };
  }) as (...inputs: tf.Tensor[]) => tf.Tensor;
  return b ? op(x, g, b) : op(x, g);
}
