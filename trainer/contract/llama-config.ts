// Llama-family model configuration (Llama, SmolLM2, TinyLlama; Qwen2 with q/k/v biases): the
// trainer's public schema (zod only, imported by the web app).
//
// Field names follow GptConfig where the meaning is shared (vocabSize, blockSize, nLayer, nHead,
// nEmbd, scalarHead) so code that only needs those reads either config; `architecture: "llama"`
// tells the two apart. Hugging Face's config.json names are given beside each field.
import { z } from "zod";
import { SCALAR_HEADS } from "./gpt-config.ts";

export const LLAMA_MODEL_TYPES = ["llama", "qwen2"] as const;
export type LlamaModelType = (typeof LLAMA_MODEL_TYPES)[number];

const dims = {
  /** `model_type`: "qwen2" adds biases to q/k/v (Qwen2Attention); "llama" has them only with attentionBias. */
  modelType: z.enum(LLAMA_MODEL_TYPES).default("llama"),
  /** vocab_size */
  vocabSize: z.number().int().min(2),
  /** max_position_embeddings: the longest sequence (rotary positions have no table to outgrow). */
  blockSize: z.number().int().min(1),
  /** num_hidden_layers */
  nLayer: z.number().int().min(1),
  /** num_attention_heads */
  nHead: z.number().int().min(1),
  /** num_key_value_heads: fewer than nHead is grouped-query attention (Ainslie et al. 2023). */
  nKvHead: z.number().int().min(1),
  /** hidden_size */
  nEmbd: z.number().int().min(1),
  /** intermediate_size: width of the SwiGLU MLP. */
  intermediateSize: z.number().int().min(1),
};

const common = {
  /** head_dim; default hidden_size / num_attention_heads. */
  headDim: z.number().int().min(2).multipleOf(2).optional(),
  /** rms_norm_eps (HF's LlamaConfig default 1e-6; SmolLM2 and Qwen2 use 1e-5 / 1e-6). */
  rmsNormEps: z.number().positive().default(1e-6),
  /** rope_theta: the rotary base. */
  ropeTheta: z.number().positive().default(10000),
  /** tie_word_embeddings: the LM head is embed_tokensᵀ. */
  tieWordEmbeddings: z.boolean().default(true),
  /** attention_bias (llama only): biases on q/k/v/o_proj. */
  attentionBias: z.boolean().default(false),
  /** mlp_bias (llama only): biases on gate/up/down_proj. */
  mlpBias: z.boolean().default(false),
  scalarHead: z.enum(SCALAR_HEADS).default("none"),
};

export const LLAMA_PRESETS = {
  // ≈0.1M parameters with a 512 vocabulary: GQA (4 query heads over 2 key/value heads), for CI.
  "llama-tiny": { modelType: "llama", vocabSize: 512, blockSize: 256, nLayer: 2, nHead: 4, nKvHead: 2, nEmbd: 64, intermediateSize: 176, rmsNormEps: 1e-5, ropeTheta: 10000, tieWordEmbeddings: true },
  // HuggingFaceTB/SmolLM2-135M's shape (134,515,008 parameters): random init here, real weights via import-hf.
  "smollm2-135m": { modelType: "llama", vocabSize: 49152, blockSize: 8192, nLayer: 30, nHead: 9, nKvHead: 3, nEmbd: 576, intermediateSize: 1536, rmsNormEps: 1e-5, ropeTheta: 100000, tieWordEmbeddings: true },
} as const;

export type LlamaPreset = keyof typeof LLAMA_PRESETS;
export const LLAMA_PRESET_NAMES = Object.keys(LLAMA_PRESETS) as [LlamaPreset, ...LlamaPreset[]];

export const llamaConfigInputSchema = z.union([
  z.strictObject({
    preset: z.enum(LLAMA_PRESET_NAMES),
    vocabSize: dims.vocabSize.optional(),
    blockSize: dims.blockSize.optional(),
    scalarHead: common.scalarHead,
  }),
  z.strictObject({ architecture: z.literal("llama"), ...dims, ...common }),
]);

export const llamaConfigSchema = z
  .strictObject({ architecture: z.literal("llama"), ...dims, ...common })
  .refine((c) => c.nHead % c.nKvHead === 0, { message: "nHead must be a multiple of nKvHead (grouped-query attention)", path: ["nKvHead"] })
  .refine((c) => c.headDim !== undefined || (c.nEmbd % c.nHead === 0 && (c.nEmbd / c.nHead) % 2 === 0), {
    message: "nEmbd / nHead must be an even integer (rotary pairs), or give headDim",
    path: ["nHead"],
  });

export type LlamaConfigInput = z.input<typeof llamaConfigInputSchema>;
export type LlamaConfig = z.output<typeof llamaConfigSchema>;

/** Validates input (preset or dims) and returns the full configuration. */
export function resolveLlamaConfig(input: LlamaConfigInput): LlamaConfig {
  const parsed = llamaConfigInputSchema.parse(input);
  if ("preset" in parsed) {
    const { preset, vocabSize, blockSize, scalarHead } = parsed;
    const base = LLAMA_PRESETS[preset];
    return llamaConfigSchema.parse({ architecture: "llama", ...base, vocabSize: vocabSize ?? base.vocabSize, blockSize: blockSize ?? base.blockSize, scalarHead });
  }
  return llamaConfigSchema.parse(parsed);
}

/** Whether a model `init` (GPT-2 or Llama-family input) names a Llama-family model. */
export function isLlamaConfigInput(input: object): input is LlamaConfigInput {
  return ("architecture" in input && input.architecture === "llama") || ("preset" in input && (LLAMA_PRESET_NAMES as string[]).includes(input.preset as string));
}

/** Per-head width: head_dim, else hidden_size / num_attention_heads. */
export function headDimOf(c: Pick<LlamaConfig, "headDim" | "nEmbd" | "nHead">): number {
  return c.headDim ?? c.nEmbd / c.nHead;
}
