// LoRA: low-rank adapters on a Llama-family model's projections.
// Paper: Hu et al. 2021, "LoRA: Low-Rank Adaptation of Large Language Models" (arXiv 2106.09685) §4.1:
// a frozen weight W gains a trainable update ΔW = (α/r)·B·A with A (r, in), B (out, r); B starts at
// zero, so the adapted model starts equal to the base. Initialisation and naming as PEFT's LoraLayer
// (A: kaiming_uniform(a=√5), i.e. U(−1/√in, 1/√in); B: zeros).
//
// Here the update is computed as x·Aᵀ·Bᵀ: with the model's (in, out) layout (llama.ts), A is held as
// Aᵀ (in, r) and B as Bᵀ (r, out), so both products are untransposed 2-D matmuls. peftTensors()
// writes PEFT's (r, in) / (out, r) under PEFT's names.
//
// The reference policy of DPO, PPO, GRPO or KTO is the same model with the adapters switched off
// (`withAdaptersOff`): the base weights are never copied (TRL does the same with PEFT models).
import * as tf from "@tensorflow/tfjs-core";
import { loraTargetsOf, type LoraConfig } from "../contract/lora-config.ts";
import { matMul2d } from "../backend/matmul.ts";
import { readTransposedSync } from "../backend/tensor-reads.ts";
import { createRng, type Rng } from "../random/rng.ts";
import type { LlamaModel } from "./llama.ts";

export interface LoraAdapter {
  /** Aᵀ: (in, r). */
  a: tf.Variable;
  /** Bᵀ: (r, out). */
  b: tf.Variable;
}

export interface LoraState {
  config: LoraConfig;
  /** α / r. */
  scale: number;
  /** Projection name ("model.layers.0.self_attn.q_proj") → its adapter, in layer order. */
  adapters: Map<string, LoraAdapter>;
  /** False while the base model alone is wanted (the reference policy). */
  enabled: boolean;
  /** Set by a trainer for a training forward: adapter dropout draws its masks from this seed. */
  dropoutSeed: number | null;
  /** Counts dropout masks drawn under one seed, so every projection gets its own. */
  dropoutCalls: number;
  /** The checkpoint the base weights were read from, recorded in adapter checkpoints (manifest.lora.base). */
  base?: string;
}

/** Any model (GPT-2 never has adapters; a Llama-family model may). */
export type AdaptableModel = { params: Map<string, tf.Variable>; lora?: LoraState };

const MODULE_PATH: Record<string, string> = {
  q_proj: "self_attn", k_proj: "self_attn", v_proj: "self_attn", o_proj: "self_attn",
  gate_proj: "mlp", up_proj: "mlp", down_proj: "mlp",
};

/** U(−bound, bound) from the project's seeded RNG. */
function uniformArray(rng: Rng, n: number, bound: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) out[i] = (2 * rng.next() - 1) * bound;
  return out;
}

/**
 * Adds fresh adapters to every layer's target projections and freezes the base weights (a scalar
 * head stays trainable: PEFT's modules_to_save for sequence classification). Returns the model.
 */
export function attachLora(model: LlamaModel, config: LoraConfig, seed = 0): LlamaModel {
  if (model.lora) throw new Error("the model already has LoRA adapters (merge them first)");
  const rng = createRng(seed);
  const adapters = new Map<string, LoraAdapter>();
  for (let i = 0; i < model.config.nLayer; i++) {
    for (const target of loraTargetsOf(config)) {
      const name = `model.layers.${i}.${MODULE_PATH[target]}.${target}`;
      const w = model.params.get(`${name}.weight`);
      if (!w) throw new Error(`missing parameter ${name}.weight`);
      const [inF, outF] = w.shape as [number, number];
      const a = tf.tidy(() => tf.variable(tf.tensor2d(uniformArray(rng, inF * config.r, 1 / Math.sqrt(inF)), [inF, config.r]), true));
      const b = tf.tidy(() => tf.variable(tf.zeros([config.r, outF]), true));
      adapters.set(name, { a, b });
    }
  }
  for (const [name, v] of model.params) v.trainable = name === "score.weight";
  model.lora = { config, scale: config.alpha / config.r, adapters, enabled: true, dropoutSeed: null, dropoutCalls: 0 };
  return model;
}

/** (α/r)·dropout(x)·Aᵀ·Bᵀ: x (N, in) → (N, out). */
export function loraDelta(state: LoraState, adapter: LoraAdapter, x: tf.Tensor2D): tf.Tensor2D {
  let input = x;
  if (state.dropoutSeed !== null && state.config.dropout > 0) {
    input = tf.dropout(x, state.config.dropout, undefined, state.dropoutSeed * 1009 + state.dropoutCalls++) as tf.Tensor2D;
  }
  return tf.mul(matMul2d(matMul2d(input, adapter.a as tf.Tensor as tf.Tensor2D), adapter.b as tf.Tensor as tf.Tensor2D), state.scale);
}

/**
 * What a trainer optimises: with adapters, their A and B (PEFT names, "<proj>.lora_A.weight") and a
 * scalar head; otherwise every parameter. Optimizer state follows this map, so a LoRA run holds
 * AdamW moments for the adapters alone.
 */
export function trainableParams(model: AdaptableModel): Map<string, tf.Variable> {
  if (!model.lora) return model.params;
  const out = new Map<string, tf.Variable>();
  for (const [name, { a, b }] of model.lora.adapters) {
    out.set(`${name}.lora_A.weight`, a);
    out.set(`${name}.lora_B.weight`, b);
  }
  const head = model.params.get("score.weight");
  if (head) out.set("score.weight", head);
  return out;
}

/**
 * Runs `fn` with the adapters switched off: the base model, i.e. the reference policy, with no
 * second copy of its weights. For a model without adapters it just runs `fn` (then the reference
 * must be another model). Trainers that need reference log-probs (DPO, PPO, GRPO, KTO) call this.
 */
export function withAdaptersOff<T>(model: AdaptableModel, fn: () => T): T {
  const state = model.lora;
  if (!state) return fn();
  const was = state.enabled;
  state.enabled = false;
  try {
    return fn();
  } finally {
    state.enabled = was;
  }
}

/**
 * Runs a training forward (and backward) with adapter dropout on, masks drawn from `seed`. Without
 * adapters, or with dropout 0, it just runs `fn`. SFT uses it; DPO and the reward model train
 * without dropout (TRL's disable_dropout default).
 */
export function withAdapterDropout<T>(model: AdaptableModel, seed: number, fn: () => T): T {
  const state = model.lora;
  if (!state || state.config.dropout === 0) return fn();
  state.dropoutSeed = seed;
  state.dropoutCalls = 0;
  try {
    return fn();
  } finally {
    state.dropoutSeed = null;
  }
}

/** True when the model's reference policy is itself with adapters off (no separate reference needed). */
export function hasAdapters(model: AdaptableModel): boolean {
  return model.lora !== undefined;
}

/** Folds every adapter into its weight (W ← W + (α/r)·Aᵀ·Bᵀ in (in, out) layout) and removes them. */
export function mergeLora(model: LlamaModel): void {
  const state = model.lora;
  if (!state) return;
  for (const [name, { a, b }] of state.adapters) {
    const w = model.params.get(`${name}.weight`) as tf.Variable;
    tf.tidy(() => w.assign(tf.add(w, tf.mul(matMul2d(a as tf.Tensor as tf.Tensor2D, b as tf.Tensor as tf.Tensor2D), state.scale))));
    tf.dispose([a, b]);
  }
  for (const v of model.params.values()) v.trainable = true;
  delete model.lora;
}

/** PEFT's prefix: PeftModel.base_model (LoraModel).model (the transformers model). */
export const PEFT_PREFIX = "base_model.model.";

/**
 * The adapter as PEFT's get_peft_model_state_dict writes it: "base_model.model.<proj>.lora_A.weight"
 * (r, in) and ".lora_B.weight" (out, r), plus "base_model.model.score.weight" (1, C) for a scalar head.
 */
export function peftTensors(model: LlamaModel): Map<string, { shape: number[]; data: Float32Array }> {
  const state = model.lora;
  if (!state) throw new Error("the model has no LoRA adapters");
  const out = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const [name, { a, b }] of state.adapters) {
    out.set(`${PEFT_PREFIX}${name}.lora_A.weight`, readTransposedSync(a));
    out.set(`${PEFT_PREFIX}${name}.lora_B.weight`, readTransposedSync(b));
  }
  const head = model.params.get("score.weight");
  if (head) out.set(`${PEFT_PREFIX}score.weight`, readTransposedSync(head));
  return out;
}
