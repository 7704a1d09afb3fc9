// DPO run configuration. Defaults: TRL's DPOConfig, except the learning rate (tiny models need more) and DPOP's λ.
import { z } from "zod";
import { optimConfigWith, tieTotalSteps } from "./optim-config.ts";
import { checkpointCadence } from "./checkpoint-cadence.ts";
import { klCheckSchema, klTargetSchema } from "./kl-guard.ts";

export const dpoConfigSchema = z
  .strictObject({
    /** Strength of the implicit KL penalty; TRL and the paper use 0.1 (0.5 for TL;DR). */
    beta: z.number().positive().default(0.1),
    lossType: z.enum(["sigmoid", "hinge", "ipo"]).default("sigmoid"),
    /** Assumed label-noise rate (cDPO / robust DPO); 0 = plain DPO. */
    labelSmoothing: z.number().min(0).max(0.5).default(0),
    /**
     * RPO's α (TRL rpo_alpha; Pang et al. 2024 recommend 1): adds α × the chosen answers' NLL per token, so
     * the preferred answer's likelihood rises instead of both answers falling. 0 = plain DPO.
     */
    rpoAlpha: z.number().min(0).max(10).default(0),
    /**
     * DPOP's λ (Pal et al. 2024, "DPO-Positive"; the paper uses 50): how much a fall of the chosen answer's
     * log-probability below the reference's counts against the margin. 0 = plain DPO (TRL's loss). Default 1,
     * measured (trainer-027): on the loop bench's arithmetic task, the same utility gain as plain DPO over three
     * seeds at a third of the KL, without plain DPO's loss of right answers and tool calls.
     */
    dpopLambda: z.number().min(0).max(1000).default(1),
    /** Preference pairs per optimizer step. */
    batchSize: z.number().int().positive().default(8),
    steps: z.number().int().positive().default(100),
    seed: z.number().int().nonnegative().default(0),
    /** Longest prompt + completion; longer pairs are reported, not silently dropped. */
    maxLength: z.number().int().positive().default(512),
    /** KL per answer (nats) at which training stops; DPO does not sample, so a periodic check measures it (contract/kl-guard.ts). */
    klTarget: klTargetSchema,
    klCheck: klCheckSchema,
    ...checkpointCadence,
    // TRL: lr 1e-6 for billion-parameter models; no weight decay so the policy stays near the reference.
    optim: optimConfigWith({ lr: 1e-4, minLr: 1e-5, warmupSteps: 10, weightDecay: 0 }),
  })
  .transform((c) => tieTotalSteps(c, c.steps));

export type DpoConfig = z.output<typeof dpoConfigSchema>;
export type DpoConfigInput = z.input<typeof dpoConfigSchema>;
