// SFT run configuration. Defaults are for the small models this trainer targets on CPU.
import { z } from "zod";
import { optimConfigSchema } from "./optim-config.ts";

export const sftConfigSchema = z.strictObject({
  /** Conversations per optimizer step (split into optim.gradAccumSteps micro-batches). */
  batchSize: z.number().int().positive().default(8),
  /** Optimizer steps to run. */
  steps: z.number().int().positive().default(200),
  /** Seed of the data order (and of the model init when training from scratch). */
  seed: z.number().int().nonnegative().default(0),
  /** Save a checkpoint every this many steps (0: only at the end). */
  checkpointEvery: z.number().int().nonnegative().default(0),
  // TRL's SFT default lr is 2e-5 for pretrained billions-parameter models; tiny models need more.
  optim: optimConfigSchema.default({
    lr: 1e-3, minLr: 1e-4, warmupSteps: 10, totalSteps: 200, beta1: 0.9, beta2: 0.95, eps: 1e-8, weightDecay: 0.1, gradClip: 1, gradAccumSteps: 1,
  }),
});

export type SftConfig = z.output<typeof sftConfigSchema>;
export type SftConfigInput = z.input<typeof sftConfigSchema>;
