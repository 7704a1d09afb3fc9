// GRPO run configuration. Defaults follow TRL 1.x's GRPOConfig except where noted (tiny models on a
// CPU, and Tandem's KL guard); each exception says why.
import { z } from "zod";
import { optimConfigWith, tieTotalSteps } from "./optim-config.ts";
import { checkpointCadence } from "./checkpoint-cadence.ts";
import { klControlSchema, klTargetSchema } from "./kl-guard.ts";

/**
 * What GRPO and RLOO share: groups of samples per prompt, iterations over each batch of rollouts, the
 * KL to the frozen reference and its guard. Kept word for word in both schemas.
 */
export const groupRolloutFields = {
  /** Distinct prompts per rollout; each is answered numGenerations times. */
  promptsPerRollout: z.number().int().positive().default(8),
  /**
   * G, samples per prompt (the group). TRL: GRPO 8, RLOO 2. 8 for both: a checker's 0/1 reward needs
   * groups that hold both outcomes, and small groups of a weak model are mostly all-wrong (no signal).
   */
  numGenerations: z.number().int().min(2).max(64).default(8),
  /** Rollouts to run (each: sample, score, numIterations passes of updates). */
  rollouts: z.number().int().positive().default(50),
  /** μ, passes over each batch of rollouts, reshuffled every time (TRL num_iterations 1). */
  numIterations: z.number().int().positive().default(1),
  /** Samples per optimizer step within a pass; null = the whole rollout in one step. */
  miniBatchSize: z.number().int().positive().nullable().default(null).meta({ blank: "the whole rollout" }),
  /** Most tokens an answer may have, tool results included (TRL 512; the models here have small contexts). */
  maxCompletionLength: z.number().int().positive().default(64),
  /**
   * DAPO's dynamic sampling (Yu et al. 2025, §3.2): a group whose answers all score alike has advantage 0 and teaches
   * nothing, so further prompt batches are sampled until promptsPerRollout groups hold mixed rewards, and only those
   * train. Costs up to maxSamplingBatches times the sampling of a rollout. Off by default (TRL has no such option).
   */
  dynamicSampling: z.boolean().default(false),
  /** With dynamicSampling: most prompt batches sampled per rollout (verl's max_num_gen_batches); a rollout short of mixed groups trains on those it has. */
  maxSamplingBatches: z.number().int().min(1).max(16).default(3),
  /** Sampling temperature, re-applied to every log-prob (TRL 1.0: the full distribution, no top-k/top-p). */
  temperature: z.number().positive().default(1),
  /** Lower clip ε of the ratio (TRL 0.2). */
  epsilon: z.number().positive().max(1).default(0.2),
  /** Upper clip ε; null = epsilon (DAPO's clip-higher recommends 0.28). */
  epsilonHigh: z.number().positive().nullable().default(null).meta({ blank: "= epsilon" }),
  /** KL per answer (nats) that stops training or steers β; see contract/kl-guard.ts. */
  klTarget: klTargetSchema,
  /** "early_stop": stop and keep the last weights under klTarget; "adaptive": steer β toward klTarget (needs β > 0). */
  klControl: klControlSchema,
  /**
   * Horizon of the adaptive β (Ziegler et al. 2019), in samples: β ← β·(1 + clip(KL/target − 1, ±0.2)·n/horizon).
   * PPO uses 10000 (legacy TRL); runs here are a few thousand samples long, so 1000 lets β move.
   */
  klHorizon: z.number().positive().default(1000),
  seed: z.number().int().nonnegative().default(0),
  /** Counted in rollouts (checkpoints/rollout-N), as PPO. */
  ...checkpointCadence,
};

/** Optimizer steps per run: rollouts × iterations × minibatches per iteration. */
export function groupRolloutSteps(c: { rollouts: number; numIterations: number; promptsPerRollout: number; numGenerations: number; miniBatchSize: number | null }): number {
  const rows = c.promptsPerRollout * c.numGenerations;
  return c.rollouts * c.numIterations * Math.ceil(rows / Math.min(c.miniBatchSize ?? rows, rows));
}

export const grpoConfigSchema = z
  .strictObject({
    ...groupRolloutFields,
    /**
     * β of the k3 KL term in the loss. TRL 1.x: 0 (no reference model); Shao et al. 2024 (DeepSeekMath)
     * 0.04. Tandem keeps the reference: the KL guard measures against it anyway, and a policy that
     * stays near the SFT model keeps its readable text (issue 11).
     */
    beta: z.number().nonnegative().default(0.04),
    /**
     * Loss aggregation (TRL loss_type): "dapo" (TRL default) Σ over policy tokens / policy tokens of the
     * optimizer step; "grpo" mean per answer, then over answers; "dr_grpo" Σ / (answers · maxCompletionLength).
     */
    lossType: z.enum(["dapo", "grpo", "dr_grpo"]).default("dapo"),
    /** Advantage scaling (TRL scale_rewards): by the group's std (default), the batch's, or none (Dr. GRPO). */
    scaleRewards: z.enum(["group", "batch", "none"]).default("group"),
    // TRL: 1e-6 for billion-parameter models; the tiny models here need more (PPO's 1e-4).
    optim: optimConfigWith({ lr: 1e-4, minLr: 1e-5, warmupSteps: 0, weightDecay: 0 }),
  })
  .refine((c) => c.klControl !== "adaptive" || (c.beta > 0 && c.klTarget !== null), {
    message: "klControl 'adaptive' steers β toward klTarget: it needs beta > 0 and a klTarget",
    path: ["klControl"],
  })
  .transform((c) => tieTotalSteps(c, groupRolloutSteps(c)));

export type GrpoConfig = z.output<typeof grpoConfigSchema>;
export type GrpoConfigInput = z.input<typeof grpoConfigSchema>;
