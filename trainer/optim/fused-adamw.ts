// AdamW and the global gradient norm as single loops over float32 arrays: the fused form of
// adamw.ts's tensor ops (decision trainer-015).
//
// Why: as tfjs ops one AdamW update is about a dozen kernels per parameter (mul, add, square, div,
// sqrt, sub …). Each one reads and writes the whole tensor, and each allocates an output on the wasm
// heap, so the optimizer reads and writes the model about 25 times per step. Clipping adds a square,
// a sum and a scale per tensor. Here the norm is one read of the gradients, and the update is one read
// of (p, g, m, v) and one write of the new p, m and v. The new values go to new buffers, not back into
// the old ones: tfjs tensors are immutable, and tfjs-wasm's XNNPACK matmul caches each weight's packed
// copy by tensor id, so a weight changed in place would be multiplied with its stale copy.
// The arithmetic is the same as adamw.ts's, in float64 with one rounding to float32 per stored value,
// so the results differ from the op-by-op path by float32 rounding only (optim.test.ts checks both
// against each other and a closed form).

/** Σ x² in float64 (the op path sums in float32, so this is at least as accurate). */
export function sumOfSquares(x: Float32Array): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) {
    const v = x[i] as number;
    s += v * v;
  }
  return s;
}

export interface AdamWScalars {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  /** 1 − lr·λ for decayed weights, 1 otherwise (decoupled decay, applied before the step). */
  keep: number;
  /** 1 − β1ᵗ and 1 − β2ᵗ. */
  bc1: number;
  bc2: number;
  /** Multiplies every gradient first: the global-norm clip factor, 1 when unclipped. */
  gradScale: number;
}

/**
 * One AdamW update, element by element, from (p, g, m, v) into (pOut, mOut, vOut):
 *   g ← s·g;  m ← β1·m + (1−β1)·g;  v ← β2·v + (1−β2)·g²;  p ← keep·p − lr · (m/bc1) / (√(v/bc2) + ε)
 * with the bias corrections folded into two constants, lr/bc1 and 1/√bc2, so that each element costs
 * one square root and one division (in float64 the reordering changes nothing a float32 result shows).
 */
export function adamwUpdate(
  p: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array,
  pOut: Float32Array, mOut: Float32Array, vOut: Float32Array, k: AdamWScalars,
): void {
  const { beta1, beta2, eps, keep, gradScale } = k;
  const a1 = 1 - beta1;
  const a2 = 1 - beta2;
  const stepSize = k.lr / k.bc1;
  const invSqrtBc2 = 1 / Math.sqrt(k.bc2);
  for (let i = 0; i < p.length; i++) {
    const gi = (g[i] as number) * gradScale;
    const mi = beta1 * (m[i] as number) + a1 * gi;
    const vi = beta2 * (v[i] as number) + a2 * gi * gi;
    mOut[i] = mi;
    vOut[i] = vi;
    pOut[i] = keep * (p[i] as number) - (stepSize * mi) / (Math.sqrt(vi) * invSqrtBc2 + eps);
  }
}
