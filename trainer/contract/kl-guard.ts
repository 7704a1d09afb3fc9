// KL guards and output-health metrics: the settings every preference/RL trainer takes (DPO, KTO,
// PPO, GRPO, RLOO) and the names of what they report. Zod only, so the web
// app and the server's round report can import the names.
//
// What a job's JSON lines carry (all "metrics" lines also carry `step`):
//
//   kl_guard/kl          KL(π‖π_ref) in nats per answer: the mean over sampled answers of
//                        Σ_t (log π(y_t) − log π_ref(y_t)) over the tokens the policy sampled (k1,
//                        unbiased for the sequence KL; tool results are not the policy's and are left
//                        out). GRPO/RLOO (and PPO, = its objective/kl): every rollout, from the
//                        rollout's own samples, before its update. DPO/KTO: every `klCheck.every`
//                        steps and at the last step, from `klCheck.samples` fresh answers to
//                        training prompts (temperature 1, full distribution, the same seed each
//                        time so checks compare like with like).
//   kl_guard/kl_stderr   its standard error over the answers
//   kl_guard/samples     answers it was measured on
//   kl_guard/target      `klTarget`, when one is set
//   beta                 GRPO/RLOO: the KL coefficient in use (moves when klControl is "adaptive")
//   health/undecodable_frac   share of sampled answers whose text holds U+FFFD (bytes that are not UTF-8)
//   health/repeat_loop_frac   share ending in a repeated-token loop (a pattern of ≤ 6 tokens, ≥ 3 times, ≥ 12 tokens)
//   health/empty_frac         share whose final answer is empty (only whitespace, or the end token at once)
//   health/mean_length        mean answer length in policy tokens
// Health metrics come with every kl_guard measurement (DPO/KTO: at checks; GRPO/RLOO/PPO: every rollout).
//
//   {"type": "early_stop", "reason": "kl_above_target", "kl": 7.2, "klTarget": 6, "step": 60,
//    "keptStep": 40, "dir": "<out>"}
// is emitted when a measured KL exceeds the target under klControl "early_stop" (GRPO, RLOO and PPO's
// default; DPO and KTO always stop): training ends, the weights of the last measurement under the target (step `keptStep`; the
// initial policy when none passed) are restored and written as the final checkpoint in `dir`, and the
// "done" line carries `earlyStop: true`.
import { z } from "zod";

export const KL_GUARD_METRICS = {
  kl: "kl_guard/kl",
  klStderr: "kl_guard/kl_stderr",
  samples: "kl_guard/samples",
  target: "kl_guard/target",
} as const;

export const HEALTH_METRICS = {
  undecodable: "health/undecodable_frac",
  repeatLoop: "health/repeat_loop_frac",
  empty: "health/empty_frac",
  meanLength: "health/mean_length",
} as const;

/** A loop: the answer ends in a short token pattern repeated (trainer/eval/answer-health.ts, endsInLoop). */

export const EARLY_STOP_EVENT = "early_stop";
export const earlyStopEventSchema = z.looseObject({
  type: z.literal(EARLY_STOP_EVENT),
  reason: z.literal("kl_above_target"),
  /** The KL that was over the target (nats per answer). */
  kl: z.number(),
  klTarget: z.number(),
  /** The optimizer step at which it was measured. */
  step: z.number().int().nonnegative(),
  /** The step of the weights kept as the final checkpoint (the last measurement under the target). */
  keptStep: z.number().int().nonnegative(),
});
export type EarlyStopEvent = z.output<typeof earlyStopEventSchema>;

/**
 * KL per answer (nats) above which training stops (or, for GRPO/RLOO with klControl "adaptive",
 * toward which β is steered); null = no guard. 6 is legacy TRL's adaptive-KL target: loose enough
 * for ordinary learning on the tiny models here, and it stops runaways like the 24 nats per answer
 * a default DPO run reached before (issue 11). The defaults sweep may tighten it.
 */
export const klTargetSchema = z.number().positive().nullable().default(6);

/** DPO and KTO do not sample while they train: a periodic sampled check measures the KL. */
export const klCheckSchema = z
  .strictObject({
    /** Check every this many optimizer steps and at the last step (0 = never; klTarget is then unused). */
    every: z.number().int().nonnegative().default(25),
    /** Answers sampled per check, one per training prompt (cycling when there are fewer prompts). */
    samples: z.number().int().positive().max(1024).default(16),
    /** Longest sampled answer. */
    maxNewTokens: z.number().int().positive().default(32),
    /** Sampling seed, the same at every check. */
    seed: z.number().int().nonnegative().default(0),
  })
  .prefault({});
export type KlCheckConfig = z.output<typeof klCheckSchema>;

/** PPO/GRPO/RLOO: what the measured KL does. */
export const klControlSchema = z.enum(["early_stop", "adaptive"]).default("early_stop");
