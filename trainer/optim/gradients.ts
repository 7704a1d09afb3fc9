// Gradient utilities: global-norm clipping and accumulation over micro-batches.
import * as tf from "@tensorflow/tfjs-core";

/** √Σ‖g‖² over all gradients. */
export function globalNorm(grads: Map<string, tf.Tensor>): number {
  return tf.tidy(() => {
    const squares = [...grads.values()].map((g) => tf.sum(tf.square(g)));
    if (squares.length === 0) return 0;
    return Math.sqrt(tf.addN(squares).dataSync()[0] ?? 0);
  });
}

/**
 * Scales all gradients by min(1, maxNorm / (norm + 1e-6)), as torch.nn.utils.clip_grad_norm_.
 * Returns new tensors (the inputs are disposed) and the norm before clipping.
 */
export function clipByGlobalNorm(grads: Map<string, tf.Tensor>, maxNorm: number): { grads: Map<string, tf.Tensor>; norm: number } {
  const norm = globalNorm(grads);
  if (maxNorm <= 0 || norm <= maxNorm) return { grads, norm };
  const scale = maxNorm / (norm + 1e-6);
  const clipped = new Map<string, tf.Tensor>();
  for (const [name, g] of grads) {
    clipped.set(name, tf.mul(g, scale));
    g.dispose();
  }
  return { grads: clipped, norm };
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
