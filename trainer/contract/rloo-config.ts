// RLOO run configuration. Defaults follow TRL 1.x's RLOOConfig except where noted; the rollout
// settings are GRPO's (grpo-config.ts, groupRolloutFields), word for word.
import { z } from "zod";
import { optimConfigWith, tieTotalSteps } from "./optim-config.ts";
import { groupRolloutFields, groupRolloutSteps } from "./grpo-config.ts";

export const rlooConfigSchema = z
  .strictObject({
    ...groupRolloutFields,
    /**
     * β of the KL penalty in the reward: r − β·Σ_t (log π_old − log π_ref) over the answer's policy
     * tokens (k1, per sequence, as Ahmadian et al. 2024 and TRL; 0.05 is TRL's default).
     */
    beta: z.number().nonnegative().default(0.05),
    /** Also whiten the leave-one-out advantages over the batch (TRL normalize_advantages, off). */
    normalizeAdvantages: z.boolean().default(false),
    // TRL: 1e-6 for billion-parameter models; the tiny models here need more (PPO's 1e-4).
    optim: optimConfigWith({ lr: 1e-4, minLr: 1e-5, warmupSteps: 0, weightDecay: 0 }),
  })
  .refine((c) => c.klControl !== "adaptive" || (c.beta > 0 && c.klTarget !== null), {
    message: "klControl 'adaptive' steers β toward klTarget: it needs beta > 0 and a klTarget",
    path: ["klControl"],
  })
  .transform((c) => tieTotalSteps(c, groupRolloutSteps(c)));

export type RlooConfig = z.output<typeof rlooConfigSchema>;
export type RlooConfigInput = z.input<typeof rlooConfigSchema>;
