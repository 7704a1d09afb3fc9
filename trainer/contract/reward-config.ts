// Reward-model run configuration. Defaults: TRL's RewardConfig unless noted.
import { z } from "zod";
import { optimConfigSchema } from "./optim-config.ts";

export const rewardConfigSchema = z.strictObject({
  /** Prompts (each with its K ranked completions) per optimizer step. */
  batchSize: z.number().int().positive().default(8),
  /** About one epoch: more overfits scarce labels (Ziegler et al. 2019). */
  steps: z.number().int().positive().default(100),
  seed: z.number().int().nonnegative().default(0),
  maxLength: z.number().int().positive().default(512),
  /** c in c·mean((r_chosen + r_rejected)²); TRL default off, 0.01 recommended (arXiv 2312.09244). */
  centerCoefficient: z.number().nonnegative().default(0),
  optim: optimConfigSchema.default({
    lr: 1e-4, minLr: 0, warmupSteps: 10, totalSteps: 100, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0, gradClip: 1, gradAccumSteps: 1,
  }),
});

export type RewardConfig = z.output<typeof rewardConfigSchema>;
export type RewardConfigInput = z.input<typeof rewardConfigSchema>;
