// One SFT step of a small GPT on whichever tfjs backend is active, read back asynchronously, so that a
// GPU backend (webgpu, which cannot read synchronously under Node) can be compared with wasm: the
// logits, the loss, every gradient, and the weights after one AdamW update with global-norm clipping.
// Used by trainer/backend/webgpu.test.ts and bench/gpu-check.ts.
import * as tf from "@tensorflow/tfjs-core";
import type { GptConfig } from "../contract/gpt-config.ts";
import { disposeGpt, gptForward, initGpt } from "../model/gpt.ts";
import { sftLoss } from "../losses/sft-loss.ts";
import { adamwStep, createAdamW, disposeAdamW } from "../optim/adamw.ts";
import { maxRelativeError } from "../backend/webgpu.ts";

export interface ParityBatch {
  ids: number[][];
  lossMask: number[][];
}

export interface StepReadout {
  logits: Float32Array;
  loss: number;
  gradNorm: number;
  grads: Map<string, Float32Array>;
  after: Map<string, Float32Array>;
}

export const PARITY_LR = 1e-3;
const HYPER = { beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1 };
const CLIP = 1;

/** A deterministic batch of `b` rows of `t` tokens; the first quarter of each row is prompt (no loss). */
export function parityBatch(vocab: number, b: number, t: number): ParityBatch {
  const ids = Array.from({ length: b }, (_, r) => Array.from({ length: t }, (_, i) => (i * 7 + r * 13 + ((i * r) % 5)) % vocab));
  return { ids, lossMask: ids.map((row) => row.map((_, i) => (i >= t / 4 ? 1 : 0))) };
}

/** Forward, loss, gradients and one AdamW step of a fresh GPT (`initGpt(config, seed)`) on the active backend. */
export async function sftStepReadout(config: GptConfig, seed: number, batch: ParityBatch): Promise<StepReadout> {
  const model = initGpt(config, seed);
  const [B, T] = [batch.ids.length, batch.ids[0]?.length ?? 0];
  const inputIds = tf.tensor2d(batch.ids.flat(), [B, T], "int32");
  const lossMask = tf.tensor2d(batch.lossMask.flat(), [B, T], "float32");
  const vars = [...model.params.values()];
  const nameOf = new Map([...model.params].map(([name, v]) => [v.name, name]));
  try {
    const logitsT = tf.tidy(() => gptForward(model, inputIds).logits as tf.Tensor3D);
    const logits = (await logitsT.data()) as Float32Array;
    logitsT.dispose();
    const { value, grads } = tf.variableGrads(() => sftLoss(gptForward(model, inputIds).logits as tf.Tensor3D, inputIds, lossMask), vars);
    const loss = (await value.data())[0] ?? NaN;
    value.dispose();
    const byName = new Map(Object.entries(grads).map(([k, g]) => [nameOf.get(k) ?? k, g]));
    const read = new Map<string, Float32Array>();
    let squares = 0;
    for (const [name, g] of byName) {
      const values = (await g.data()) as Float32Array;
      read.set(name, values);
      for (const x of values) squares += x * x;
    }
    const gradNorm = Math.sqrt(squares);
    const optimizer = createAdamW(model.params);
    adamwStep(model.params, optimizer, byName, PARITY_LR, HYPER, gradNorm > CLIP ? CLIP / (gradNorm + 1e-6) : 1);
    tf.dispose([...byName.values()]);
    const after = new Map<string, Float32Array>();
    for (const [name, p] of model.params) after.set(name, (await p.data()) as Float32Array);
    disposeAdamW(optimizer);
    return { logits, loss, gradNorm, grads: read, after };
  } finally {
    tf.dispose([inputIds, lossMask]);
    disposeGpt(model);
  }
}

/**
 * How close another backend's step must come to wasm's: float32 with sums in another order (~1e-7 of the
 * largest value measured on lavapipe). The webgpu tests and bench/gpu-check.ts hold a backend to these.
 */
export const PARITY_BOUNDS = { logits: 1e-5, loss: 1e-5, grads: 1e-4, update: 1e-2 } as const;

/** The quantities of a report at or past their bound (none: the backends agree). */
export function parityFailures(report: ParityReport): Array<keyof typeof PARITY_BOUNDS> {
  return (Object.keys(PARITY_BOUNDS) as Array<keyof typeof PARITY_BOUNDS>).filter((k) => !(report[k] < PARITY_BOUNDS[k]));
}

export interface ParityReport {
  /** max |Δ| / max |reference|, per quantity (gradients: the worst parameter). */
  logits: number;
  loss: number;
  grads: number;
  /** max |Δ| of the updated weights, in units of the learning rate, where the sign of the gradient is clear. */
  update: number;
  /** Weights skipped in `update`: |g| below 1e-4 of the parameter's largest, where AdamW's first step is ±lr by sign alone. */
  ambiguous: number;
}

/** How far `got` is from `want` (the reference backend's readout). */
export function compareReadouts(want: StepReadout, got: StepReadout): ParityReport {
  let grads = 0, update = 0, ambiguous = 0;
  for (const [name, g] of want.grads) {
    const other = got.grads.get(name);
    grads = Math.max(grads, other ? maxRelativeError(g, other) : Infinity);
    const [a, b] = [want.after.get(name), got.after.get(name)];
    if (!a || !b) { update = Infinity; continue; }
    const gMax = g.reduce((m, x) => Math.max(m, Math.abs(x)), 0);
    for (let i = 0; i < a.length; i++) {
      if (Math.abs(g[i]!) < 1e-4 * gMax) { ambiguous++; continue; }
      update = Math.max(update, Math.abs(a[i]! - b[i]!) / PARITY_LR);
    }
  }
  return { logits: maxRelativeError(want.logits, got.logits), loss: Math.abs(want.loss - got.loss) / Math.max(1e-12, Math.abs(want.loss)), grads, update, ambiguous };
}
