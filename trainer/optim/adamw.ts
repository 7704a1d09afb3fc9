// AdamW written for the project (Loshchilov & Hutter 2019, "Decoupled Weight Decay
// Regularization", Algorithm 2), in PyTorch's form so numbers match torch.optim.AdamW:
//   p ← p − lr·λ·p                       (decoupled decay, only on ≥2-D weights)
//   m ← β1·m + (1−β1)·g ;  v ← β2·v + (1−β2)·g²
//   p ← p − lr · (m / (1−β1ᵗ)) / (√(v / (1−β2ᵗ)) + ε)
// ε is explicit (trainer-anchors checklist, PPO #12: tfjs's Adam defaults it to backend.epsilon()).
// tfjs-core has no AdamW, and its Adam cannot skip decay per parameter.
//
// On the wasm backend the update is one fused loop per parameter over the heap, into new buffers
// (fused-adamw.ts, decision trainer-015); elsewhere, and with setFusedKernels(false), it is the
// tensor ops below. Both compute the same thing to float32 rounding.
import * as tf from "@tensorflow/tfjs-core";
import { type OptimConfig } from "../contract/optim-config.ts";
import { fusedBackend, heapView } from "../backend/wasm-heap.ts";
import { simdKernels } from "../backend/wasm-simd.ts";
import { adamwUpdate } from "./fused-adamw.ts";
import { clipScaleAsync } from "./gradients.ts";
import { learningRateAt } from "./lr-schedule.ts";

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

/**
 * One AdamW update of every parameter that has a gradient. `gradScale` multiplies every gradient
 * first: the global-norm clip factor from `clipScale` (gradients.ts), applied here so that clipping
 * costs no pass of its own.
 */
export function adamwStep(
  params: Map<string, tf.Variable>,
  state: AdamWState,
  grads: Map<string, tf.Tensor>,
  lr: number,
  h: AdamWHyper,
  gradScale = 1,
): void {
  state.step += 1;
  const t = state.step;
  const bc1 = 1 - h.beta1 ** t;
  const bc2 = 1 - h.beta2 ** t;
  const backend = fusedBackend("optimizer");
  const simd = backend ? simdKernels(backend, "adamw") : null;
  for (const [name, p] of params) {
    const g0 = grads.get(name);
    if (!g0) continue;
    const m = state.m.get(name);
    const v = state.v.get(name);
    if (!m || !v) throw new Error(`no AdamW state for ${name}`);
    const keep = decays(p) && h.weightDecay > 0 ? 1 - lr * h.weightDecay : 1;
    if (backend && [p, g0, m, v].every((x) => x.dtype === "float32")) {
      // new buffers for p, m and v (never in place: fused-adamw.ts says why); the views and heap addresses
      // come after the allocations, which may move the heap
      const outs = [p, m, v].map((x) => backend.makeOutput([...x.shape], "float32"));
      if (simd && p.size >= 4) {
        // the same update in float32, four lanes at a time (wasm-simd.ts, decision trainer-023)
        const scalars = [gradScale, h.beta1, 1 - h.beta1, h.beta2, 1 - h.beta2, keep, lr / bc1, 1 / Math.sqrt(bc2), h.eps];
        simd.adamw([p, g0, m, v, ...outs], p.size, scalars);
      } else {
        const [pv, gv, mv, vv] = [p, g0, m, v].map((x) => heapView(backend, x)) as [Float32Array, Float32Array, Float32Array, Float32Array];
        const [po, mo, vo] = outs.map((o) => backend.typedArrayFromHeap(o) as Float32Array) as [Float32Array, Float32Array, Float32Array];
        adamwUpdate(pv, gv, mv, vv, po, mo, vo, { lr, beta1: h.beta1, beta2: h.beta2, eps: h.eps, keep, bc1, bc2, gradScale });
      }
      [p, m, v].forEach((x, i) => {
        const t = tf.engine().makeTensorFromTensorInfo(outs[i] as tf.TensorInfo);
        x.assign(t); // the variable lets go of its old buffer …
        t.dispose(); // … and is the new one's only holder
      });
      continue;
    }
    // one tidy per parameter: a 135M-parameter model's temporaries for every parameter at once
    // would not fit the 4 GB wasm heap
    tf.tidy(() => {
      const g = gradScale === 1 ? g0 : tf.mul(g0, gradScale);
      const mNew = tf.add(tf.mul(m, h.beta1), tf.mul(g, 1 - h.beta1));
      const vNew = tf.add(tf.mul(v, h.beta2), tf.mul(tf.square(g), 1 - h.beta2));
      m.assign(mNew);
      v.assign(vNew);
      const decayed = keep !== 1 ? tf.mul(p, keep) : p;
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

/**
 * A preference step's update once its loss is read (DPO, KTO): a non-finite loss frees the gradients and stops
 * with the step named; otherwise the clip factor (`clip`, synchronous or already awaited), AdamW at `step`'s
 * learning rate, and the gradients freed. Returns what the step's metrics report.
 */
export function updateFromLoss(
  o: { params: Map<string, tf.Variable>; state: AdamWState; grads: Map<string, tf.Tensor>; optim: OptimConfig; step: number; loss: number; what: string },
  clip: () => { norm: number; scale: number },
): { gradNorm: number; lr: number } {
  if (!Number.isFinite(o.loss)) {
    tf.dispose([...o.grads.values()]);
    throw new Error(`non-finite ${o.what} loss ${o.loss} at step ${o.step + 1}; resume from the last checkpoint with a lower lr`);
  }
  const { norm, scale } = clip(); // applied inside AdamW's pass
  const lr = learningRateAt(o.step, o.optim);
  adamwStep(o.params, o.state, o.grads, lr, o.optim, scale);
  tf.dispose([...o.grads.values()]);
  return { gradNorm: norm, lr };
}

/**
 * One optimizer step of an RL trainer (GRPO, RLOO, PPO) with every read of the device awaited, so it runs on webgpu,
 * which cannot read synchronously under Node (trainer-033, trainer-035). `loss` builds the loss inside
 * tf.variableGrads over `params` and hands `keep` the tensors its metrics read (the log-probs the loss saw, its
 * parts); they are read after the loss, in the order kept, and freed. Then updateFromLoss: the non-finite refusal,
 * the clip, AdamW at `step`'s learning rate.
 */
export async function awaitedUpdate(
  o: { params: Map<string, tf.Variable>; state: AdamWState; optim: OptimConfig; step: number; what: string },
  loss: (keep: (t: tf.Tensor) => void) => tf.Scalar,
): Promise<{ loss: number; reads: Float32Array[]; gradNorm: number; lr: number }> {
  const nameOf = new Map([...o.params].map(([name, v]) => [v.name, name]));
  const kept: tf.Tensor[] = [];
  let pass: { value: tf.Scalar; grads: tf.NamedTensorMap };
  try {
    pass = tf.variableGrads(() => loss((t) => void kept.push(tf.keep(t))), [...o.params.values()]);
  } catch (error) {
    tf.dispose(kept);
    throw error;
  }
  const { value, grads } = pass;
  const named = new Map(Object.entries(grads).map(([k, g]) => [nameOf.get(k) ?? k, g]));
  // the loss, what was kept, and the clip factor of a finite loss; the gradients go to updateFromLoss, or are freed here
  let read: number;
  const reads: Float32Array[] = [];
  let clip = { norm: NaN, scale: 1 };
  try {
    read = (await value.data())[0] ?? NaN;
    for (const t of kept) reads.push((await t.data()) as Float32Array);
    if (Number.isFinite(read)) clip = await clipScaleAsync(named, o.optim.gradClip);
  } catch (error) {
    tf.dispose([...named.values()]);
    throw error;
  } finally {
    tf.dispose([value, ...kept]);
  }
  const { gradNorm, lr } = updateFromLoss({ params: o.params, state: o.state, grads: named, optim: o.optim, step: o.step, loss: read, what: o.what }, () => clip);
  return { loss: read, reads, gradNorm, lr };
}
