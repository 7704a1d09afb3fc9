// REINFORCE Leave-One-Out: each answer's baseline is the mean reward of the other G − 1 answers to
// the same prompt; the whole answer is one action with one clipped ratio; the KL to the reference is a
// penalty in the reward.
// Paper: Ahmadian et al. 2024, "Back to Basics: Revisiting REINFORCE Style Optimization for Learning
// from Human Feedback in LLMs" (arXiv 2402.14740), the RLOO estimator (Kool et al. 2019's
// leave-one-out baseline). Reward KL (k1, per sequence), clipping and metric names as TRL 1.x's
// RLOOTrainer (losses/rloo-loss.ts; docs/decisions/trainer-009-grpo-rloo-kto.md).
//
// Reads top to bottom, once per rollout (steps 1, 2 and 5 are GRPO's, word for word):
//  1. sample G answers per prompt (full distribution at temperature T) through the injected rollout
//     function (inserted tokens, tool results, are marked 0 in its policy mask) and score the final
//     answers with every source, Σ wᵢ·rᵢ (NaN/Inf stops here); with dynamicSampling, more prompt
//     batches until enough groups hold mixed rewards (DAPO; rollouts/group-sampling.ts)
//  2. old and reference log-probs (no gradient); the KL per answer; the KL guard
//  3. KL-penalised reward r − β·KL(answer), then leave-one-out advantages r_i − mean_{j≠i} r_j
//  4. μ iterations over shuffled minibatches of the rows that train: sequence ratio
//     exp(Σ log π − Σ log π_old), clipped, AdamW
//  5. metrics (TRL names, health), adaptive β
// Every read of the device is awaited (rolloutLogps, awaitedUpdate), so the trainer runs on webgpu too (trainer-035).
import * as tf from "@tensorflow/tfjs-core";
import { type RlooConfig } from "../contract/rloo-config.ts";
import { HEALTH_METRICS, KL_GUARD_METRICS } from "../contract/kl-guard.ts";
import { type CompletionBatch } from "../data/collate.ts";
import { type LanguageModel } from "../model/lm.ts";
import { trainableParams } from "../model/lora.ts";
import { maskedSum } from "../losses/logprobs.ts";
import { rlooAdvantages, rlooClipStats, rlooLoss } from "../losses/rloo-loss.ts";
import { nanMeanStd } from "../losses/grpo-loss.ts";
import { awaitedUpdate, createAdamW, disposeAdamW, type AdamWState } from "../optim/adamw.ts";
import { learningRateAt } from "../optim/lr-schedule.ts";
import { createRng, type Rng } from "../random/rng.ts";
import { finalAnswerText, lastInsertedText } from "../rewards/answer-text.ts";
import { overTrainRows, sampleGroups, samplingFor } from "../rollouts/group-sampling.ts";
import { healthMetrics } from "../rollouts/health.ts";
import { meanStderr, policyLogps, sequenceKl, snapshotWeights, type EarlyStop, type ReferencePolicy, type WeightSnapshot } from "../rollouts/kl-guard.ts";
import { batchRows, collateRollout, pickRows, plainRollout, policyTokens, type RolloutBatch } from "../rollouts/rollout.ts";
import { rolloutLogps } from "../rollouts/rollout-logps.ts";
import { type GroupRlDeps, type GroupRlResumeState, type RlPrompt, type RolloutStepResult } from "./grpo-trainer.ts";

export interface RlooTrainer {
  model: LanguageModel;
  optimizer: AdamWState;
  /** Optimizer steps taken. */
  step: number;
  rollouts: number;
  /** The KL coefficient in use (adaptive under klControl "adaptive"). */
  beta: number;
  /** One rollout (prompts × G answers) and its μ iterations of updates. */
  rolloutStep(prompts: RlPrompt[], more?: () => RlPrompt[]): Promise<RolloutStepResult>;
  resumeState(): GroupRlResumeState;
  restore(state: GroupRlResumeState): void;
  dispose(): void;
}

export function createRlooTrainer(policy: LanguageModel, reference: ReferencePolicy, config: RlooConfig, deps: GroupRlDeps): RlooTrainer {
  // the weights that train: every one, or only the LoRA adapters when the model has them
  const params = trainableParams(policy);
  const optimizer = createAdamW(params);
  const rollout = deps.rollout ?? plainRollout;
  const answerText = deps.answerText ?? ((c: number[], m: number[]) => finalAnswerText(c, m, deps.decode, deps.stopTokens));
  const toolResult = deps.toolResult ?? ((c: number[], m: number[]) => lastInsertedText(c, m, deps.decode));
  const sampling = { sample: rollout, rewards: deps.rewards, decode: deps.decode, answerText, toolResult };
  const G = config.numGenerations;
  const T_ = config.temperature;
  const epsilonHigh = config.epsilonHigh ?? config.epsilon;
  const guarding = config.klTarget !== null && config.klControl === "early_stop";
  let rng: Rng = createRng(config.seed);
  let kept: WeightSnapshot | null = null; // the last weights whose KL was under the target
  let numTokens = 0;

  const trainer: RlooTrainer = {
    model: policy,
    optimizer,
    step: 0,
    rollouts: 0,
    beta: config.beta,

    async rolloutStep(prompts, more) {
      // 1. G answers per prompt, scored; row b = g·G + k answers group g's prompt
      const groups = await sampleGroups(policy, prompts, more ?? null, prompts.length, samplingFor(config, trainer.rollouts, deps.padId, deps.stopTokens), sampling);
      const { rows, completions, policyMask, texts, answers, scored } = groups;
      const r: RolloutBatch = collateRollout(rows.map((x) => x.ids), completions, policyMask, deps.padId);
      const [B] = r.batch.shape;
      const W = r.width;

      // 2. old and reference log-probs (B, W), no gradient, a planned batch of rows at a time; KL per answer over policy
      //    tokens (k1)
      const { oldLogp, entropy, refLogp } = await rolloutLogps(policy, reference, r.batch, prompts.length * G, T_);
      const klPerAnswer = sequenceKl(oldLogp, refLogp, r.lossMask, B, W);
      const kl = meanStderr(klPerAnswer);
      const klMetrics: Record<string, number> = {
        [KL_GUARD_METRICS.kl]: kl.mean, [KL_GUARD_METRICS.klStderr]: kl.stderr, [KL_GUARD_METRICS.samples]: B,
        ...(config.klTarget !== null ? { [KL_GUARD_METRICS.target]: config.klTarget } : {}),
      };
      if (guarding) {
        // the weights that sampled this rollout are over the target: put back the last ones under it
        if (!(kl.mean <= (config.klTarget ?? Infinity))) {
          kept ??= snapshotWeights(policy, trainer.step); // a resumed run over the target keeps its start
          kept.restoreInto(policy);
          const stop: EarlyStop = { reason: "kl_above_target", kl: kl.mean, klTarget: config.klTarget ?? NaN, step: trainer.step, keptStep: kept.step };
          return { metrics: finite({ rollout: trainer.rollouts + 1, step: trainer.step, ...klMetrics }), earlyStop: stop };
        }
        kept?.dispose();
        kept = snapshotWeights(policy, trainer.step);
      }

      // 3. the KL penalty in the reward (per answer), then leave-one-out advantages (B) over the rows that train (all, or
      //    the mixed groups'); 0 on the rest
      const train = groups.trainRows;
      const penalised = Float32Array.from(scored.total, (x, b) => x - trainer.beta * (klPerAnswer[b] ?? 0));
      const advantages = overTrainRows(penalised, train, (x) => rlooAdvantages(x, G, config.normalizeAdvantages));
      const oldSeqLogp = sequenceSums(oldLogp, r.lossMask, B, W);

      // 4. μ iterations over shuffled minibatches of the rows that train
      const rowsPerStep = Math.min(config.miniBatchSize ?? train.length, train.length);
      const updates: UpdateStats[] = [];
      for (let it = 0; it < config.numIterations && train.length > 0; it++) {
        const order = shuffle(train.length, rng).map((i) => train[i] ?? 0);
        for (let start = 0; start < train.length; start += rowsPerStep) updates.push(await update(order.slice(start, start + rowsPerStep), r, oldSeqLogp, advantages));
      }

      // 5. metrics with TRL's names; then the adaptive β
      let maskSum = 0, k1Sum = 0, entropySum = 0;
      for (let i = 0; i < B * W; i++) {
        if (!r.lossMask[i]) continue;
        maskSum += 1; k1Sum += (oldLogp[i] ?? 0) - (refLogp[i] ?? 0); entropySum += entropy[i] ?? 0;
      }
      const lengths = r.policyLengths;
      const terminated = lengths.filter((_, b) => groups.finished[b] === true);
      numTokens += rows.reduce((a, x) => a + x.ids.length, 0) + lengths.reduce((a, n) => a + n, 0);
      const mean = (xs: number[]): number => xs.reduce((a, x) => a + x, 0) / Math.max(xs.length, 1);
      const metrics: Record<string, number> = {
        rollout: trainer.rollouts + 1,
        step: trainer.step,
        // no update when dynamic sampling found no mixed group: no loss to report
        loss: updates.length > 0 ? mean(updates.map((u) => u.loss)) : NaN,
        gradNorm: updates.length > 0 ? mean(updates.map((u) => u.gradNorm)) : NaN,
        lr: learningRateAt(Math.max(0, trainer.step - 1), config.optim),
        beta: trainer.beta,
        ...scored.metrics,
        frac_reward_zero_std: zeroStdShare(scored.total, G),
        ...(config.dynamicSampling ? { "dynamic_sampling/batches": groups.batches, "dynamic_sampling/trained_groups": train.length / G, "dynamic_sampling/mixed_groups": groups.mixedGroups } : {}),
        kl: k1Sum / Math.max(maskSum, 1),
        entropy: entropySum / Math.max(maskSum, 1),
        ...averageOf(updates.map((u) => u.clip)),
        "completions/mean_length": mean(lengths),
        "completions/min_length": Math.min(...lengths),
        "completions/max_length": Math.max(...lengths),
        "completions/clipped_ratio": 1 - terminated.length / B,
        "completions/mean_terminated_length": mean(terminated),
        num_tokens: numTokens,
        ...klMetrics,
        ...healthMetrics(completions.map((c, b) => ({ text: texts[b] ?? "", answer: answers[b] ?? "", policyTokens: policyTokens(c, policyMask[b] ?? []) }))),
        ...groups.toolMetrics,
      };
      metrics[HEALTH_METRICS.meanLength] = metrics["completions/mean_length"] ?? NaN;
      if (config.klControl === "adaptive" && config.klTarget !== null) {
        const err = Math.min(Math.max(kl.mean / config.klTarget - 1, -0.2), 0.2);
        trainer.beta *= 1 + (err * train.length) / config.klHorizon; // the samples this rollout trained on
      }
      trainer.rollouts += 1;
      return { metrics: finite(metrics), earlyStop: null };
    },

    resumeState: () => ({ step: trainer.step, rollouts: trainer.rollouts, beta: trainer.beta, shuffleRngState: rng.state(), numTokens }),

    restore(state) {
      trainer.step = state.step;
      trainer.rollouts = state.rollouts;
      trainer.beta = state.beta;
      numTokens = state.numTokens;
      rng = createRng(state.shuffleRngState); // mulberry32's state is its seed
    },

    dispose() {
      disposeAdamW(optimizer);
      kept?.dispose();
      kept = null;
    },
  };

  interface UpdateStats { loss: number; gradNorm: number; clip: Record<string, number> }

  /** One optimizer step on some rows of the rollout; its reads of the device awaited (awaitedUpdate). */
  async function update(rows: number[], r: RolloutBatch, oldSeqLogp: Float64Array, advantages: Float32Array): Promise<UpdateStats> {
    const W = r.width;
    const sub: CompletionBatch = batchRows(r.batch, rows);
    const mask = pickRows(r.lossMask, rows, W);
    const oldSeq = Float32Array.from(rows, (row) => oldSeqLogp[row] ?? 0);
    const adv = Float32Array.from(rows, (row) => advantages[row] ?? 0);
    const { loss, reads: [newSeq = new Float32Array(0)], gradNorm } = await awaitedUpdate({ params, state: optimizer, optim: config.optim, step: trainer.step, what: "RLOO" }, (keep) => {
      const { logp } = policyLogps(policy, sub, T_); // (b, W)
      const seqLogp = maskedSum(logp, tf.tensor2d(mask, [rows.length, W])); // (b) Σ over policy tokens
      keep(seqLogp);
      return rlooLoss(seqLogp, tf.tensor1d(oldSeq), tf.tensor1d(adv), config.epsilon, epsilonHigh);
    });
    trainer.step += 1;
    return { loss, gradNorm, clip: rlooClipStats(newSeq, oldSeq, adv, config.epsilon, epsilonHigh) };
  }

  return trainer;
}

/** Σ_t mask·x per row, (B) from (B, W) row-major. */
function sequenceSums(x: ArrayLike<number>, mask: ArrayLike<number>, rows: number, width: number): Float64Array {
  const out = new Float64Array(rows);
  for (let b = 0; b < rows; b++) for (let t = 0; t < width; t++) if (mask[b * width + t]) out[b] = (out[b] ?? 0) + (x[b * width + t] ?? 0);
  return out;
}

/** Share of answers in groups whose (unpenalised) rewards are all equal (TRL frac_reward_zero_std). */
function zeroStdShare(rewards: ArrayLike<number>, groupSize: number): number {
  let zero = 0;
  for (let g = 0; g < rewards.length; g += groupSize) {
    const { std } = nanMeanStd(Array.from({ length: groupSize }, (_, k) => rewards[g + k] ?? NaN));
    if (Math.abs(std) < 1e-8) zero += groupSize;
  }
  return zero / Math.max(rewards.length, 1);
}

/** Key-wise mean of metric records (the clip ratios over a rollout's updates; min/max keys keep their extreme). */
function averageOf(records: Record<string, number>[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const key of Object.keys(records[0] ?? {})) {
    const values = records.map((r) => r[key] ?? 0);
    out[key] = key.endsWith("_min") ? Math.min(...values) : key.endsWith("_max") ? Math.max(...values) : values.reduce((a, x) => a + x, 0) / values.length;
  }
  return out;
}

/** Metrics lines carry numbers: a statistic with no data (the std of one value) is left out. */
function finite(metrics: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(metrics).filter(([, v]) => Number.isFinite(v)));
}

function shuffle(n: number, rng: Rng): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j] ?? 0, order[i] ?? 0];
  }
  return order;
}
