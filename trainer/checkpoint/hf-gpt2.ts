// Hugging Face GPT-2 folders: model.safetensors + config.json (+ tokenizer.json).
//
// The model already names its parameters as HF's GPT2Model does (wte, wpe, h.N.ln_1, h.N.attn.c_attn
// with Conv1D (in, out) weights, …, ln_f), so export writes them as they are. Import also accepts
// what real checkpoints carry: the `transformer.` prefix of GPT2LMHeadModel, `lm_head.weight`
// (accepted only when it equals wte: this model ties them), and the causal-mask buffers
// `attn.bias` / `attn.masked_bias` of older files. F16 and BF16 tensors are widened to F32.
// A config of another architecture, a missing or unexpected tensor, or a wrong shape is refused.
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { gptConfigSchema, type GptConfig } from "../contract/gpt-config.ts";
import { initGpt, parameterShapes, type GptModel } from "../model/gpt.ts";
import { decodeSafetensors, encodeSafetensors, type NamedArray } from "./safetensors.ts";
import { HfFormatError } from "./hf-folder.ts";

export { HfFormatError };

export interface HfTokenIds {
  bos: number;
  eos: number;
  pad: number | null;
}

/** GPT2LMHeadModel's config.json for a model of this config. */
export function hfConfigJson(config: GptConfig, ids: HfTokenIds): Record<string, unknown> {
  const scalar = config.scalarHead !== "none";
  return {
    architectures: [scalar ? "GPT2ForSequenceClassification" : "GPT2LMHeadModel"],
    model_type: "gpt2",
    vocab_size: config.vocabSize,
    n_positions: config.blockSize,
    n_ctx: config.blockSize,
    n_embd: config.nEmbd,
    n_layer: config.nLayer,
    n_head: config.nHead,
    n_inner: null,
    activation_function: "gelu_new",
    layer_norm_epsilon: config.layerNormEps,
    resid_pdrop: 0,
    embd_pdrop: 0,
    attn_pdrop: 0,
    initializer_range: 0.02,
    scale_attn_weights: true,
    scale_attn_by_inverse_layer_idx: false,
    reorder_and_upcast_attn: false,
    use_cache: true,
    tie_word_embeddings: true,
    bos_token_id: ids.bos,
    eos_token_id: ids.eos,
    pad_token_id: ids.pad,
    torch_dtype: "float32",
    ...(scalar ? { num_labels: 1, tandem_scalar_head: config.scalarHead } : {}),
  };
}

/**
 * Writes `dir/model.safetensors`, `dir/config.json` and, when given, `dir/tokenizer.json`.
 * A scalar head is written as GPT2ForSequenceClassification's `score.weight` (num_labels=1, C).
 */
export function exportHfGpt2(dir: string, model: GptModel, options: { tokenizerJson?: string; ids: HfTokenIds }): void {
  mkdirSync(dir, { recursive: true });
  const tensors = new Map<string, NamedArray>();
  for (const [name, v] of model.params) {
    const data = v.dataSync() as Float32Array;
    if (name === "score.weight") tensors.set(name, { shape: [1, v.shape[0] ?? 0], data }); // (C, 1) → (1, C): same bytes
    else tensors.set(name, { shape: v.shape, data });
  }
  writeFileSync(join(dir, "model.safetensors"), encodeSafetensors(tensors, { format: "pt" }));
  writeFileSync(join(dir, "config.json"), JSON.stringify(hfConfigJson(model.config, options.ids), null, 2));
  if (options.tokenizerJson !== undefined) writeFileSync(join(dir, "tokenizer.json"), options.tokenizerJson);
}

const num = (cfg: Record<string, unknown>, key: string): number => {
  const v = cfg[key];
  if (typeof v !== "number" || !Number.isFinite(v)) throw new HfFormatError(`config.json: ${key} must be a number (got ${JSON.stringify(v)})`);
  return v;
};

/** GptConfig from an HF config.json; refuses anything this GPT-2 implementation would compute differently. */
export function gptConfigFromHf(cfg: Record<string, unknown>): GptConfig {
  if (cfg["model_type"] !== "gpt2")
    throw new HfFormatError(`config.json: model_type ${JSON.stringify(cfg["model_type"])} is not supported; only GPT-2 ("gpt2") checkpoints can be imported`);
  const act = cfg["activation_function"] ?? "gelu_new";
  if (act !== "gelu_new" && act !== "gelu_pytorch_tanh")
    throw new HfFormatError(`config.json: activation_function ${JSON.stringify(act)} is not supported (GELU tanh: gelu_new)`);
  const nEmbd = num(cfg, "n_embd");
  const nInner = cfg["n_inner"];
  if (nInner !== undefined && nInner !== null && nInner !== 4 * nEmbd)
    throw new HfFormatError(`config.json: n_inner ${String(nInner)} is not supported (the MLP is 4·n_embd = ${4 * nEmbd})`);
  if (cfg["tie_word_embeddings"] === false) throw new HfFormatError("config.json: tie_word_embeddings false is not supported (the LM head is tied to wte)");
  for (const [key, expected] of [["scale_attn_weights", true], ["scale_attn_by_inverse_layer_idx", false], ["add_cross_attention", false]] as const) {
    if (cfg[key] !== undefined && cfg[key] !== expected) throw new HfFormatError(`config.json: ${key} ${String(cfg[key])} is not supported`);
  }
  const head = cfg["tandem_scalar_head"];
  const parsed = gptConfigSchema.safeParse({
    vocabSize: num(cfg, "vocab_size"),
    blockSize: num(cfg, "n_positions"),
    nLayer: num(cfg, "n_layer"),
    nHead: num(cfg, "n_head"),
    nEmbd,
    layerNormEps: cfg["layer_norm_epsilon"] === undefined ? 1e-5 : num(cfg, "layer_norm_epsilon"),
    scalarHead: head === "reward" || head === "value" ? head : "none",
  });
  if (!parsed.success) throw new HfFormatError(`config.json: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  return parsed.data;
}

const IGNORED = /^h\.\d+\.attn\.(bias|masked_bias)$/; // causal-mask buffers, not parameters

/**
 * Reads an HF GPT-2 folder into a fresh model. Returns the model, the raw config and the
 * tokenizer.json text (null when the folder has none).
 */
export function importHfGpt2(dir: string): { model: GptModel; hfConfig: Record<string, unknown>; tokenizerJson: string | null } {
  const configPath = join(dir, "config.json");
  const weightsPath = join(dir, "model.safetensors");
  if (!existsSync(configPath)) throw new HfFormatError(`${dir}: no config.json`);
  if (!existsSync(weightsPath)) throw new HfFormatError(`${dir}: no model.safetensors (sharded or .bin checkpoints are not supported)`);
  const hfConfig = JSON.parse(readFileSync(configPath, "utf8")) as Record<string, unknown>;
  const config = gptConfigFromHf(hfConfig);
  const raw = decodeSafetensors(readFileSync(weightsPath)).tensors;
  const tensors = new Map<string, NamedArray>();
  let lmHead: NamedArray | undefined;
  for (const [rawName, t] of raw) {
    const name = rawName.startsWith("transformer.") ? rawName.slice("transformer.".length) : rawName;
    if (IGNORED.test(name)) continue;
    if (name === "lm_head.weight") lmHead = t;
    else tensors.set(name, t);
  }
  const expected = parameterShapes(config);
  const expectedNames = new Set(expected.map(([n]) => n));
  const unexpected = [...tensors.keys()].filter((n) => !expectedNames.has(n));
  if (unexpected.length > 0)
    throw new HfFormatError(`${weightsPath}: unexpected tensor(s) for a GPT-2 of this config: ${unexpected.slice(0, 5).join(", ")}${unexpected.length > 5 ? ", …" : ""}`);
  for (const [name, shape] of expected) {
    const t = tensors.get(name);
    if (!t) throw new HfFormatError(`${weightsPath}: missing tensor ${name}`);
    const want = name === "score.weight" ? [1, shape[0]] : shape;
    if (t.shape.join(",") !== want.join(","))
      throw new HfFormatError(`${weightsPath}: ${name} has shape [${t.shape.join(", ")}] but config.json implies [${want.join(", ")}]`);
  }
  if (lmHead) {
    const wte = tensors.get("wte.weight") as NamedArray;
    if (lmHead.shape.join(",") !== wte.shape.join(",") || lmHead.data.some((x, i) => x !== wte.data[i]))
      throw new HfFormatError(`${weightsPath}: lm_head.weight differs from wte.weight; untied LM heads are not supported`);
  }
  const model = initGpt(config, 0);
  for (const [name, v] of model.params) {
    const t = tensors.get(name) as NamedArray;
    tf.tidy(() => v.assign(tf.tensor(t.data, v.shape, "float32")));
  }
  const tokPath = join(dir, "tokenizer.json");
  return { model, hfConfig, tokenizerJson: existsSync(tokPath) ? readFileSync(tokPath, "utf8") : null };
}

/** sha256 of tokenizer.json text, as BpeTokenizer.hash computes it. */
export function tokenizerHashOf(json: string): string {
  return createHash("sha256").update(json).digest("hex");
}
