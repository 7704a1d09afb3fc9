// Checkpoint manifest: what a checkpoint directory holds besides its weight files.
import { z } from "zod";
import { gptConfigSchema } from "./gpt-config.ts";
import { llamaConfigSchema } from "./llama-config.ts";
import { loraConfigSchema } from "./lora-config.ts";

export const checkpointManifestSchema = z.strictObject({
  schemaVersion: z.literal(1),
  /** Training steps (optimizer updates) completed. */
  step: z.number().int().nonnegative(),
  /** AdamW's t (equals step unless the optimizer was reset). */
  optimizerStep: z.number().int().nonnegative(),
  /** Data-order / sampling RNG state to resume exactly. */
  rngState: z.number().int().nonnegative(),
  /** GPT-2, or a Llama-family decoder (`architecture: "llama"`). */
  modelConfig: z.union([gptConfigSchema, llamaConfigSchema]),
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
  /**
   * A model imported from Hugging Face keeps its tokenizer_config.json (chat template, special
   * tokens) and generation_config.json (EOS ids) here, so the three checkpoint files carry them.
   */
  hf: z
    .strictObject({
      tokenizerConfig: z.record(z.string(), z.unknown()).nullable(),
      generationConfig: z.record(z.string(), z.unknown()).nullable(),
    })
    .optional(),
  /**
   * An adapter checkpoint: the model file holds only LoRA adapters (PEFT names and layout) and a
   * scalar head; the base weights are the checkpoint in `<dir>/base`, else at `base` (the path
   * the trainer read it from). modelConfig is the base's.
   */
  lora: z.strictObject({ config: loraConfigSchema, base: z.string().min(1) }).optional(),
});

export type CheckpointManifest = z.output<typeof checkpointManifestSchema>;
export type HfExtras = NonNullable<CheckpointManifest["hf"]>;
