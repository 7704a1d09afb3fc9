// PPO for language models with a learned value function and a KL penalty to a frozen reference.
// Papers: Schulman et al. 2017, "Proximal Policy Optimization Algorithms" (arXiv 1707.06347), Eq. 7;
// Schulman et al. 2016, "High-Dimensional Continuous Control Using GAE" (arXiv 1506.02438), Eq. 16;
// Ziegler et al. 2019, "Fine-Tuning Language Models from Human Preferences" (arXiv 1909.08593) §2.2
// for the KL-penalised reward and adaptive β; Ouyang et al. 2022 §3.5 (RL). The loop follows TRL's
// PPOTrainer (PPOv2) and the N-implementation-details checklist (trainer-anchors.md, PPO #1–13).
//
// Reads top to bottom, once per rollout:
//  1. sample responses (full distribution at temperature T; stop token kept) through the injected
//     rollout: with tools, a call the policy writes runs and its result is spliced in (policyMask 0);
//     inserted tokens stay in the context, but KL, rewards, GAE and the losses run over policy tokens
//  2. recompute old log-probs, reference log-probs (both at T) and values, no gradient
//  3. score: reward function on (prompt, response), missing-EOS penalty
//  4. per-token rewards: −β·(log π_old − log π_ref) on every response token, score on the last one
//     (the stop token when there is one: OpenRLHF's placement, consistent with the value mask)
//  5. GAE over policy tokens (inserted ones skipped), advantages whitened over policy tokens
//  6. PPO epochs over shuffled minibatches: clipped policy + vf_coef · clipped value loss (the value loss alone
//     during the first criticWarmupRollouts, trainer-036)
//  7. metrics with TRL's names; adaptive β update
// The KL guard (klControl "early_stop", the default, as in GRPO): when the KL of a rollout's own samples is over
// klTarget, the weights that sampled it are past the target; the last weights under it are put back and training
// stops before any update (decision 0066).
// Every read of the device is awaited (the rollout's pass, awaitedUpdate, the reward model's scores), so PPO runs on
// webgpu too (trainer-035).
// The reward is a function, so a reward model and a programmatic reward plug in the same way, or a
// weighted sum of both (rewards/reward-sources.ts: a reward model beside the project's checker).
import * as tf from "@tensorflow/tfjs-core";
import { readAndDispose } from "../backend/tensor-reads.ts";
import { type PpoConfig } from "../contract/ppo-config.ts";
import { type CompletionBatch } from "../data/collate.ts";
import { lmForward, type LanguageModel } from "../model/lm.ts";
import { hasAdapters, trainableParams, withAdaptersOff } from "../model/lora.ts";
import { gae, maskedWhiten, ppoPolicyLoss, ppoPolicyStats, ppoValueLoss } from "../losses/ppo-loss.ts";
import { awaitedUpdate, createAdamW, disposeAdamW, type AdamWState } from "../optim/adamw.ts";
import { learningRateAt } from "../optim/lr-schedule.ts";
import { createRng, type Rng } from "../random/rng.ts";
import { HEALTH_METRICS, KL_GUARD_METRICS } from "../contract/kl-guard.ts";
import { finalAnswerText, type Decode } from "../rewards/answer-text.ts";
import { healthMetrics } from "../rollouts/health.ts";
import { meanStderr, policyLogps, snapshotWeights, type EarlyStop, type RolloutStepResult, type WeightSnapshot } from "../rollouts/kl-guard.ts";
import { batchRows, collateRollout, pickRows, plainRollout, policyMaskOf, policyTokens, toolCallMetrics, toolCallsOf, type RolloutFn } from "../rollouts/rollout.ts";

/**
 * Scores one response per prompt (token ids, response including its stop token if any; policyMask 0
 * on inserted tool results). It may return metrics of its own beside the scores (the reward sources'
 * `rewards/<source>/mean`), which join the rollout's.
 */
export type RewardFn = (prompts: number[][], responses: number[][], policyMask: number[][]) => RewardOutput | Promise<RewardOutput>;
export type RewardOutput = Float32Array | { scores: Float32Array; metrics?: Record<string, number> };

export interface PpoModels {
  policy: LanguageModel;
  /** Frozen copy of the initial (SFT) policy; leave it out when the policy has LoRA adapters: the reference is then the policy with its adapters off. */
  reference?: LanguageModel;
  /** scalarHead "value"; best initialised from the reward model. */
  value: LanguageModel;
}

export interface PpoTrainer {
  /** Optimizer steps taken. */
  step: number;
  rollouts: number;
  klCoef: number;
  optimizer: AdamWState;
  /** One rollout and its PPO epochs on these prompts; or, when its KL is over the target, the stop (no update). */
  rolloutStep(prompts: number[][]): Promise<RolloutStepResult>;
  /** What a checkpoint needs besides the weights and AdamW moments to continue exactly. */
  resumeState(): PpoResumeState;
  restore(state: PpoResumeState): void;
  dispose(): void;
}

/** Counters, the adaptive β and the minibatch-shuffle RNG; rollout seeds follow from `rollouts`. */
export interface PpoResumeState {
  step: number;
  rollouts: number;
  klCoef: number;
  shuffleRngState: number;
}

interface Rollout {
  batch: CompletionBatch;
  rows: number;
  width: number; // T − 1: next-token positions
  mask: Float32Array; // (B, T−1) 1 where the predicted token is a response token the policy sampled
  oldLogp: Float32Array; // (B, T−1)
  oldValues: Float32Array; // (B, T−1)
  advantages: Float32Array;
  returns: Float32Array;
}

/** Next-token log-probs at temperature T and values, aligned (B, T−1): position j predicts token j+1. */
function logpAndValues(policy: LanguageModel, value: LanguageModel | null, batch: CompletionBatch, temperature: number): { logp: tf.Tensor2D; values: tf.Tensor2D | null } {
  const { logp } = policyLogps(policy, batch, temperature); // (B, T−1)
  if (!value) return { logp, values: null };
  const [B, T] = batch.shape;
  const ids = tf.tensor2d(batch.inputIds, [B, T], "int32");
  const attentionMask = tf.tensor2d(batch.attentionMask, [B, T], "int32");
  const scores = lmForward(value, ids, { attentionMask, logits: false }).scores as tf.Tensor2D; // (B, T)
  // the value of the state before token j+1 is read at position j (TRL: values[:, context − 1 : −1])
  return { logp, values: tf.slice(scores, [0, 0], [B, T - 1]) as tf.Tensor2D };
}

/** `decode` (token ids → text without special tokens) adds the output-health metrics (contract/kl-guard.ts). */
export function createPpoTrainer(
  models: PpoModels, config: PpoConfig,
  options: { padId: number; stopTokens: number[]; reward: RewardFn; decode?: Decode; /** The sampler; default plain generate(). A tool-running one marks inserted tokens in policyMask. */ rollout?: RolloutFn },
): PpoTrainer {
  if (models.value.config.scalarHead === "none") throw new Error("the value model needs a scalar head");
  if (!models.reference && !hasAdapters(models.policy)) throw new Error("PPO needs a reference model, or a policy with LoRA adapters (the reference is then the policy with its adapters off)");
  const reference = models.reference ?? models.policy;
  // one optimizer over both models (every weight, or only LoRA adapters and heads), names prefixed so they stay unique
  // (during the critic warm-up the update sees the value model's alone: no policy backward pass, no decay)
  const valueParams = new Map([...trainableParams(models.value)].map(([n, v]) => [`value.${n}`, v]));
  const params = new Map<string, tf.Variable>([
    ...[...trainableParams(models.policy)].map(([n, v]) => [`policy.${n}`, v] as [string, tf.Variable]),
    ...valueParams,
  ]);
  const optimizer = createAdamW(params);
  let rng: Rng = createRng(config.seed);
  const stop = new Set(options.stopTokens);
  const sample = options.rollout ?? plainRollout;
  const guarding = config.klTarget !== null && config.klControl === "early_stop";
  let kept: WeightSnapshot | null = null; // the last policy weights whose rollout KL was under the target

  const trainer: PpoTrainer = {
    step: 0,
    rollouts: 0,
    klCoef: config.klCoef,
    optimizer,

    async rolloutStep(prompts) {
      const T_ = config.temperature;
      // 1. sample responses from the full distribution (top-k 0, top-p 1) at temperature T; the
      //    reward model reads each whole, tool results included, and the rest reads policy tokens only
      const sampled = await sample(models.policy, prompts, {
        maxNewTokens: config.responseLength, temperature: T_, padId: options.padId, stopTokens: options.stopTokens,
        seed: (config.seed + trainer.rollouts * 7919) >>> 0,
      });
      const responses = sampled.completions;
      const policyMask = policyMaskOf(sampled);
      const { batch, width: W, lossMask: mask } = collateRollout(prompts, responses, policyMask, options.padId);
      const B = batch.shape[0];

      // 2. old log-probs, reference log-probs and values, no gradient; all at temperature T
      //    (read awaited, so PPO runs on webgpu too: trainer-035)
      const passes = tf.tidy(() => {
        const cur = logpAndValues(models.policy, models.value, batch, T_);
        const ref = withAdaptersOff(reference, () => logpAndValues(reference, null, batch, T_));
        return { oldLogp: cur.logp, refLogp: ref.logp, oldValues: cur.values as tf.Tensor2D };
      });
      const oldLogp = await readAndDispose(passes.oldLogp);
      const refLogp = await readAndDispose(passes.refLogp);
      const oldValues = await readAndDispose(passes.oldValues);
      for (let i = 0; i < B * W; i++) if (!mask[i]) oldValues[i] = 0;

      // 3. scores, with the missing-EOS penalty
      const scored = await options.reward(prompts, responses, policyMask);
      const scores = Float32Array.from(scored instanceof Float32Array ? scored : scored.scores);
      const rewardMetrics = scored instanceof Float32Array ? {} : (scored.metrics ?? {});
      const bad = scores.findIndex((x) => !Number.isFinite(x));
      if (scores.length !== B || bad >= 0) throw new Error(`PPO rollout ${trainer.rollouts + 1}: the reward ${scores.length !== B ? `gave ${scores.length} scores for ${B} responses` : `of response ${bad + 1} is ${scores[bad]}`}; nothing was updated`);
      // ended on a stop token of its own accord: with tools, a row cut after its calls (no room for the results) ends
      // on the end of a turn too, but unfinished
      const hasEos = responses.map((r, b) => sampled.finished[b] === true && r.length > 0 && stop.has(r[r.length - 1] ?? -1));
      if (config.missingEosPenalty !== null) hasEos.forEach((ok, b) => { if (!ok) scores[b] = (scores[b] ?? 0) - (config.missingEosPenalty ?? 0); });

      // 4. per-token rewards: −β·KL_t (k1) everywhere, plus the score on the last response token
      const kl = new Float32Array(B * W);
      let rewards: Float32Array = new Float32Array(B * W);
      const klPerRow = new Float32Array(B);
      for (let b = 0; b < B; b++) {
        let last = -1;
        for (let j = 0; j < W; j++) {
          const i = b * W + j;
          if (!mask[i]) continue;
          kl[i] = (oldLogp[i] ?? 0) - (refLogp[i] ?? 0);
          klPerRow[b] = (klPerRow[b] ?? 0) + (kl[i] ?? 0);
          rewards[i] = -trainer.klCoef * (kl[i] ?? 0);
          last = i;
        }
        if (last >= 0) rewards[last] = (rewards[last] ?? 0) + (scores[b] ?? 0);
      }
      if (config.whitenRewards) rewards = maskedWhiten(rewards, mask, false);
      const meanKl = klPerRow.reduce((a, x) => a + x, 0) / B;
      // the KL guard's names (the same k1 per answer as objective/kl), on the rollout's line whether it trains or stops
      const klStderr = meanStderr(klPerRow).stderr;
      const klMetrics: Record<string, number> = {
        [KL_GUARD_METRICS.kl]: meanKl, ...(Number.isFinite(klStderr) ? { [KL_GUARD_METRICS.klStderr]: klStderr } : {}), [KL_GUARD_METRICS.samples]: B,
        ...(config.klTarget !== null ? { [KL_GUARD_METRICS.target]: config.klTarget } : {}),
      };
      if (guarding) {
        // the weights that sampled this rollout are over the target: put back the last ones under it, update nothing
        if (!(meanKl <= (config.klTarget ?? Infinity))) {
          kept ??= snapshotWeights(models.policy, trainer.step); // a resumed run over the target keeps its start
          kept.restoreInto(models.policy);
          const stop: EarlyStop = { reason: "kl_above_target", kl: meanKl, klTarget: config.klTarget ?? NaN, step: trainer.step, keptStep: kept.step };
          return { metrics: { rollout: trainer.rollouts + 1, step: trainer.step, "objective/kl": meanKl, ...klMetrics }, earlyStop: stop };
        }
        kept?.dispose();
        kept = snapshotWeights(models.policy, trainer.step);
      }

      // 5. GAE over response tokens, then whitened advantages (valid tokens only)
      const g = gae(rewards, oldValues, mask, [B, W], config.gamma, config.lam);
      const rollout: Rollout = { batch, rows: B, width: W, mask, oldLogp, oldValues, advantages: maskedWhiten(g.advantages, mask), returns: g.returns };

      // 6. PPO epochs over shuffled minibatches
      const stats = { pg: 0, vf: 0, approxkl: 0, clipfrac: 0, ratio: 0, vfClipfrac: 0, n: 0 };
      for (let epoch = 0; epoch < config.ppoEpochs; epoch++) {
        const order = shuffle(B, rng);
        for (let start = 0; start < B; start += config.miniBatchSize) {
          const rows = order.slice(start, start + config.miniBatchSize);
          const s = await ppoUpdate(rows, rollout);
          stats.pg += s.pg; stats.vf += s.vf; stats.approxkl += s.approxkl; stats.clipfrac += s.clipfrac;
          stats.ratio += s.ratio; stats.vfClipfrac += s.vfClipfrac; stats.n += 1;
        }
      }

      // 7. metrics (TRL names) and the adaptive β update (Ziegler et al. 2019)
      let entropy = 0;
      for (let i = 0; i < B * W; i++) if (mask[i]) entropy -= oldLogp[i] ?? 0;
      const meanScore = scores.reduce((a, x) => a + x, 0) / B;
      // the policy's own tokens per response: inserted tool results are not its length (as GRPO's completions/mean_length)
      const meanPolicyLength = policyMask.reduce((a, m) => a + m.reduce((n, x) => n + x, 0), 0) / B;
      const metrics: Record<string, number> = {
        rollout: trainer.rollouts + 1,
        step: trainer.step,
        "objective/kl": meanKl,
        "objective/entropy": entropy / B,
        "objective/scores": meanScore,
        "objective/non_score_reward": -trainer.klCoef * meanKl,
        "objective/rlhf_reward": meanScore - trainer.klCoef * meanKl,
        "policy/approxkl_avg": stats.approxkl / stats.n,
        "policy/clipfrac_avg": stats.clipfrac / stats.n,
        "loss/policy_avg": stats.pg / stats.n,
        "loss/value_avg": stats.vf / stats.n,
        "val/clipfrac_avg": stats.vfClipfrac / stats.n,
        "val/ratio": stats.ratio / stats.n,
        "val/num_eos_tokens": hasEos.filter(Boolean).length,
        "val/response_length": meanPolicyLength,
        kl_coef: trainer.klCoef,
        lr: learningRateAt(Math.max(0, trainer.step - 1), config.optim),
        ...rewardMetrics,
      };
      Object.assign(metrics, toolCallMetrics(toolCallsOf(sampled)), klMetrics);
      // the health of the responses
      if (options.decode) {
        const decode = options.decode;
        const answers = await Promise.all(responses.map(async (r, b) => {
          const m = policyMask[b] ?? [];
          return { text: await decode(r), answer: await finalAnswerText(r, m, decode, options.stopTokens), policyTokens: policyTokens(r, m) };
        }));
        Object.assign(metrics, healthMetrics(answers));
      } else metrics[HEALTH_METRICS.meanLength] = meanPolicyLength;
      if (config.klControl === "adaptive" && config.klTarget !== null) {
        const err = Math.min(Math.max(meanKl / config.klTarget - 1, -0.2), 0.2);
        trainer.klCoef *= 1 + (err * B) / config.klHorizon;
      }
      trainer.rollouts += 1;
      return { metrics, earlyStop: null };
    },

    resumeState: () => ({ step: trainer.step, rollouts: trainer.rollouts, klCoef: trainer.klCoef, shuffleRngState: rng.state() }),

    restore(state) {
      trainer.step = state.step;
      trainer.rollouts = state.rollouts;
      trainer.klCoef = state.klCoef;
      rng = createRng(state.shuffleRngState); // mulberry32's state is its seed
    },

    dispose() {
      disposeAdamW(optimizer);
      kept?.dispose();
      kept = null;
    },
  };

  /** One optimizer step on some rows of the rollout; its reads of the device awaited (awaitedUpdate). */
  async function ppoUpdate(rows: number[], r: Rollout): Promise<{ pg: number; vf: number; approxkl: number; clipfrac: number; ratio: number; vfClipfrac: number }> {
    const W = r.width;
    const pick = <A extends Int32Array | Float32Array>(src: A, width: number): A => pickRows(src, rows, width);
    const sub: CompletionBatch = batchRows(r.batch, rows);
    const mask = pick(r.mask, W);
    const oldLogp = pick(r.oldLogp, W);
    const oldValues = pick(r.oldValues, W);
    const advantages = pick(r.advantages, W);
    const returns = pick(r.returns, W);
    const shape: [number, number] = [rows.length, W];

    // critic warm-up: the loss is the value loss alone, over the value model's parameters (the policy's loss is still
    // computed for its metrics); AdamW's step count is shared, so the policy's first updates afterwards are bias-corrected
    // by the whole run's count (trainer-036)
    const warmingUp = trainer.rollouts < config.criticWarmupRollouts;
    const { reads } = await awaitedUpdate({ params: warmingUp ? valueParams : params, state: optimizer, optim: config.optim, step: trainer.step, what: "PPO" }, (keep) => {
      const { logp, values } = logpAndValues(models.policy, models.value, sub, config.temperature); // (b, W) each
      const m = tf.tensor2d(mask, shape);
      const pg = ppoPolicyLoss(logp, tf.tensor2d(oldLogp, shape), tf.tensor2d(advantages, shape), m, config.cliprange);
      const vf = ppoValueLoss(values as tf.Tensor2D, tf.tensor2d(oldValues, shape), tf.tensor2d(returns, shape), m, config.cliprangeValue);
      [logp, values as tf.Tensor2D, pg, vf].forEach(keep);
      const valueTerm = tf.mul(config.vfCoef, vf);
      return (warmingUp ? valueTerm : tf.add(pg, valueTerm)) as tf.Scalar;
    });
    const [newLogp = new Float32Array(0), newValues = new Float32Array(0), pgLoss = new Float32Array(0), vfLoss = new Float32Array(0)] = reads;
    trainer.step += 1;

    const s = ppoPolicyStats(newLogp, oldLogp, advantages, mask, config.cliprange);
    let clippedValues = 0;
    let valid = 0;
    for (let i = 0; i < mask.length; i++) {
      if (!mask[i]) continue;
      valid += 1;
      const v = newValues[i] ?? 0;
      const lo = (oldValues[i] ?? 0) - config.cliprangeValue;
      const hi = (oldValues[i] ?? 0) + config.cliprangeValue;
      const vc = Math.min(Math.max(v, lo), hi);
      if ((vc - (returns[i] ?? 0)) ** 2 > (v - (returns[i] ?? 0)) ** 2) clippedValues += 1;
    }
    return { pg: pgLoss[0] ?? NaN, vf: vfLoss[0] ?? NaN, approxkl: s["policy/approxkl"], clipfrac: s["policy/clipfrac"], ratio: s["val/ratio"], vfClipfrac: clippedValues / Math.max(valid, 1) };
  }

  return trainer;
}

function shuffle(n: number, rng: Rng): number[] {
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rng.next() * (i + 1));
    [order[i], order[j]] = [order[j] ?? 0, order[i] ?? 0];
  }
  return order;
}
