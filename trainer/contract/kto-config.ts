// KTO run configuration. Defaults: TRL 1.x's KTOConfig, except the learning rate (tiny models need
// more than TRL's 1e-6, but less than DPO's 1e-4: measured, see below) and Tandem's sampled KL guard.
import { z } from "zod";
import { optimConfigWith, tieTotalSteps } from "./optim-config.ts";
import { checkpointCadence } from "./checkpoint-cadence.ts";
import { klCheckSchema, klTargetSchema } from "./kl-guard.ts";

export const ktoConfigSchema = z
  .strictObject({
    /** β of the implicit reward β·log π/π_ref (TRL 0.1). */
    beta: z.number().positive().default(0.1),
    /**
     * λ_D and λ_U. With unbalanced labels, Ethayarajh et al. 2024 Eq. 8 suggests
     * λ_D·n_D / (λ_U·n_U) ∈ [1, 4/3]; the job's start line reports the counts.
     */
    desirableWeight: z.number().positive().default(1),
    undesirableWeight: z.number().positive().default(1),
    /**
     * Labelled answers per optimizer step (TRL 8). The KL reference point is estimated from the same
     * batch's answers paired with other prompts, so a batch needs at least two.
     */
    batchSize: z.number().int().min(2).default(8),
    steps: z.number().int().positive().default(100),
    seed: z.number().int().nonnegative().default(0),
    /** Longest prompt + answer; longer records are reported, not dropped (TRL 1024). */
    maxLength: z.number().int().positive().default(512),
    /** KL per answer (nats) at which training stops; see contract/kl-guard.ts. */
    klTarget: klTargetSchema,
    klCheck: klCheckSchema,
    ...checkpointCadence,
    // TRL: lr 1e-6 for billion-parameter models. 3e-5, measured with `npm run bench:loop` on the arithmetic
    // task (docs/benchmarks.md, issue 11): 1e-4 reached 6.81 and 1.90 nats and lowered the checker in two
    // runs (utility +0.01, −0.01); 3e-5 gained +0.07 utility in both of its runs at 0.22 and 0.34 nats.
    // No weight decay, so the policy stays near the reference (as DPO).
    optim: optimConfigWith({ lr: 3e-5, minLr: 3e-6, warmupSteps: 10, weightDecay: 0 }),
  })
  .transform((c) => tieTotalSteps(c, c.steps));

export type KtoConfig = z.output<typeof ktoConfigSchema>;
export type KtoConfigInput = z.input<typeof ktoConfigSchema>;
