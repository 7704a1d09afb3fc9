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
// The step's reads of the device (the reference point's log-probs, the loss with the batch's log-probs, the
// gradients' norm) are synchronous in `trainStep` and awaited in `trainStepAsync`, for webgpu (trainer-034).
import * as tf from "@tensorflow/tfjs-core";
import { type KtoConfig } from "../contract/kto-config.ts";
import { collateCompletions, type CompletionBatch } from "../data/collate.ts";
import { lmForward, type LanguageModel } from "../model/lm.ts";
import { trainableParams } from "../model/lora.ts";
import { maskedSum, nextTokenLogProbs } from "../losses/logprobs.ts";
import { ktoLoss, ktoMetrics, ktoReferencePoint, mismatchedIndex } from "../losses/kto-loss.ts";
import { createAdamW, disposeAdamW, updateFromLoss, type AdamWState } from "../optim/adamw.ts";
import { clipScale, clipScaleAsync } from "../optim/gradients.ts";
import { readAndDispose } from "../backend/tensor-reads.ts";
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
  /** The same step, its reads of the device awaited (webgpu, trainer-034). */
  trainStepAsync(indices: number[]): Promise<KtoStepMetrics>;
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

/** Σ log π_ref(answer tokens) per row, from the reference's next-token log-probs (B, T−1). */
function referenceSequenceLogps(logp: Float32Array, batch: CompletionBatch): Float64Array {
  const [B, T] = batch.shape;
  const W = T - 1;
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

  // 2.–3. everything that carries no gradient: reference log-probs and the reference point z₀ (its three reads
  // synchronous, or awaited)
  const prepared = (batch: UnpairedExample[], matched: CompletionBatch, mismatched: CompletionBatch, reads: [Float32Array, Float32Array, Float32Array]): Prepared => {
    const [refMatched, refOther, policyMismatched] = reads;
    const z0 = ktoReferencePoint(policyMismatched, referenceSequenceLogps(refOther, mismatched));
    return { matched, refLogps: Float32Array.from(referenceSequenceLogps(refMatched, matched)), desirable: batch.map((e) => (e.desirable ? 1 : 0)), z0 };
  };
  const prepare = (batch: UnpairedExample[]): Prepared => {
    const { matched, mismatched } = collate(batch);
    const policyMismatched = tf.tidy(() => sequenceLogps(model, mismatched).dataSync() as Float32Array); // (B)
    return prepared(batch, matched, mismatched, [reference.nextTokenLogps(matched, 1), reference.nextTokenLogps(mismatched, 1), policyMismatched]);
  };
  const prepareAsync = async (batch: UnpairedExample[]): Promise<Prepared> => {
    const { matched, mismatched } = collate(batch);
    const policyMismatched = await readAndDispose(tf.tidy(() => sequenceLogps(model, mismatched)));
    return prepared(batch, matched, mismatched, [await reference.nextTokenLogpsAsync(matched, 1), await reference.nextTokenLogpsAsync(mismatched, 1), policyMismatched]);
  };

  // 4. policy log-probs (B) and the loss; the log-probs stay on the device for the caller to read (the metrics)
  const lossOf = (p: Prepared, seen: { policyLogps?: tf.Tensor1D }): tf.Scalar => {
    const policyLogps = sequenceLogps(model, p.matched); // (B)
    seen.policyLogps = tf.keep(policyLogps);
    return ktoLoss(policyLogps, tf.tensor1d(p.refLogps), tf.tensor1d(p.desirable), p.z0, options);
  };
  const forwardBackward = (p: Prepared) => {
    const seen: { policyLogps?: tf.Tensor1D } = {};
    const { value, grads } = tf.variableGrads(() => lossOf(p, seen), vars);
    const named = new Map(Object.entries(grads).map(([k, g]) => [nameOf.get(k) ?? k, g]));
    return { p, value, policyLogps: seen.policyLogps as tf.Tensor1D, named };
  };
  // 4. clip, AdamW (the loss and log-probs read); 5. metrics with TRL's names, from the values the loss saw
  const update = (pass: ReturnType<typeof forwardBackward>, loss: number, policyLogps: Float32Array, clip: () => { norm: number; scale: number }): KtoStepMetrics => {
    tf.dispose([pass.value, pass.policyLogps]);
    const { gradNorm, lr } = updateFromLoss({ params, state: optimizer, grads: pass.named, optim: config.optim, step: trainer.step, loss, what: "KTO" }, clip);
    trainer.step += 1;
    return { step: trainer.step, loss, gradNorm, lr, ...ktoMetrics({ ...pass.p, policyLogps }, config.beta) };
  };

  const trainer: KtoTrainer = {
    model,
    optimizer,
    step: 0,

    trainStep(indices) {
      const pass = forwardBackward(prepare(indices.map((i) => examples[i] as UnpairedExample)));
      const [loss, policyLogps] = [pass.value.dataSync()[0] ?? NaN, pass.policyLogps.dataSync() as Float32Array];
      return update(pass, loss, policyLogps, () => clipScale(pass.named, config.optim.gradClip));
    },

    async trainStepAsync(indices) {
      const pass = forwardBackward(await prepareAsync(indices.map((i) => examples[i] as UnpairedExample)));
      const [loss, policyLogps] = [(await pass.value.data())[0] ?? NaN, (await pass.policyLogps.data()) as Float32Array];
      const clip = Number.isFinite(loss) ? await clipScaleAsync(pass.named, config.optim.gradClip) : { norm: NaN, scale: 1 };
      return update(pass, loss, policyLogps, () => clip);
    },

    evaluate(evalExamples) {
      const p = prepare(evalExamples);
      const seen: { policyLogps?: tf.Tensor1D } = {};
      const loss = tf.tidy(() => lossOf(p, seen).dataSync()[0] ?? NaN);
      const policyLogps = seen.policyLogps?.dataSync() as Float32Array;
      seen.policyLogps?.dispose();
      return { loss, ...ktoMetrics({ ...p, policyLogps }, config.beta) };
    },

    dispose() {
      disposeAdamW(optimizer);
    },
  };
  return trainer;
}
