// LoRA adapter settings (Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models"):
// the trainer's public schema (zod only). Defaults are PEFT's LoraConfig defaults (r 8, lora_alpha
// 8, lora_dropout 0.0) and its target modules for Llama and Qwen2 (q_proj, v_proj; PEFT
// TRANSFORMERS_MODELS_TO_LORA_TARGET_MODULES_MAPPING).
import { z } from "zod";

/** The projections of a Llama-family decoder layer an adapter may sit on (HF module names). */
export const LORA_TARGETS = ["q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj"] as const;
export type LoraTarget = (typeof LORA_TARGETS)[number];

export const loraConfigSchema = z.strictObject({
  /** Rank of the update B·A. */
  r: z.number().int().min(1).max(1024).default(8),
  /** The update is scaled by alpha / r. */
  alpha: z.number().positive().default(8),
  /** Dropout on the adapter's input while training (0 = none). */
  dropout: z.number().min(0).lt(1).default(0),
  /** Projections that get an adapter in every layer; "all-linear" is all seven (PEFT's shorthand). */
  targetModules: z.union([z.literal("all-linear"), z.array(z.enum(LORA_TARGETS)).min(1)]).default(["q_proj", "v_proj"]),
});

export type LoraConfig = z.output<typeof loraConfigSchema>;
export type LoraConfigInput = z.input<typeof loraConfigSchema>;

export function loraTargetsOf(c: Pick<LoraConfig, "targetModules">): LoraTarget[] {
  return c.targetModules === "all-linear" ? [...LORA_TARGETS] : [...new Set(c.targetModules)];
}
