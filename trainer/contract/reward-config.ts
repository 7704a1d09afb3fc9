// Reward-model run configuration. Defaults: TRL's RewardConfig unless noted.
import { z } from "zod";
import { optimConfigWith, tieTotalSteps } from "./optim-config.ts";
import { checkpointCadence } from "./checkpoint-cadence.ts";

export const rewardConfigSchema = z
  .strictObject({
    /** Prompts (each with its K ranked completions) per optimizer step. */
    batchSize: z.number().int().positive().default(8),
    /** About one epoch: more overfits scarce labels (Ziegler et al. 2019). */
    steps: z.number().int().positive().default(100),
    seed: z.number().int().nonnegative().default(0),
    maxLength: z.number().int().positive().default(512),
    /** c in c·mean((r_chosen + r_rejected)²); TRL default off, 0.01 recommended (arXiv 2312.09244). */
    centerCoefficient: z.number().nonnegative().default(0),
    ...checkpointCadence,
    optim: optimConfigWith({ lr: 1e-4, minLr: 0, warmupSteps: 10, weightDecay: 0 }),
  })
  .transform((c) => tieTotalSteps(c, c.steps));

export type RewardConfig = z.output<typeof rewardConfigSchema>;
export type RewardConfigInput = z.input<typeof rewardConfigSchema>;
