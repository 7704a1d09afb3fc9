// Periodic checkpoints, shared by the SFT/pretrain, reward and DPO configs.
import { z } from "zod";

export const checkpointCadence = {
  /** Also save a checkpoint under <out>/checkpoints/step-<N> every this many steps (0: only the final one in <out>). */
  checkpointEvery: z.number().int().nonnegative().default(0),
  /** Periodic checkpoints kept on disk, newest first; older ones are deleted (0: keep all). */
  keepCheckpoints: z.number().int().nonnegative().default(2),
};
