// Hugging Face Llama-family folders (model_type "llama" or "qwen2") in and out.
//
// In: config.json → LlamaConfig (anything this implementation would compute differently is refused
// with the key named: another activation, rope_scaling, Qwen2's sliding window), weights from
// model.safetensors or its shards (F32/F16/BF16), linear weights transposed to the model's (in, out).
// A tied model's file may still carry lm_head.weight; transformers ties it to embed_tokens and so
// does this loader. Rotary inv_freq buffers of older files are skipped.
// Out: model.safetensors (F32, HF layout and names; no lm_head.weight when tied), config.json for
// LlamaForCausalLM / Qwen2ForCausalLM (…ForSequenceClassification with a scalar head), and the
// tokenizer files given (tokenizer.json, tokenizer_config.json, generation_config.json).
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { headDimOf, llamaConfigSchema, type LlamaConfig } from "../contract/llama-config.ts";
import { initLlama, isTransposedLinear, llamaParameterShapes, type LlamaModel } from "../model/llama.ts";
import { encodeSafetensors, type NamedArray } from "./safetensors.ts";
import { readTransposedSync } from "../backend/tensor-reads.ts";
import { HfFormatError, readHfConfig, readHfTensors, readHfTokenizerFiles, writeHfTokenizerFiles, type HfTensors, type HfTokenizerFiles } from "./hf-folder.ts";

const num = (cfg: Record<string, unknown>, key: string, fallback?: number): number => {
  const v = cfg[key] ?? fallback;
  if (typeof v !== "number" || !Number.isFinite(v)) throw new HfFormatError(`config.json: ${key} must be a number (got ${JSON.stringify(cfg[key])})`);
  return v;
};

/** LlamaConfig from an HF config.json of model_type llama or qwen2. */
export function llamaConfigFromHf(cfg: Record<string, unknown>): LlamaConfig {
  const modelType = cfg["model_type"];
  if (modelType !== "llama" && modelType !== "qwen2")
    throw new HfFormatError(`config.json: model_type ${JSON.stringify(modelType)} is not a Llama-family type (llama, qwen2)`);
  const act = cfg["hidden_act"] ?? "silu";
  if (act !== "silu") throw new HfFormatError(`config.json: hidden_act ${JSON.stringify(act)} is not supported (SwiGLU needs "silu")`);
  if (cfg["rope_scaling"] !== undefined && cfg["rope_scaling"] !== null)
    throw new HfFormatError(`config.json: rope_scaling ${JSON.stringify(cfg["rope_scaling"])} is not supported (plain rotary embeddings only)`);
  if (modelType === "qwen2" && cfg["use_sliding_window"] === true)
    throw new HfFormatError("config.json: use_sliding_window true is not supported (full attention only)");
  const nHead = num(cfg, "num_attention_heads");
  const head = cfg["tandem_scalar_head"];
  const architectures = Array.isArray(cfg["architectures"]) ? (cfg["architectures"] as unknown[]) : [];
  const sequenceClassifier = architectures.some((a) => typeof a === "string" && a.endsWith("ForSequenceClassification"));
  if (sequenceClassifier && cfg["num_labels"] !== undefined && cfg["num_labels"] !== 1)
    throw new HfFormatError(`config.json: num_labels ${String(cfg["num_labels"])} is not supported (a reward or value head has one output)`);
  const parsed = llamaConfigSchema.safeParse({
    architecture: "llama",
    modelType,
    vocabSize: num(cfg, "vocab_size"),
    blockSize: num(cfg, "max_position_embeddings"),
    nLayer: num(cfg, "num_hidden_layers"),
    nHead,
    nKvHead: num(cfg, "num_key_value_heads", nHead),
    nEmbd: num(cfg, "hidden_size"),
    intermediateSize: num(cfg, "intermediate_size"),
    // head_dim is kept only when it is not the default hidden_size / heads, so configs compare equal
    ...(cfg["head_dim"] !== undefined && cfg["head_dim"] !== null && num(cfg, "head_dim") * nHead !== num(cfg, "hidden_size") ? { headDim: num(cfg, "head_dim") } : {}),
    rmsNormEps: num(cfg, "rms_norm_eps", 1e-6),
    ropeTheta: num(cfg, "rope_theta", 10000),
    tieWordEmbeddings: cfg["tie_word_embeddings"] === true, // LlamaConfig's and Qwen2Config's default is false
    attentionBias: modelType === "llama" && cfg["attention_bias"] === true,
    mlpBias: modelType === "llama" && cfg["mlp_bias"] === true,
    scalarHead: head === "reward" || head === "value" ? head : sequenceClassifier ? "reward" : "none",
  });
  if (!parsed.success) throw new HfFormatError(`config.json: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return parsed.data;
}

export interface HfSpecialIds {
  bos: number | null;
  /** One id or several (generation_config.json may list more than one). */
  eos: number | number[] | null;
  pad: number | null;
}

/** config.json for transformers' LlamaForCausalLM / Qwen2ForCausalLM (or …ForSequenceClassification). */
export function hfLlamaConfigJson(c: LlamaConfig, ids: HfSpecialIds): Record<string, unknown> {
  const scalar = c.scalarHead !== "none";
  const family = c.modelType === "qwen2" ? "Qwen2" : "Llama";
  return {
    architectures: [`${family}${scalar ? "ForSequenceClassification" : "ForCausalLM"}`],
    model_type: c.modelType,
    vocab_size: c.vocabSize,
    hidden_size: c.nEmbd,
    intermediate_size: c.intermediateSize,
    num_hidden_layers: c.nLayer,
    num_attention_heads: c.nHead,
    num_key_value_heads: c.nKvHead,
    head_dim: headDimOf(c),
    hidden_act: "silu",
    max_position_embeddings: c.blockSize,
    rms_norm_eps: c.rmsNormEps,
    rope_theta: c.ropeTheta,
    rope_scaling: null,
    tie_word_embeddings: c.tieWordEmbeddings,
    attention_dropout: 0,
    initializer_range: 0.02,
    use_cache: true,
    ...(c.modelType === "llama"
      ? { attention_bias: c.attentionBias, mlp_bias: c.mlpBias, pretraining_tp: 1 }
      : { use_sliding_window: false, sliding_window: null, max_window_layers: c.nLayer }),
    bos_token_id: ids.bos,
    eos_token_id: ids.eos,
    pad_token_id: ids.pad,
    torch_dtype: "float32",
    ...(scalar ? { num_labels: 1, tandem_scalar_head: c.scalarHead } : {}),
  };
}

/** The model's weights under HF names in HF layout ((out, in) linear weights; score (1, C)). */
export function toHfTensors(model: LlamaModel): Map<string, NamedArray> {
  const out = new Map<string, NamedArray>();
  for (const [name, v] of model.params) {
    out.set(name, isTransposedLinear(name, v.rank) ? readTransposedSync(v) : { shape: v.shape, data: v.dataSync() as Float32Array });
  }
  return out;
}

const IGNORED = /^model\.layers\.\d+\.self_attn\.rotary_emb\.inv_freq$/;

/**
 * Copies HF-layout tensors into the model's variables. Every expected tensor must be present with
 * its HF shape; an unexpected one is refused. `where` names the source in messages.
 */
export function assignHfTensors(model: LlamaModel, source: HfTensors, where: string): void {
  const tensors = new Map(source.tensors);
  for (const name of [...tensors.keys()]) if (IGNORED.test(name)) tensors.delete(name);
  if (model.config.tieWordEmbeddings) tensors.delete("lm_head.weight"); // transformers ties it to embed_tokens
  const expected = llamaParameterShapes(model.config);
  const names = new Set(expected.map(([n]) => n));
  const unexpected = [...tensors.keys()].filter((n) => !names.has(n));
  if (unexpected.length > 0)
    throw new HfFormatError(`${source.fileOf.get(unexpected[0] as string) ?? where}: unexpected tensor(s) for a ${model.config.modelType} of this config: ${unexpected.slice(0, 5).join(", ")}${unexpected.length > 5 ? ", …" : ""}`);
  for (const [name, shape] of expected) {
    const t = tensors.get(name);
    if (!t) throw new HfFormatError(`${where}: missing tensor ${name}`);
    const hfShape = isTransposedLinear(name, shape.length) ? [shape[1] as number, shape[0] as number] : shape;
    if (t.shape.join(",") !== hfShape.join(","))
      throw new HfFormatError(`${source.fileOf.get(name) ?? where}: ${name} has shape [${t.shape.join(", ")}] but config.json implies [${hfShape.join(", ")}]`);
  }
  for (const [name, shape] of expected) {
    const t = tensors.get(name) as NamedArray;
    const v = model.params.get(name) as tf.Variable;
    tf.tidy(() => {
      const value = tf.tensor(t.data, t.shape, "float32");
      v.assign(isTransposedLinear(name, shape.length) ? tf.transpose(value) : value);
    });
  }
}

export interface ImportedLlama {
  model: LlamaModel;
  hfConfig: Record<string, unknown>;
  tokenizer: HfTokenizerFiles;
}

/** Reads a Llama-family HF folder into a fresh model, with its tokenizer files. */
export function importHfLlama(dir: string): ImportedLlama {
  const { config: hfConfig } = readHfConfig(dir);
  const config = llamaConfigFromHf(hfConfig);
  const tensors = readHfTensors(dir);
  const model = initLlama(config, 0);
  try {
    assignHfTensors(model, tensors, dir);
  } catch (error) {
    for (const v of model.params.values()) v.dispose();
    throw error;
  }
  return { model, hfConfig, tokenizer: readHfTokenizerFiles(dir) };
}

/** Writes a folder transformers opens: weights, config.json and the tokenizer files given. */
export function exportHfLlama(dir: string, model: LlamaModel, options: { ids: HfSpecialIds; tokenizer?: Partial<HfTokenizerFiles> }): void {
  if (model.lora) throw new Error("merge the LoRA adapters first (mergeLora), or export them with exportPeftAdapter");
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "model.safetensors"), encodeSafetensors(toHfTensors(model), { format: "pt" }));
  writeFileSync(join(dir, "config.json"), JSON.stringify(hfLlamaConfigJson(model.config, options.ids), null, 2));
  writeHfTokenizerFiles(dir, options.tokenizer ?? {});
}
