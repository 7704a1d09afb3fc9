// Group Relative Policy Optimization: PPO's clipped ratio without a value model; the baseline is the
// mean reward of G answers to the same prompt.
// Paper: Shao et al. 2024, "DeepSeekMath: Pushing the Limits of Mathematical Reasoning in Open
// Language Models" (arXiv 2402.03300), §4.1, Eq. 3 (objective) and Eq. 4 (k3 KL), outcome supervision
// (§4.1.2). Loss aggregation, advantage scaling and metric names as TRL 1.x's GRPOTrainer
// (losses/grpo-loss.ts; docs/decisions/trainer-009-grpo-rloo-kto.md).
//
// Reads top to bottom, once per rollout:
//  1. sample G answers per prompt (full distribution at temperature T) through the injected rollout
//     function (inserted tokens, tool results, are marked 0 in its policy mask) and score the final
//     answers with every source, Σ wᵢ·rᵢ (NaN/Inf stops here); with dynamicSampling, more prompt
//     batches until enough groups hold mixed rewards (DAPO; rollouts/group-sampling.ts)
//  2. old and reference log-probs (no gradient); the KL per answer; the KL guard
//  3. group-relative advantages: (r − mean_group) / (std_group + 1e-4)
//  4. μ iterations over shuffled minibatches of the rows that train: clipped ratio + β·k3 on policy
//     tokens, aggregated per loss type, AdamW
//  5. metrics (TRL names, health), adaptive β
// Every read of the device is awaited (rolloutLogps, awaitedUpdate), so the trainer runs on webgpu too (trainer-035).
import * as tf from "@tensorflow/tfjs-core";
import { type GrpoConfig } from "../contract/grpo-config.ts";
import { HEALTH_METRICS, KL_GUARD_METRICS } from "../contract/kl-guard.ts";
import { type CompletionBatch } from "../data/collate.ts";
import { type LanguageModel } from "../model/lm.ts";
import { trainableParams } from "../model/lora.ts";
import { clipStats, grpoAdvantages, grpoLoss } from "../losses/grpo-loss.ts";
import { awaitedUpdate, createAdamW, disposeAdamW, type AdamWState } from "../optim/adamw.ts";
import { learningRateAt } from "../optim/lr-schedule.ts";
import { createRng, type Rng } from "../random/rng.ts";
import { finalAnswerText, lastInsertedText, type Decode } from "../rewards/answer-text.ts";
import { type RewardSource } from "../rewards/reward-sources.ts";
import { overTrainRows, sampleGroups, samplingFor, type RlPrompt } from "../rollouts/group-sampling.ts";
import { healthMetrics } from "../rollouts/health.ts";
import { meanStderr, policyLogps, sequenceKl, snapshotWeights, type EarlyStop, type ReferencePolicy, type RolloutStepResult, type WeightSnapshot } from "../rollouts/kl-guard.ts";
import { batchRows, collateRollout, pickRows, plainRollout, policyTokens, type RolloutBatch, type RolloutFn } from "../rollouts/rollout.ts";
import { rolloutLogps } from "../rollouts/rollout-logps.ts";

export type { RlPrompt };

export interface GroupRlDeps {
  padId: number;
  /** End of turn and EOS: they end an answer (and are kept in it). */
  stopTokens: number[];
  rewards: RewardSource[];
  /** Token ids → text without special tokens (final answers, health metrics). */
  decode: Decode;
  /** The sampler; default plain generate(). A tool-running sampler marks inserted tokens in policyMask. */
  rollout?: RolloutFn;
  /** The final answer of a completion; default: after the last inserted token, up to the end token. */
  answerText?: (completion: number[], policyMask: number[]) => Promise<string>;
  /** What the last tool call returned (the tool_result reward reads it); default: the last inserted tokens, decoded; null without a call. */
  toolResult?: (completion: number[], policyMask: number[]) => Promise<string | null>;
}

export type { RolloutStepResult } from "../rollouts/kl-guard.ts";

/** Counters, β, the minibatch-shuffle RNG and the token count; rollout seeds follow from `rollouts`. */
export interface GroupRlResumeState {
  step: number;
  rollouts: number;
  beta: number;
  shuffleRngState: number;
  numTokens: number;
}

export interface GrpoTrainer {
  model: LanguageModel;
  optimizer: AdamWState;
  /** Optimizer steps taken. */
  step: number;
  rollouts: number;
  /** The KL coefficient in use (adaptive under klControl "adaptive"). */
  beta: number;
  /** One rollout (prompts × G answers) and its μ iterations of updates; `more` draws the next prompt batch (dynamic sampling). */
  rolloutStep(prompts: RlPrompt[], more?: () => RlPrompt[]): Promise<RolloutStepResult>;
  resumeState(): GroupRlResumeState;
  restore(state: GroupRlResumeState): void;
  dispose(): void;
}

export function createGrpoTrainer(policy: LanguageModel, reference: ReferencePolicy, config: GrpoConfig, deps: GroupRlDeps): GrpoTrainer {
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

  const trainer: GrpoTrainer = {
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

      // 3. group-relative advantages (B) over the rows that train (all, or the mixed groups'); 0 on the rest and for
      //    unscored answers
      const train = groups.trainRows;
      const advantages = overTrainRows(scored.total, train, (x) => grpoAdvantages(x, G, config.scaleRewards).advantages);
      const { zeroStd } = grpoAdvantages(scored.total, G, config.scaleRewards); // TRL's frac_reward_zero_std: over every group

      // 4. μ iterations over shuffled minibatches of the rows that train
      const rowsPerStep = Math.min(config.miniBatchSize ?? train.length, train.length);
      const updates: UpdateStats[] = [];
      for (let it = 0; it < config.numIterations && train.length > 0; it++) {
        const order = shuffle(train.length, rng).map((i) => train[i] ?? 0);
        for (let start = 0; start < train.length; start += rowsPerStep) updates.push(await update(order.slice(start, start + rowsPerStep), r, oldLogp, refLogp, advantages));
      }

      // 5. metrics with TRL's names; then the adaptive β
      let maskSum = 0, k3Sum = 0, entropySum = 0;
      for (let i = 0; i < B * W; i++) {
        if (!r.lossMask[i]) continue;
        const d = (refLogp[i] ?? 0) - (oldLogp[i] ?? 0);
        maskSum += 1; k3Sum += Math.exp(d) - d - 1; entropySum += entropy[i] ?? 0;
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
        frac_reward_zero_std: zeroStd.filter(Boolean).length / B,
        ...(config.dynamicSampling ? { "dynamic_sampling/batches": groups.batches, "dynamic_sampling/trained_groups": train.length / G, "dynamic_sampling/mixed_groups": groups.mixedGroups } : {}),
        kl: k3Sum / Math.max(maskSum, 1),
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
  async function update(rows: number[], r: RolloutBatch, oldLogp: Float32Array, refLogp: Float32Array, advantages: Float32Array): Promise<UpdateStats> {
    const W = r.width;
    const sub: CompletionBatch = batchRows(r.batch, rows);
    const mask = pickRows(r.lossMask, rows, W);
    const old = pickRows(oldLogp, rows, W);
    const ref = pickRows(refLogp, rows, W);
    const adv = Float32Array.from(rows, (row) => advantages[row] ?? 0);
    const shape: [number, number] = [rows.length, W];
    const { loss, reads: [newLogp = new Float32Array(0)], gradNorm } = await awaitedUpdate({ params, state: optimizer, optim: config.optim, step: trainer.step, what: "GRPO" }, (keep) => {
      const { logp } = policyLogps(policy, sub, T_); // (b, W)
      keep(logp);
      return grpoLoss(logp, tf.tensor2d(old, shape), trainer.beta !== 0 ? tf.tensor2d(ref, shape) : null, tf.tensor1d(adv), tf.tensor2d(mask, shape), {
        epsilonLow: config.epsilon, epsilonHigh, beta: trainer.beta, lossType: config.lossType, maxCompletionLength: config.maxCompletionLength,
      });
    });
    trainer.step += 1;
    return { loss, gradNorm, clip: clipStats(newLogp, old, adv, mask, W, config.epsilon, epsilonHigh) };
  }

  return trainer;
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
