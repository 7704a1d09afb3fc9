// Kahneman–Tversky Optimization from unpaired labels: each answer is desirable (thumbs up, accepted,
// ranked best) or undesirable, with no partner to compare against.
// Paper: Ethayarajh et al. 2024, "KTO: Model Alignment as Prospect Theoretic Optimization"
// (arXiv 2402.01306), Eq. 7; the reference point, weights and metric names as TRL 1.x's KTOTrainer
// (losses/kto-loss.ts; docs/decisions/trainer-009-grpo-rloo-kto.md).
//
// Reads top to bottom, once per optimizer step:
//  1. collate the batch's (prompt, answer) rows, and the mismatched rows (prompt i, answer i−1) that
//     estimate the KL reference point
//  2. reference log-probs of both (no gradient) from the frozen reference policy
//  3. z₀ = max(0, mean(log π − log π_ref)) over the mismatched rows (no gradient)
//  4. policy log-probs of the batch, KTO loss, gradients, clip, AdamW
//  5. metrics with TRL's names
import * as tf from "@tensorflow/tfjs-core";
import { type KtoConfig } from "../contract/kto-config.ts";
import { collateCompletions, type CompletionBatch } from "../data/collate.ts";
import { lmForward, type LanguageModel } from "../model/lm.ts";
import { trainableParams } from "../model/lora.ts";
import { maskedSum, nextTokenLogProbs } from "../losses/logprobs.ts";
import { ktoLoss, ktoMetrics, ktoReferencePoint, mismatchedIndex } from "../losses/kto-loss.ts";
import { adamwStep, createAdamW, disposeAdamW, type AdamWState } from "../optim/adamw.ts";
import { clipScale } from "../optim/gradients.ts";
import { learningRateAt } from "../optim/lr-schedule.ts";
import { type ReferencePolicy } from "../rollouts/kl-guard.ts";

/** One labelled answer; the completion ends with the end-of-turn token. */
export interface UnpairedExample {
  prompt: number[];
  completion: number[];
  desirable: boolean;
  /** 1 on the policy's own tokens, 0 on tool results (absent: all ones); the log-probs sum over the 1s. */
  completionMask?: number[];
}

export interface KtoStepMetrics extends Record<string, number> {
  step: number;
  loss: number;
  gradNorm: number;
  lr: number;
}

export interface KtoTrainer {
  model: LanguageModel;
  optimizer: AdamWState;
  step: number;
  /** One optimizer step on the examples at these indices of the training set. */
  trainStep(indices: number[]): KtoStepMetrics;
  /** Loss and metrics on other examples (no update). */
  evaluate(examples: UnpairedExample[]): Record<string, number> & { loss: number };
  dispose(): void;
}

/** Σ log p(answer tokens) per row: (B). Inside tf.tidy / variableGrads. */
function sequenceLogps(model: LanguageModel, batch: CompletionBatch): tf.Tensor1D {
  const [B, T] = batch.shape;
  const ids = tf.tensor2d(batch.inputIds, [B, T], "int32");
  const attentionMask = tf.tensor2d(batch.attentionMask, [B, T], "int32");
  const completionMask = tf.tensor2d(batch.completionMask, [B, T], "int32");
  const logits = lmForward(model, ids, { attentionMask }).logits as tf.Tensor3D; // (B, T, V)
  const logp = nextTokenLogProbs(logits, ids, completionMask); // (B, T−1), 0 off the answer
  return maskedSum(logp, tf.slice(completionMask, [0, 1], [B, T - 1]) as tf.Tensor2D); // (B)
}

/** Σ log π_ref(answer tokens) per row, from the reference's next-token log-probs. */
function referenceSequenceLogps(reference: ReferencePolicy, batch: CompletionBatch): Float64Array {
  const [B, T] = batch.shape;
  const W = T - 1;
  const logp = reference.nextTokenLogps(batch, 1);
  const out = new Float64Array(B);
  for (let b = 0; b < B; b++) for (let j = 0; j < W; j++) if (batch.completionMask[b * T + j + 1]) out[b] = (out[b] ?? 0) + (logp[b * W + j] ?? 0);
  return out;
}

export function createKtoTrainer(model: LanguageModel, reference: ReferencePolicy, examples: UnpairedExample[], config: KtoConfig, padId: number): KtoTrainer {
  // the weights that train: every one, or only the LoRA adapters when the model has them
  const params = trainableParams(model);
  const optimizer = createAdamW(params);
  const vars = [...params.values()];
  const nameOf = new Map([...params].map(([name, v]) => [v.name, name]));
  const options = { beta: config.beta, desirableWeight: config.desirableWeight, undesirableWeight: config.undesirableWeight };
  const room = Math.min(config.maxLength, model.config.blockSize);

  // 1. the batch's rows, and each prompt with the previous row's answer (cut to fit the context)
  const collate = (batch: UnpairedExample[]): { matched: CompletionBatch; mismatched: CompletionBatch } => {
    const n = batch.length;
    const mismatched = batch.map((e, i) => {
      const answer = batch[mismatchedIndex(i, n)]?.completion ?? [];
      return { prompt: e.prompt, completion: answer.slice(0, Math.max(1, room - e.prompt.length)) };
    });
    return { matched: collateCompletions(batch, padId, config.maxLength), mismatched: collateCompletions(mismatched, padId) };
  };

  interface Prepared { matched: CompletionBatch; refLogps: Float32Array; desirable: number[]; z0: number }

  // 2.–3. everything that carries no gradient: reference log-probs and the reference point z₀
  const prepare = (batch: UnpairedExample[]): Prepared => {
    const { matched, mismatched } = collate(batch);
    const refLogps = Float32Array.from(referenceSequenceLogps(reference, matched)); // (B)
    const refMismatched = referenceSequenceLogps(reference, mismatched); // (B)
    const policyMismatched = tf.tidy(() => sequenceLogps(model, mismatched).dataSync() as Float32Array); // (B)
    return { matched, refLogps, desirable: batch.map((e) => (e.desirable ? 1 : 0)), z0: ktoReferencePoint(policyMismatched, refMismatched) };
  };

  // 4. policy log-probs (B) and the loss; the log-probs are read back for the metrics
  const lossOf = (p: Prepared, seen: { policyLogps?: Float32Array }): tf.Scalar => {
    const policyLogps = sequenceLogps(model, p.matched); // (B)
    seen.policyLogps = policyLogps.dataSync() as Float32Array;
    return ktoLoss(policyLogps, tf.tensor1d(p.refLogps), tf.tensor1d(p.desirable), p.z0, options);
  };

  const trainer: KtoTrainer = {
    model,
    optimizer,
    step: 0,

    trainStep(indices) {
      const p = prepare(indices.map((i) => examples[i] as UnpairedExample));
      const seen: { policyLogps?: Float32Array } = {};
      const { value, grads } = tf.variableGrads(() => lossOf(p, seen), vars);
      const loss = value.dataSync()[0] ?? NaN;
      value.dispose();
      const named = new Map(Object.entries(grads).map(([k, g]) => [nameOf.get(k) ?? k, g]));
      if (!Number.isFinite(loss)) {
        tf.dispose([...named.values()]);
        throw new Error(`non-finite KTO loss ${loss} at step ${trainer.step + 1}; resume from the last checkpoint with a lower lr`);
      }
      const { norm, scale } = clipScale(named, config.optim.gradClip); // applied inside AdamW's pass
      const lr = learningRateAt(trainer.step, config.optim);
      adamwStep(params, optimizer, named, lr, config.optim, scale);
      tf.dispose([...named.values()]);
      trainer.step += 1;
      // 5. metrics with TRL's names, from the values the loss saw
      return { step: trainer.step, loss, gradNorm: norm, lr, ...ktoMetrics({ ...p, policyLogps: seen.policyLogps ?? new Float32Array(0) }, config.beta) };
    },

    evaluate(evalExamples) {
      const p = prepare(evalExamples);
      const seen: { policyLogps?: Float32Array } = {};
      const loss = tf.tidy(() => lossOf(p, seen).dataSync()[0] ?? NaN);
      return { loss, ...ktoMetrics({ ...p, policyLogps: seen.policyLogps ?? new Float32Array(0) }, config.beta) };
    },

    dispose() {
      disposeAdamW(optimizer);
    },
  };
  return trainer;
}
