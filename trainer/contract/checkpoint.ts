// Checkpoint manifest: what a checkpoint directory holds besides its weight files.
import { z } from "zod";
import { gptConfigSchema } from "./gpt-config.ts";

export const checkpointManifestSchema = z.strictObject({
  schemaVersion: z.literal(1),
  /** Training steps (optimizer updates) completed. */
  step: z.number().int().nonnegative(),
  /** AdamW's t (equals step unless the optimizer was reset). */
  optimizerStep: z.number().int().nonnegative(),
  /** Data-order / sampling RNG state to resume exactly. */
  rngState: z.number().int().nonnegative(),
  modelConfig: gptConfigSchema,
  /** The trainer's config, stored as given (each trainer validates its own). */
  trainConfig: z.record(z.string(), z.unknown()),
  /** sha256 of tokenizer.json, or null when the model was trained on raw ids. */
  tokenizerHash: z.string().nullable(),
  files: z.strictObject({ model: z.string(), optimizer: z.string().nullable() }),
  metrics: z.record(z.string(), z.number()).default({}),
  /** The job kind that wrote it (pretrain, sft, reward, dpo, ...); absent in older checkpoints. */
  kind: z.string().optional(),
  /** sha256 of the tokenized training examples, so a resume on other data is refused. */
  dataHash: z.string().optional(),
  /** Further numbers a trainer needs to resume exactly (PPO: rollouts, adaptive β, RNG states). */
  resumeState: z.record(z.string(), z.number()).optional(),
});

export type CheckpointManifest = z.output<typeof checkpointManifestSchema>;
