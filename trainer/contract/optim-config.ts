// Optimiser and schedule configuration (AdamW + warmup/cosine + clipping + accumulation).
// Defaults follow nanoGPT's train.py unless noted; each trainer overrides some of them with
// `optimConfigWith(...)`, field by field, so `"optim": {"lr": 1e-5}` keeps that trainer's other
// defaults rather than falling back to nanoGPT's pretraining ones.
import { z } from "zod";

/** Every setting except `totalSteps`, which follows the run's length (see `tieTotalSteps`). */
export interface OptimDefaults {
  lr: number;
  minLr: number;
  warmupSteps: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  gradClip: number;
  gradAccumSteps: number;
}

export const NANOGPT_OPTIM_DEFAULTS: OptimDefaults = {
  lr: 6e-4, minLr: 6e-5, warmupSteps: 100, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradClip: 1.0, gradAccumSteps: 1,
};

/** The optim schema with one trainer's defaults. A missing `optim` object gets all of them too. */
export function optimConfigWith(overrides: Partial<OptimDefaults> = {}) {
  const d = { ...NANOGPT_OPTIM_DEFAULTS, ...overrides };
  return z
    .strictObject({
      /** Peak learning rate. nanoGPT: 6e-4 for GPT-2 pretraining; RLHF stages use far less (TRL DPO 1e-6). */
      lr: z.number().positive().default(d.lr),
      /** Floor of the cosine decay; nanoGPT uses lr/10. */
      minLr: z.number().nonnegative().default(d.minLr),
      /** Linear warmup steps (optimizer steps, not micro-batches). */
      warmupSteps: z.number().int().nonnegative().default(d.warmupSteps),
      /**
       * Optimizer step at which the cosine reaches minLr. Unset: the run's last step, so the schedule
       * ends where the run does (nanoGPT's lr_decay_iters ≈ max_iters). A fixed default (it was 5000)
       * left short runs at full lr and long ones at the floor.
       */
      totalSteps: z.number().int().positive().optional(),
      beta1: z.number().min(0).max(1).default(d.beta1),
      /** 0.95 as in nanoGPT/minGPT: steadier for small batches than PyTorch's 0.999. */
      beta2: z.number().min(0).max(1).default(d.beta2),
      /** Explicit: tfjs would otherwise use backend.epsilon() (1e-7 fp32, larger on 16-bit). PyTorch's 1e-8. */
      eps: z.number().positive().default(d.eps),
      /** Decoupled weight decay, applied only to ≥2-D weights (matrices and embeddings). */
      weightDecay: z.number().nonnegative().default(d.weightDecay),
      /** Global-norm gradient clipping; 0 disables. */
      gradClip: z.number().nonnegative().default(d.gradClip),
      /** Micro-batches whose gradients are averaged into one optimizer step. */
      gradAccumSteps: z.number().int().positive().default(d.gradAccumSteps),
    })
    .prefault({});
}

export const optimConfigSchema = optimConfigWith();

/** After `tieTotalSteps`, every field is set. */
export type OptimConfig = Omit<z.output<typeof optimConfigSchema>, "totalSteps"> & { totalSteps: number };
export type OptimConfigInput = z.input<typeof optimConfigSchema>;

/**
 * Fills an unset `optim.totalSteps` with the run's optimizer steps. Used as the last (transform)
 * step of each trainer config schema, so trainers and checkpoints only ever see a number.
 */
export function tieTotalSteps<C extends { optim: z.output<typeof optimConfigSchema> }>(config: C, steps: number): Omit<C, "optim"> & { optim: OptimConfig } {
  return { ...config, optim: { ...config.optim, totalSteps: config.optim.totalSteps ?? steps } };
}
