// Direct Preference Optimization.
// Paper: Rafailov et al. 2023, "Direct Preference Optimization: Your Language Model is Secretly a
// Reward Model" (arXiv 2305.18290), Eq. 7; loss variants and metric names as TRL's DPOTrainer. With
// rpoAlpha > 0 it is RPO (Pang et al. 2024): the chosen answers' NLL joins the loss; with dpopLambda > 0
// it is DPOP (Pal et al. 2024): a chosen answer that falls below the reference is penalised (losses/dpo-loss.ts).
//
// Reads top to bottom: 1. collate chosen and rejected rows into one batch → 2. precompute the
// reference log-probs once → 3. policy sequence log-probs → 4. loss, gradients, clip, AdamW →
// 5. metrics. The reference is the policy as it was when the trainer was created (the SFT model);
// precomputing its log-probs is exact while it stays frozen and keeps a second model out of memory
// (TRL `precompute_ref_log_probs`; trainer-anchors checklist, DPO #2).
// A step reads the device twice (the loss with the pairs' log-probs, then the gradients' norm): `trainStep`
// synchronously, `trainStepAsync` awaited, for webgpu, which cannot read synchronously under Node (trainer-033);
// the reference log-probs likewise (`precomputeReferenceLogpsAsync`).
import * as tf from "@tensorflow/tfjs-core";
import { dpopLambdaFor, type DpoConfig } from "../contract/dpo-config.ts";
import { collateCompletions, type CompletionBatch } from "../data/collate.ts";
import { lmForward, type LanguageModel } from "../model/lm.ts";
import { trainableParams, withAdaptersOff } from "../model/lora.ts";
import { maskedSum, nextTokenLogProbs } from "../losses/logprobs.ts";
import { dpoLoss, dpoMetrics } from "../losses/dpo-loss.ts";
import { createAdamW, disposeAdamW, updateFromLoss, type AdamWState } from "../optim/adamw.ts";
import { clipScale, clipScaleAsync } from "../optim/gradients.ts";
import { readAndDispose } from "../backend/tensor-reads.ts";

/** One preference: completions end with the end-of-turn token. */
export interface PreferencePair {
  prompt: number[];
  chosen: number[];
  rejected: number[];
  /** Per token, 0 where a tool-using completion holds tool results (never in a log-prob sum); default all 1. */
  chosenMask?: number[];
  rejectedMask?: number[];
}

// 1. collate: rows 0..B−1 are the chosen completions, rows B..2B−1 the rejected ones (one forward pass)
export function collatePairs(pairs: PreferencePair[], padId: number, maxLength?: number): CompletionBatch {
  return collateCompletions(
    [
      ...pairs.map((p) => ({ prompt: p.prompt, completion: p.chosen, ...(p.chosenMask ? { completionMask: p.chosenMask } : {}) })),
      ...pairs.map((p) => ({ prompt: p.prompt, completion: p.rejected, ...(p.rejectedMask ? { completionMask: p.rejectedMask } : {}) })),
    ],
    padId,
    maxLength,
  );
}

/** Tokens of a completion that are the policy's own (IPO's length normalisation counts these). */
const ownTokens = (tokens: number[], mask: number[] | undefined): number => (mask ? mask.reduce((a, m) => a + m, 0) : tokens.length);

/** Σ log p(completion tokens): (2B) for a collated batch. Call inside tf.tidy / variableGrads. */
export function sequenceLogps(model: LanguageModel, batch: CompletionBatch): tf.Tensor1D {
  const [B, T] = batch.shape;
  const ids = tf.tensor2d(batch.inputIds, [B, T], "int32");
  const attentionMask = tf.tensor2d(batch.attentionMask, [B, T], "int32");
  const completionMask = tf.tensor2d(batch.completionMask, [B, T], "int32");
  const logits = lmForward(model, ids, { attentionMask }).logits as tf.Tensor3D; // (B, T, V)
  const logp = nextTokenLogProbs(logits, ids, completionMask); // (B, T−1), 0 off the completion
  return maskedSum(logp, tf.slice(completionMask, [0, 1], [B, T - 1]) as tf.Tensor2D); // (B)
}

export interface ReferenceLogps {
  chosen: Float32Array;
  rejected: Float32Array;
}

// 2. reference log-probs, once, in batches (with LoRA: the model with its adapters off, i.e. the base)
export function precomputeReferenceLogps(
  model: LanguageModel, pairs: PreferencePair[], padId: number, batchSize: number, maxLength?: number,
  onProgress?: (done: number, total: number) => void, // a pass over the whole set: long on big data
): ReferenceLogps {
  const out = { chosen: new Float32Array(pairs.length), rejected: new Float32Array(pairs.length) };
  for (let i = 0; i < pairs.length; i += batchSize) {
    const part = pairs.slice(i, i + batchSize);
    const values = referenceBatch(model, part, padId, maxLength);
    storeReference(out, i, part.length, values.dataSync() as Float32Array);
    values.dispose();
    onProgress?.(i + part.length, pairs.length);
  }
  return out;
}

/** The same, each batch's read of the device awaited. */
export async function precomputeReferenceLogpsAsync(
  model: LanguageModel, pairs: PreferencePair[], padId: number, batchSize: number, maxLength?: number,
  onProgress?: (done: number, total: number) => void,
): Promise<ReferenceLogps> {
  const out = { chosen: new Float32Array(pairs.length), rejected: new Float32Array(pairs.length) };
  for (let i = 0; i < pairs.length; i += batchSize) {
    const part = pairs.slice(i, i + batchSize);
    storeReference(out, i, part.length, await readAndDispose(referenceBatch(model, part, padId, maxLength)));
    onProgress?.(i + part.length, pairs.length);
  }
  return out;
}

/** (2n) reference log-probs of n pairs, chosen then rejected. */
const referenceBatch = (model: LanguageModel, part: PreferencePair[], padId: number, maxLength?: number): tf.Tensor1D =>
  withAdaptersOff(model, () => tf.tidy(() => sequenceLogps(model, collatePairs(part, padId, maxLength))));

function storeReference(out: ReferenceLogps, at: number, n: number, values: Float32Array): void {
  out.chosen.set(values.subarray(0, n), at);
  out.rejected.set(values.subarray(n), at);
}

export interface DpoStepMetrics extends Record<string, number> {
  step: number;
  loss: number;
  gradNorm: number;
  lr: number;
}

export interface DpoTrainer {
  model: LanguageModel;
  optimizer: AdamWState;
  reference: ReferenceLogps;
  step: number;
  /** One optimizer step on the pairs at these indices of the training set. */
  trainStep(indices: number[]): DpoStepMetrics;
  /** The same step, its reads of the device awaited. */
  trainStepAsync(indices: number[]): Promise<DpoStepMetrics>;
  /** Loss and metrics on other pairs with their own reference log-probs (no update). */
  evaluate(pairs: PreferencePair[], reference: ReferenceLogps): Record<string, number>;
  dispose(): void;
}

export function createDpoTrainer(
  model: LanguageModel, pairs: PreferencePair[], config: DpoConfig, padId: number,
  hooks: { onReferenceProgress?: (done: number, total: number) => void; /** Computed already (precomputeReferenceLogpsAsync). */ reference?: ReferenceLogps } = {},
): DpoTrainer {
  const reference = hooks.reference ?? precomputeReferenceLogps(model, pairs, padId, config.batchSize, config.maxLength, hooks.onReferenceProgress);
  // a round sets λ at launch (decision 0064); a run without one takes the plain default
  const dpopLambda = dpopLambdaFor(config.dpopLambda, false);
  const params = trainableParams(model); // every weight, or only the LoRA adapters
  const optimizer = createAdamW(params);
  const vars = [...params.values()];
  const nameOf = new Map([...params].map(([name, v]) => [v.name, name]));
  const lossOptions = {
    beta: config.beta, lossType: config.lossType, labelSmoothing: config.labelSmoothing,
    rpoAlpha: config.rpoAlpha, dpopLambda,
  };

  const lossAndLogps = (batchPairs: PreferencePair[], ref: { chosen: number[]; rejected: number[] }): { loss: tf.Scalar; logps: tf.Tensor1D } => {
    const n = batchPairs.length;
    const batch = collatePairs(batchPairs, padId, config.maxLength);
    // IPO normalises log-probs by completion length (TRL)
    const lengths = (which: "chosen" | "rejected"): tf.Tensor1D => tf.tensor1d(batchPairs.map((p) => ownTokens(p[which], p[`${which}Mask`])));
    const logps = sequenceLogps(model, batch); // (2n)
    const loss = dpoLoss(
      {
        policyChosen: tf.slice(logps, 0, n), policyRejected: tf.slice(logps, n, n),
        refChosen: tf.tensor1d(ref.chosen), refRejected: tf.tensor1d(ref.rejected),
      },
      { ...lossOptions, chosenLengths: lengths("chosen"), rejectedLengths: lengths("rejected") },
    );
    return { loss, logps };
  };

  const metricsOf = (logps: Float32Array, ref: { chosen: number[]; rejected: number[] }, batchPairs: PreferencePair[]): Record<string, number> => {
    const n = ref.chosen.length;
    const metrics = dpoMetrics({ policyChosen: logps.subarray(0, n), policyRejected: logps.subarray(n), refChosen: ref.chosen, refRejected: ref.rejected }, config.beta);
    if (dpopLambda > 0) {
      // how far, on average, the chosen answers' sequence log-probs sit below the reference's (DPOP's hinge, before λ)
      let fall = 0;
      for (let i = 0; i < n; i++) fall += Math.max(0, (ref.chosen[i] ?? 0) - (logps[i] ?? 0));
      metrics["dpop_penalty"] = fall / n;
    }
    if (config.rpoAlpha === 0) return metrics;
    // TRL's name for RPO's term: the chosen answers' NLL per token
    const tokens = batchPairs.reduce((sum, p) => sum + ownTokens(p.chosen, p.chosenMask), 0);
    return { ...metrics, nll_loss: -logps.subarray(0, n).reduce((a, b) => a + b, 0) / Math.max(1, tokens) };
  };

  const trainer: DpoTrainer = {
    model,
    optimizer,
    reference,
    step: 0,

    trainStep(indices) {
      const pass = forwardBackward(indices);
      const [loss, logps] = [pass.value.dataSync()[0] ?? NaN, pass.logps.dataSync() as Float32Array];
      return update(pass, loss, logps, () => clipScale(pass.named, config.optim.gradClip));
    },

    async trainStepAsync(indices) {
      const pass = forwardBackward(indices);
      const [value, logps] = [(await pass.value.data())[0] ?? NaN, (await pass.logps.data()) as Float32Array];
      const finite = Number.isFinite(value);
      const clip = finite ? await clipScaleAsync(pass.named, config.optim.gradClip) : { norm: NaN, scale: 1 };
      return update(pass, value, logps, () => clip);
    },

    evaluate(evalPairs, evalRef) {
      const ref = { chosen: Array.from(evalRef.chosen), rejected: Array.from(evalRef.rejected) };
      return tf.tidy(() => {
        const { loss, logps } = lossAndLogps(evalPairs, ref);
        return { loss: loss.dataSync()[0] ?? NaN, ...metricsOf(logps.dataSync() as Float32Array, ref, evalPairs) };
      });
    },

    dispose() {
      disposeAdamW(optimizer);
    },
  };

  // 3. policy log-probs and 4. loss + gradients; the loss and the log-probs it saw stay on the device for the caller to read
  function forwardBackward(indices: number[]) {
    const batchPairs = indices.map((i) => pairs[i] as PreferencePair);
    const ref = { chosen: indices.map((i) => reference.chosen[i] ?? 0), rejected: indices.map((i) => reference.rejected[i] ?? 0) };
    let logps: tf.Tensor1D | null = null;
    const { value, grads } = tf.variableGrads(() => {
      const r = lossAndLogps(batchPairs, ref);
      logps = tf.keep(r.logps);
      return r.loss;
    }, vars);
    const named = new Map(Object.entries(grads).map(([k, g]) => [nameOf.get(k) ?? k, g]));
    return { batchPairs, ref, value, logps: logps as unknown as tf.Tensor1D, named };
  }

  // 4. clip, AdamW (the loss and log-probs read); 5. metrics with TRL's names, from the log-probs the loss saw
  function update(pass: ReturnType<typeof forwardBackward>, loss: number, logps: Float32Array, clip: () => { norm: number; scale: number }): DpoStepMetrics {
    tf.dispose([pass.value, pass.logps]);
    const { gradNorm, lr } = updateFromLoss({ params, state: optimizer, grads: pass.named, optim: config.optim, step: trainer.step, loss, what: "DPO" }, clip);
    trainer.step += 1;
    return { step: trainer.step, loss, gradNorm, lr, ...metricsOf(logps, pass.ref, pass.batchPairs) };
  }
  return trainer;
}
