// KL to the reference policy, measured on sampled answers, and the guard that stops training when it
// exceeds a target (contract/kl-guard.ts names the settings, metrics and the early_stop event).
//
// Estimator (k1): for answers y sampled from π, KL(π‖π_ref) = E_y[Σ_t log π(y_t|·) − log π_ref(y_t|·)],
// so the mean over answers of the summed log-ratio is unbiased for the KL per answer (Schulman 2020,
// "Approximating KL divergence"; TRL's objective/kl). Only tokens the policy sampled count: a tool's
// result is not drawn from π. Sampling is at temperature 1 over the full distribution: any other
// distribution would measure the KL of something other than π.
//
// The reference is an interface: a frozen copy of the initial policy (what the tiny models here can
// afford), or, for LoRA, the same model with its adapters off.
import * as tf from "@tensorflow/tfjs-core";
import { readAndDispose, readSyncAndDispose } from "../backend/tensor-reads.ts";
import { KL_GUARD_METRICS, type KlCheckConfig } from "../contract/kl-guard.ts";
import { type CompletionBatch } from "../data/collate.ts";
import { nextTokenLogProbs } from "../losses/logprobs.ts";
import { cloneModel, disposeModel, lmForward, type LanguageModel } from "../model/lm.ts";
import { hasAdapters, trainableParams, withAdaptersOff } from "../model/lora.ts";
import { createRng } from "../random/rng.ts";
import { finalAnswerText, type Decode } from "../rewards/answer-text.ts";
import { healthMetrics, type SampledAnswer } from "./health.ts";
import { collateRollout, plainRollout, policyMaskOf, policyTokens, type RolloutFn } from "./rollout.ts";

/** π_ref's next-token log-probs: (B, T−1) row-major, aligned with inputIds[:, 1:]. */
export interface ReferencePolicy {
  nextTokenLogps(batch: CompletionBatch, temperature: number): Float32Array;
  /** The same, its read of the device awaited (webgpu, trainer-033). */
  nextTokenLogpsAsync(batch: CompletionBatch, temperature: number): Promise<Float32Array>;
  dispose(): void;
}

/** A reference policy from the one computation of its log-probs tensor, read either way. */
function referenceFrom(logps: (batch: CompletionBatch, temperature: number) => tf.Tensor2D, dispose: () => void): ReferencePolicy {
  return {
    nextTokenLogps: (batch, temperature) => readSyncAndDispose(logps(batch, temperature)),
    nextTokenLogpsAsync: (batch, temperature) => readAndDispose(logps(batch, temperature)),
    dispose,
  };
}

/**
 * Next-token log-probs (B, T−1) at temperature T, and each position's entropy when asked (GRPO's and RLOO's rollout
 * pass). The one forward over a collated batch that the references, the KL checks and the RL trainers share. Call
 * inside tf.tidy / variableGrads.
 */
export function policyLogps(model: LanguageModel, batch: CompletionBatch, temperature: number, withEntropy = false): { logp: tf.Tensor2D; entropy: tf.Tensor2D | null } {
  const [B, T] = batch.shape;
  const ids = tf.tensor2d(batch.inputIds, [B, T], "int32");
  const attentionMask = tf.tensor2d(batch.attentionMask, [B, T], "int32");
  const logits = lmForward(model, ids, { attentionMask }).logits as tf.Tensor3D; // (B, T, V)
  const logp = nextTokenLogProbs(logits, ids, undefined, temperature); // (B, T−1)
  if (!withEntropy) return { logp, entropy: null };
  const V = logits.shape[2];
  const lsm = tf.logSoftmax(tf.div(tf.slice(logits, [0, 0, 0], [B, T - 1, V]), temperature), -1); // (B, T−1, V)
  return { logp, entropy: tf.neg(tf.sum(tf.mul(tf.exp(lsm), lsm), -1)) as tf.Tensor2D }; // (B, T−1)
}

/** A model loaded to be the reference (an evaluation's checkpoint), read as it is; whoever loaded it disposes of it. */
export function modelAsReference(model: LanguageModel): ReferencePolicy {
  return referenceFrom((batch, temperature) => tf.tidy(() => policyLogps(model, batch, temperature).logp), () => undefined);
}

/** A frozen copy of the policy as it is now (call before training, and before loading a resume point). */
export function frozenReference(policy: LanguageModel): ReferencePolicy {
  const copy = cloneModel(policy, { trainable: false });
  return { ...modelAsReference(copy), dispose: () => disposeModel(copy) };
}

/** With LoRA adapters the reference is the same model with them switched off: no second copy of the weights. */
export function adaptersOffReference(policy: LanguageModel): ReferencePolicy {
  return referenceFrom((batch, temperature) => withAdaptersOff(policy, () => tf.tidy(() => policyLogps(policy, batch, temperature).logp)), () => undefined);
}

/** The reference a trainer measures KL against: the adapters switched off, else a frozen copy. */
export function referenceOf(policy: LanguageModel): ReferencePolicy {
  return hasAdapters(policy) ? adaptersOffReference(policy) : frozenReference(policy);
}

/** Σ_t mask·(logp − refLogp) per row: the k1 KL of each answer, (B) from (B, W) row-major. */
export function sequenceKl(logp: ArrayLike<number>, refLogp: ArrayLike<number>, mask: ArrayLike<number>, rows: number, width: number): Float64Array {
  const out = new Float64Array(rows);
  for (let b = 0; b < rows; b++) {
    let s = 0;
    for (let t = 0; t < width; t++) {
      const i = b * width + t;
      if (mask[i]) s += (logp[i] ?? 0) - (refLogp[i] ?? 0);
    }
    out[b] = s;
  }
  return out;
}

export function meanStderr(xs: ArrayLike<number>): { mean: number; stderr: number } {
  const n = xs.length;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += xs[i] ?? 0;
  const mean = n > 0 ? sum / n : NaN;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += ((xs[i] ?? 0) - mean) ** 2;
  return { mean, stderr: n > 1 ? Math.sqrt(sq / (n - 1) / n) : NaN };
}

/** A copy of the weights at one step, to put back when a later step overshoots the KL target. */
export interface WeightSnapshot {
  step: number;
  restoreInto(model: LanguageModel): void;
  dispose(): void;
}

/**
 * The weights training changes: every parameter, or with LoRA the adapters (and a scalar head), which are not among
 * `params` (trainableParams). The frozen base of a LoRA model is left out: it cannot have moved, and copying it would
 * double a large model's memory.
 */
export function snapshotWeights(model: LanguageModel, step: number): WeightSnapshot {
  const saved = new Map([...trainableParams(model)].map(([name, v]) => [name, tf.clone(v)]));
  return {
    step,
    restoreInto(target) {
      for (const [name, v] of trainableParams(target)) {
        const value = saved.get(name);
        if (!value) throw new Error(`weight snapshot lacks ${name}`);
        v.assign(value);
      }
    },
    dispose: () => tf.dispose([...saved.values()]),
  };
}

/**
 * Training stopped: the KL measured at `step` was over the target; the weights of `keptStep` are back. The two are
 * equal when a resume point was already over the target: no earlier weights were at hand.
 */
export interface EarlyStop {
  reason: "kl_above_target";
  kl: number;
  klTarget: number;
  step: number;
  keptStep: number;
}

/** One rollout of an RL trainer (PPO, GRPO, RLOO): its metrics, and the stop when its KL was over the target. */
export interface RolloutStepResult {
  metrics: Record<string, number>;
  /** Set when the KL guard stopped training: the policy holds the kept weights again. */
  earlyStop: EarlyStop | null;
}

/** What the train loop (cli/train-loop.ts) asks of a guard. */
export interface LoopGuard {
  /** Before the first step: `step` is where training starts (0, or the resume point); a stop when it must not train from there. */
  begin(step: number): Promise<EarlyStop | null>;
  /** After step `step`'s update: metrics for that step's line, and a stop when training must end. */
  afterStep(step: number, last: boolean): Promise<{ metrics: Record<string, number>; stop: EarlyStop | null }>;
  dispose(): void;
}

/** A KL estimate in nats per answer: the mean over `samples` sampled answers and its standard error. */
export type KlEstimate = { mean: number; stderr: number; samples: number };

/**
 * KL(π‖π_ref) against each of `references`, from one set of answers the policy samples: one per row of `prompts`
 * (repeat a prompt for several). The batch from row i draws with seed `seed + i`, at temperature 1, each answer within
 * the context room its batch leaves. The DPO/KTO guard, the eval job and the held-out eval all measure KL here. The answers come
 * back too, policy mask and all, for what else a caller reads from them.
 */
export async function klOfSampledAnswers(
  policy: LanguageModel, references: ReferencePolicy[], prompts: number[][],
  o: { maxNewTokens: number; seed: number; padId: number; stopTokens: number[]; batchSize: number; rollout?: RolloutFn; onProgress?: (done: number) => void },
): Promise<{ estimates: KlEstimate[]; completions: number[][]; policyMasks: number[][] }> {
  const rollout = o.rollout ?? plainRollout;
  const kls = references.map((): number[] => []);
  const completions: number[][] = [];
  const policyMasks: number[][] = [];
  for (let i = 0; i < prompts.length; i += o.batchSize) {
    const part = prompts.slice(i, i + o.batchSize);
    // 1. sample at temperature 1, the full distribution; the answer must fit the context
    const room = policy.config.blockSize - Math.max(...part.map((p) => p.length));
    const sampled = await rollout(policy, part, { maxNewTokens: Math.min(o.maxNewTokens, room), temperature: 1, padId: o.padId, stopTokens: o.stopTokens, seed: o.seed + i });
    // 2. Σ_t (log π − log π_ref) over the policy's tokens: a tool's result stays in the input and out of the sum
    const mask = policyMaskOf(sampled);
    const r = collateRollout(part, sampled.completions, mask, o.padId);
    const logp = await readAndDispose(tf.tidy(() => policyLogps(policy, r.batch, 1).logp));
    for (const [k, reference] of references.entries()) kls[k]?.push(...sequenceKl(logp, await reference.nextTokenLogpsAsync(r.batch, 1), r.lossMask, part.length, r.width));
    completions.push(...sampled.completions);
    policyMasks.push(...mask);
    o.onProgress?.(Math.min(i + o.batchSize, prompts.length));
  }
  return { estimates: kls.map((values) => ({ ...meanStderr(values), samples: values.length })), completions, policyMasks };
}

/** `count` prompts from the distinct ones, in a seeded order, cycling when there are fewer. */
export function checkPrompts(prompts: number[][], count: number, seed: number): number[][] {
  const distinct = [...new Map(prompts.map((p) => [p.join(","), p])).values()];
  const rng = createRng(seed);
  for (let i = distinct.length - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [distinct[i], distinct[j]] = [distinct[j] ?? [], distinct[i] ?? []];
  }
  if (distinct.length === 0) return [];
  return Array.from({ length: count }, (_, i) => distinct[i % distinct.length] ?? []);
}

/**
 * DPO and KTO sample nothing while they train: every `check.every` steps (and at the last step) this
 * samples `check.samples` answers to training prompts and measures the KL. Over `klTarget` it puts
 * back the weights of the last check under the target (the starting weights when none passed) and
 * stops training. Without a target it only measures.
 *
 * A fresh run starts from the reference's weights (KL 0). A resumed run starts from a checkpoint's, written on
 * its own schedule and perhaps under another target: they are measured first and kept only when under the
 * target. Over it, training stops at once on them, as GRPO's and PPO's guards keep the weights they resumed
 * with (decision 0066): the stop's step and keptStep are both the resume point.
 */
export function createKlGuard(o: {
  policy: LanguageModel;
  reference: ReferencePolicy;
  prompts: number[][];
  klTarget: number | null;
  check: KlCheckConfig;
  padId: number;
  stopTokens: number[];
  decode: Decode;
  rollout?: RolloutFn;
}): LoopGuard {
  const blockSize = o.policy.config.blockSize;
  const prompts = checkPrompts(o.prompts, o.check.samples, o.check.seed).filter((p) => p.length > 0 && p.length < blockSize);
  let kept: WeightSnapshot | null = null;

  // the KL per answer, and the answers' health
  const measure = async (): Promise<{ kl: number; metrics: Record<string, number> }> => {
    if (prompts.length === 0) throw new Error("KL check: no training prompt leaves room for an answer in the model's context");
    const { estimates, completions, policyMasks } = await klOfSampledAnswers(o.policy, [o.reference], prompts, {
      maxNewTokens: o.check.maxNewTokens, seed: o.check.seed, padId: o.padId, stopTokens: o.stopTokens, batchSize: 16, ...(o.rollout ? { rollout: o.rollout } : {}),
    });
    const kl = estimates[0]!; // one reference, one estimate
    const answers: SampledAnswer[] = [];
    for (const [b, completion] of completions.entries()) {
      const mask = policyMasks[b] ?? [];
      answers.push({ text: await o.decode(completion), answer: await finalAnswerText(completion, mask, o.decode, o.stopTokens), policyTokens: policyTokens(completion, mask) });
    }
    const metrics: Record<string, number> = {
      [KL_GUARD_METRICS.kl]: kl.mean, [KL_GUARD_METRICS.klStderr]: kl.stderr, [KL_GUARD_METRICS.samples]: kl.samples,
      ...(o.klTarget !== null ? { [KL_GUARD_METRICS.target]: o.klTarget } : {}),
      ...healthMetrics(answers),
    };
    return { kl: kl.mean, metrics };
  };

  return {
    async begin(step) {
      kept?.dispose();
      kept = null;
      if (o.klTarget === null || o.check.every === 0) return null;
      if (step > 0) {
        const { kl } = await measure();
        if (!(kl <= o.klTarget)) return { reason: "kl_above_target", kl, klTarget: o.klTarget, step, keptStep: step };
      }
      kept = snapshotWeights(o.policy, step);
      return null;
    },
    async afterStep(step, last) {
      if (o.check.every === 0 || (step % o.check.every !== 0 && !last)) return { metrics: {}, stop: null };
      const { kl, metrics } = await measure();
      if (o.klTarget === null || !kept) return { metrics, stop: null };
      if (!(kl <= o.klTarget)) {
        kept.restoreInto(o.policy);
        return { metrics, stop: { reason: "kl_above_target", kl, klTarget: o.klTarget, step, keptStep: kept.step } };
      }
      kept.dispose();
      kept = snapshotWeights(o.policy, step);
      return { metrics, stop: null };
    },
    dispose() {
      kept?.dispose();
      kept = null;
    },
  };
}
