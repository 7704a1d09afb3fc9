// One model interface for trainers, losses and generation: GPT-2 (gpt.ts) or a Llama-family decoder
// (llama.ts), told apart by the config's `architecture` ("llama"; GPT-2 configs have none). Every
// function here has the call shape of its GPT-2 counterpart, so switching a caller is a rename:
// gptForward → lmForward, initGpt → initModel, disposeGpt → disposeModel, countParams → countModelParams.
import * as tf from "@tensorflow/tfjs-core";
import { type GptConfig } from "../contract/gpt-config.ts";
import { type LlamaConfig } from "../contract/llama-config.ts";
import { countParams, disposeForward, disposeGpt, gptForward, initGpt, type ForwardOptions, type ForwardResult, type GptModel } from "./gpt.ts";
import { countLlamaParams, disposeLlama, initLlama, llamaForward, type LlamaModel } from "./llama.ts";

export type LanguageModel = GptModel | LlamaModel;
export type ModelConfig = GptConfig | LlamaConfig;

export function isLlamaConfig(config: ModelConfig): config is LlamaConfig {
  return "architecture" in config && config.architecture === "llama";
}

export function isLlama(model: LanguageModel): model is LlamaModel {
  return isLlamaConfig(model.config);
}

/** Forward pass of either architecture. inputIds (B, T) int32 → logits (B, T, V), hidden, scores, cache. */
export function lmForward(model: LanguageModel, inputIds: tf.Tensor2D, options: ForwardOptions = {}): ForwardResult {
  return isLlama(model) ? llamaForward(model, inputIds, options) : gptForward(model as GptModel, inputIds, options);
}

/** lmForward inside its own tf.tidy: only the returned tensors survive (dispose with disposeForward). */
export function lmForwardTidy(model: LanguageModel, inputIds: tf.Tensor2D, options: ForwardOptions = {}): ForwardResult {
  let result: ForwardResult | undefined;
  tf.tidy(() => {
    result = lmForward(model, inputIds, options);
    const out: tf.Tensor[] = [result.hidden];
    if (result.logits) out.push(result.logits);
    if (result.scores) out.push(result.scores);
    for (const { k, v } of result.present?.layers ?? []) out.push(k, v);
    return out;
  });
  if (!result) throw new Error("forward produced no result");
  return result;
}

export { disposeForward };

export function initModel(config: ModelConfig, seed = 0): LanguageModel {
  return isLlamaConfig(config) ? initLlama(config, seed) : initGpt(config, seed);
}

export function disposeModel(model: LanguageModel): void {
  if (isLlama(model)) disposeLlama(model);
  else disposeGpt(model);
}

export function countModelParams(config: ModelConfig): number {
  return isLlamaConfig(config) ? countLlamaParams(config) : countParams(config);
}

/** A copy of the model's weights (its adapters, if any, are not copied): a frozen reference when `trainable` is false. */
export function cloneModel(model: LanguageModel, options: { trainable?: boolean } = {}): LanguageModel {
  const copy = initModel(model.config, 0);
  for (const [name, v] of copy.params) {
    const source = model.params.get(name);
    if (!source) throw new Error(`cloneModel: the model has no ${name}`);
    const value = tf.clone(source);
    v.dispose();
    copy.params.set(name, tf.variable(value, options.trainable ?? true));
    value.dispose();
  }
  return copy;
}
