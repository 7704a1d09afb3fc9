// GPT model configuration: the trainer's public schema (imported by the web app; zod only).
//
// Exactly one of `preset` or explicit dimensions (minGPT's XOR rule); a preset may still override
// the vocabulary and context length, because both follow the tokenizer and data, not the model size.
import { z } from "zod";

export const SCALAR_HEADS = ["none", "reward", "value"] as const;

const dims = {
  /** Tokenizer vocabulary size, special tokens included. */
  vocabSize: z.number().int().min(2),
  /** Longest sequence (learned position table size). */
  blockSize: z.number().int().min(1),
  nLayer: z.number().int().min(1),
  nHead: z.number().int().min(1),
  nEmbd: z.number().int().min(1),
};

export const GPT_PRESETS = {
  // ≈0.9M parameters: the tfjs-notes spike model; a training step takes well under a second on wasm.
  nano: { vocabSize: 512, blockSize: 128, nLayer: 4, nHead: 4, nEmbd: 128 },
  // ≈11.5M parameters: the largest size that trains in minutes on a 2-core CPU.
  micro: { vocabSize: 2048, blockSize: 256, nLayer: 6, nHead: 6, nEmbd: 384 },
  // 124M: Hugging Face `gpt2`, so its weights can be loaded as a base policy.
  gpt2: { vocabSize: 50257, blockSize: 1024, nLayer: 12, nHead: 12, nEmbd: 768 },
} as const satisfies Record<string, { vocabSize: number; blockSize: number; nLayer: number; nHead: number; nEmbd: number }>;

export type GptPreset = keyof typeof GPT_PRESETS;

const common = {
  /** GPT-2 uses 1e-5. */
  layerNormEps: z.number().positive().default(1e-5),
  /** A scalar head on the final hidden state: reward model or PPO value model. */
  scalarHead: z.enum(SCALAR_HEADS).default("none"),
};

export const gptConfigInputSchema = z.union([
  z.strictObject({
    preset: z.enum(["nano", "micro", "gpt2"]),
    vocabSize: dims.vocabSize.optional(),
    blockSize: dims.blockSize.optional(),
    ...common,
  }),
  z.strictObject({ ...dims, ...common }),
]);

export const gptConfigSchema = z
  .strictObject({ ...dims, ...common })
  .refine((c) => c.nEmbd % c.nHead === 0, { message: "nEmbd must be divisible by nHead" });

export type GptConfigInput = z.input<typeof gptConfigInputSchema>;
export type GptConfig = z.output<typeof gptConfigSchema>;

/** Validates input (preset or dims) and returns the full configuration. */
export function resolveGptConfig(input: GptConfigInput): GptConfig {
  const parsed = gptConfigInputSchema.parse(input);
  if ("preset" in parsed) {
    const { preset, vocabSize, blockSize, ...rest } = parsed;
    const base = GPT_PRESETS[preset];
    return gptConfigSchema.parse({ ...base, vocabSize: vocabSize ?? base.vocabSize, blockSize: blockSize ?? base.blockSize, ...rest });
  }
  return gptConfigSchema.parse(parsed);
}
