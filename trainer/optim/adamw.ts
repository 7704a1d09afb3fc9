// AdamW written for the project (Loshchilov & Hutter 2019, "Decoupled Weight Decay
// Regularization", Algorithm 2), in PyTorch's form so numbers match torch.optim.AdamW:
//   p ← p − lr·λ·p                       (decoupled decay, only on ≥2-D weights)
//   m ← β1·m + (1−β1)·g ;  v ← β2·v + (1−β2)·g²
//   p ← p − lr · (m / (1−β1ᵗ)) / (√(v / (1−β2ᵗ)) + ε)
// ε is explicit (trainer-anchors checklist, PPO #12: tfjs's Adam defaults it to backend.epsilon()).
// tfjs-core has no AdamW, and its Adam cannot skip decay per parameter.
import * as tf from "@tensorflow/tfjs-core";
import { type OptimConfig } from "../contract/optim-config.ts";

export interface AdamWState {
  /** Number of optimizer steps taken (t in the bias corrections). */
  step: number;
  m: Map<string, tf.Variable>;
  v: Map<string, tf.Variable>;
}

export type AdamWHyper = Pick<OptimConfig, "beta1" | "beta2" | "eps" | "weightDecay">;

export function createAdamW(params: Map<string, tf.Variable>): AdamWState {
  const m = new Map<string, tf.Variable>();
  const v = new Map<string, tf.Variable>();
  for (const [name, p] of params) {
    m.set(name, tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
    v.set(name, tf.tidy(() => tf.variable(tf.zerosLike(p), false)));
  }
  return { step: 0, m, v };
}

/** Whether weight decay applies: matrices and embeddings yes; biases and LayerNorm gains no (nanoGPT). */
export function decays(p: tf.Tensor): boolean {
  return p.rank >= 2;
}

/** One AdamW update of every parameter that has a gradient. */
export function adamwStep(
  params: Map<string, tf.Variable>,
  state: AdamWState,
  grads: Map<string, tf.Tensor>,
  lr: number,
  h: AdamWHyper,
): void {
  state.step += 1;
  const t = state.step;
  const bc1 = 1 - h.beta1 ** t;
  const bc2 = 1 - h.beta2 ** t;
  for (const [name, p] of params) {
    const g = grads.get(name);
    if (!g) continue;
    const m = state.m.get(name);
    const v = state.v.get(name);
    if (!m || !v) throw new Error(`no AdamW state for ${name}`);
    // one tidy per parameter: a 135M-parameter model's temporaries for every parameter at once
    // would not fit the 4 GB wasm heap
    tf.tidy(() => {
      const mNew = tf.add(tf.mul(m, h.beta1), tf.mul(g, 1 - h.beta1));
      const vNew = tf.add(tf.mul(v, h.beta2), tf.mul(tf.square(g), 1 - h.beta2));
      m.assign(mNew);
      v.assign(vNew);
      const decayed = decays(p) && h.weightDecay > 0 ? tf.mul(p, 1 - lr * h.weightDecay) : p;
      const update = tf.div(tf.div(mNew, bc1), tf.add(tf.sqrt(tf.div(vNew, bc2)), h.eps));
      p.assign(tf.sub(decayed, tf.mul(update, lr)));
    });
  }
}

export function disposeAdamW(state: AdamWState): void {
  for (const x of [...state.m.values(), ...state.v.values()]) x.dispose();
  state.m.clear();
  state.v.clear();
}
