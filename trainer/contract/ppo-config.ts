// PPO run configuration. Defaults follow TRL's PPOConfig (trl/experimental/ppo) and the
// "N+ implementation details" TL;DR recipe, except the learning rate (tiny models need more).
import { z } from "zod";
import { optimConfigWith, tieTotalSteps } from "./optim-config.ts";
import { checkpointCadence } from "./checkpoint-cadence.ts";
import { klControlSchema, klTargetSchema } from "./kl-guard.ts";

export const ppoConfigSchema = z
  .strictObject({
    /** Prompts per rollout. */
    rolloutBatchSize: z.number().int().positive().default(16),
    /** Rows per optimizer step inside a PPO epoch. */
    miniBatchSize: z.number().int().positive().default(8),
    /** Passes over each rollout, reshuffled every time (TRL: 4). */
    ppoEpochs: z.number().int().positive().default(4),
    /** Rollouts to run. */
    rollouts: z.number().int().positive().default(50),
    /** Most tokens a response may have (TRL response_length 53). */
    responseLength: z.number().int().positive().default(53),
    /** Sampling temperature, re-applied whenever log-probs are recomputed (TRL 0.7). */
    temperature: z.number().positive().default(0.7),
    /** β of the per-token KL penalty (k1 estimator) in the reward (TRL 0.05). */
    klCoef: z.number().nonnegative().default(0.05),
    /**
     * KL per answer (nats) of the rollouts' own samples: "early_stop" ends training when a rollout's KL is over it and
     * keeps the last weights under it, as DPO, KTO, GRPO and RLOO do (decision 0066); "adaptive" steers β toward it
     * instead (Ziegler et al. 2019; over `klHorizon` samples, so it moves β slowly); null = neither, a fixed β.
     */
    klTarget: klTargetSchema,
    klControl: klControlSchema,
    klHorizon: z.number().positive().default(10000),
    cliprange: z.number().positive().default(0.2),
    cliprangeValue: z.number().positive().default(0.2),
    vfCoef: z.number().nonnegative().default(0.1),
    gamma: z.number().min(0).max(1).default(1),
    lam: z.number().min(0).max(1).default(0.95),
    /** Subtracted from the score of a response that never produced a stop token; null = off. */
    missingEosPenalty: z.number().nonnegative().nullable().default(null),
    /** Whiten the per-token rewards (without shifting their mean) before GAE (TRL default off). */
    whitenRewards: z.boolean().default(false),
    /**
     * Rollouts at the start whose updates train the value model only (OpenRLHF's freezing_actor_steps): the value model
     * starts as the reward model, whose per-token values are untrained, so the first advantages are mostly its error.
     * Off by default: it helped in one run of 20-rollout rounds and not when repeated, nor in 50-rollout ones (trainer-036).
     */
    criticWarmupRollouts: z.number().int().nonnegative().default(0),
    seed: z.number().int().nonnegative().default(0),
    /** Counted in rollouts here. */
    ...checkpointCadence,
    // one AdamW over policy and value parameters, as TRL's PolicyAndValueWrapper
    optim: optimConfigWith({ lr: 1e-4, minLr: 1e-5, warmupSteps: 0, weightDecay: 0 }),
  })
  .refine((c) => c.criticWarmupRollouts < c.rollouts, {
    message: "criticWarmupRollouts must be fewer than rollouts: the policy trains only after the warm-up",
    path: ["criticWarmupRollouts"],
  })
  .refine((c) => c.klControl !== "adaptive" || (c.klCoef > 0 && c.klTarget !== null), {
    message: "klControl 'adaptive' steers β toward klTarget: it needs klCoef > 0 and a klTarget",
    path: ["klControl"],
  })
  // optimizer steps = rollouts × epochs × minibatches per epoch (see ppo-trainer.ts step 6)
  .transform((c) => tieTotalSteps(c, c.rollouts * c.ppoEpochs * Math.ceil(c.rolloutBatchSize / c.miniBatchSize)));

export type PpoConfig = z.output<typeof ppoConfigSchema>;
export type PpoConfigInput = z.input<typeof ppoConfigSchema>;
