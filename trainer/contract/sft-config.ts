// SFT run configuration. Defaults are for the small models this trainer targets on CPU.
import { z } from "zod";
import { optimConfigWith, tieTotalSteps } from "./optim-config.ts";
import { checkpointCadence } from "./checkpoint-cadence.ts";

export const sftConfigSchema = z
  .strictObject({
    /** Conversations per optimizer step (split into optim.gradAccumSteps micro-batches). */
    batchSize: z.number().int().positive().default(8),
    /** Optimizer steps to run. */
    steps: z.number().int().positive().default(200),
    /** Seed of the data order (and of the model init when training from scratch). */
    seed: z.number().int().nonnegative().default(0),
    ...checkpointCadence,
    // TRL's SFT default lr is 2e-5 for pretrained billions-parameter models; tiny models need more.
    optim: optimConfigWith({ lr: 1e-3, minLr: 1e-4, warmupSteps: 10, weightDecay: 0.1 }),
  })
  .transform((c) => tieTotalSteps(c, c.steps));

export type SftConfig = z.output<typeof sftConfigSchema>;
export type SftConfigInput = z.input<typeof sftConfigSchema>;
