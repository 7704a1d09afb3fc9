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
     * log-probability below the reference's counts against the margin. 0 = plain DPO (TRL's loss). Unset, a round
     * chooses it at launch (dpopLambdaFor): 0.3, or 10 when the policy it trains was taught by an RL step (decisions
     * 0064, 0068); a trainer run without a round takes 0.3. Measured on the 6x192 arithmetic policy: from SFT, λ 0.3
     * closes more of the preference headroom than λ 1 and keeps as many right answers; after GRPO, λ 1 loses right
     * answers and λ 10 keeps them.
     */
    dpopLambda: z.number().min(0).max(1000).optional().meta({ blank: "auto" }),
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

/**
 * DPOP's λ when the round leaves it unset (decisions 0064, 0068). A policy taught by GRPO, RLOO or PPO has learned
 * what a checker or reward model rewards; people's rankings of its answers mostly differ in style, and at λ 1 DPO
 * spent right answers on that style (loop bench, fifteenth and sixteenth runs), while λ 10 kept them. From an SFT
 * policy, λ 0.3 let DPO move the style further than λ 1 with about as many right answers, at 1.3–2.7 nats
 * (twenty-fourth run).
 */
export const DPOP_LAMBDA = { default: 0.3, afterRl: 10 } as const;

/** The λ a DPO step trains with: the one given, else the default for a policy with or without an RL step behind it. */
export const dpopLambdaFor = (given: number | undefined, rlBehind: boolean): number => given ?? (rlBehind ? DPOP_LAMBDA.afterRl : DPOP_LAMBDA.default);
