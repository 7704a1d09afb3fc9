// Gradient utilities: global-norm clipping and accumulation over micro-batches.
import * as tf from "@tensorflow/tfjs-core";
import { fusedBackend, heapView } from "../backend/wasm-heap.ts";
import { simdKernels } from "../backend/wasm-simd.ts";
import { sumOfSquares } from "./fused-adamw.ts";

/**
 * √Σ‖g‖² over all gradients. On wasm one float64 loop over the heap (the SIMD kernel of wasm-simd.ts, else
 * fused-adamw.ts's JS loop); elsewhere,
 * and with setFusedKernels(false), a square and a sum per tensor.
 */
export function globalNorm(grads: Map<string, tf.Tensor>): number {
  const backend = fusedBackend("optimizer");
  if (backend && [...grads.values()].every((g) => g.dtype === "float32")) {
    const simd = simdKernels(backend, "adamw");
    let s = 0;
    for (const g of grads.values()) s += simd ? simd.sumOfSquares(g, g.size) : sumOfSquares(heapView(backend, g));
    return Math.sqrt(s);
  }
  if (grads.size === 0) return 0;
  return Math.sqrt(tf.tidy(() => sumOfSquaresTensor(grads).dataSync()[0] ?? 0));
}

/**
 * Σ‖g‖² as a scalar tensor, by tensor ops (the square root is taken in float64 once read). A chain of adds,
 * not one addN: WebGPU allows 8 storage buffers per shader stage, and a model has dozens of gradients.
 */
function sumOfSquaresTensor(grads: Map<string, tf.Tensor>): tf.Scalar {
  return [...grads.values()].map((g) => tf.sum(tf.square(g))).reduce((a, b) => tf.add(a, b)) as tf.Scalar;
}

/**
 * The global norm, and the factor clipping multiplies every gradient by: min(1, maxNorm / (norm + 1e-6))
 * as torch.nn.utils.clip_grad_norm_ (1 when maxNorm ≤ 0 turns clipping off). Nothing is scaled here:
 * pass `scale` to adamwStep, which applies it in its own pass over the gradients.
 */
export function clipScale(grads: Map<string, tf.Tensor>, maxNorm: number): { norm: number; scale: number } {
  return clipOf(globalNorm(grads), maxNorm);
}

/**
 * clipScale for backends that cannot read synchronously (webgpu, decision trainer-033): the norm is
 * computed on the device and awaited. On wasm it is clipScale itself.
 */
export async function clipScaleAsync(grads: Map<string, tf.Tensor>, maxNorm: number): Promise<{ norm: number; scale: number }> {
  if (fusedBackend("optimizer") || grads.size === 0) return clipScale(grads, maxNorm);
  const squares = tf.tidy(() => sumOfSquaresTensor(grads));
  try {
    return clipOf(Math.sqrt((await squares.data())[0] ?? 0), maxNorm);
  } finally {
    squares.dispose();
  }
}

function clipOf(norm: number, maxNorm: number): { norm: number; scale: number } {
  return { norm, scale: maxNorm <= 0 || norm <= maxNorm ? 1 : maxNorm / (norm + 1e-6) };
}

/**
 * Running sum of gradients over micro-batches. `add` takes ownership of the gradients it is given;
 * `mean` hands back the averaged gradients and resets the accumulator.
 */
export class GradAccumulator {
  private sums = new Map<string, tf.Tensor>();
  private count = 0;

  get micros(): number {
    return this.count;
  }

  add(grads: Map<string, tf.Tensor>): void {
    for (const [name, g] of grads) {
      const prev = this.sums.get(name);
      if (prev) {
        this.sums.set(name, tf.add(prev, g));
        prev.dispose();
        g.dispose();
      } else this.sums.set(name, g);
    }
    this.count += 1;
  }

  mean(): Map<string, tf.Tensor> {
    const out = new Map<string, tf.Tensor>();
    for (const [name, s] of this.sums) {
      out.set(name, this.count === 1 ? s : tf.div(s, this.count));
      if (this.count !== 1) s.dispose();
    }
    this.sums = new Map();
    this.count = 0;
    return out;
  }

  dispose(): void {
    for (const s of this.sums.values()) s.dispose();
    this.sums.clear();
    this.count = 0;
  }
}
