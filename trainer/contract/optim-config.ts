// Optimiser and schedule configuration (AdamW + warmup/cosine + clipping + accumulation).
// Defaults follow nanoGPT's train.py unless noted.
import { z } from "zod";

export const optimConfigSchema = z.strictObject({
  /** Peak learning rate. nanoGPT: 6e-4 for GPT-2 pretraining; RLHF stages use far less (TRL DPO 1e-6). */
  lr: z.number().positive().default(6e-4),
  /** Floor of the cosine decay; nanoGPT uses lr/10. */
  minLr: z.number().nonnegative().default(6e-5),
  /** Linear warmup steps (optimizer steps, not micro-batches). */
  warmupSteps: z.number().int().nonnegative().default(100),
  /** Step at which the cosine reaches minLr. */
  totalSteps: z.number().int().positive().default(5000),
  beta1: z.number().min(0).max(1).default(0.9),
  /** 0.95 as in nanoGPT/minGPT: steadier for small batches than PyTorch's 0.999. */
  beta2: z.number().min(0).max(1).default(0.95),
  /** Explicit: tfjs would otherwise use backend.epsilon() (1e-7 fp32, larger on 16-bit). PyTorch's 1e-8. */
  eps: z.number().positive().default(1e-8),
  /** Decoupled weight decay, applied only to ≥2-D weights (matrices and embeddings). */
  weightDecay: z.number().nonnegative().default(0.1),
  /** Global-norm gradient clipping; 0 disables. */
  gradClip: z.number().nonnegative().default(1.0),
  /** Micro-batches whose gradients are averaged into one optimizer step. */
  gradAccumSteps: z.number().int().positive().default(1),
});

export type OptimConfig = z.output<typeof optimConfigSchema>;
export type OptimConfigInput = z.input<typeof optimConfigSchema>;
