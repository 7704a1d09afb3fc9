// `export-hf`, `import-hf` and `logits`: between Tandem checkpoints and Hugging Face folders.
//   export-hf --checkpoint <ckpt dir> --out <hf dir> [--merged]
//       GPT-2 or Llama-family: model.safetensors + config.json + tokenizer files (tokenizer.json,
//       tokenizer_config.json with the chat template, generation_config.json). An adapter checkpoint
//       is written as a PEFT folder (adapter_model.safetensors + adapter_config.json), or with
//       --merged as the full model with its adapters folded in.
//   import-hf --hf <hf dir> --out <ckpt dir> [--base <ckpt dir>]
//       a checkpoint (no optimizer state) usable as `model.checkpoint`; model_type gpt2, llama or
//       qwen2. A PEFT adapter folder needs --base: the Tandem checkpoint of the model it adapts.
//   logits --model <hf dir or ckpt dir> --ids 1,2,3
//       one JSON line {"logits": [[…], …]}: a row of float logits per input position.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { initBackend } from "../backend/select-backend.ts";
import { type GptConfig } from "../contract/gpt-config.ts";
import { type HfExtras } from "../contract/checkpoint.ts";
import { readManifest, saveCheckpoint } from "../checkpoint/checkpoint.ts";
import { exportHfGpt2, importHfGpt2, tokenizerHashOf } from "../checkpoint/hf-gpt2.ts";
import { exportHfLlama, importHfLlama, type HfSpecialIds } from "../checkpoint/hf-llama.ts";
import { eosIdsOf, HfFormatError, readHfConfig } from "../checkpoint/hf-folder.ts";
import { loadModel } from "../checkpoint/load-model.ts";
import { exportPeftAdapter, importPeftAdapter, isPeftAdapterFolder } from "../checkpoint/peft-adapter.ts";
import { countParams, disposeGpt } from "../model/gpt.ts";
import { countModelParams, disposeModel, isLlama, lmForwardTidy, disposeForward, type LanguageModel } from "../model/lm.ts";
import { mergeLora } from "../model/lora.ts";
import { SPECIAL_TOKENS } from "../tokenizer/bpe-tokenizer.ts";
import { tokenizerCoverageProblems } from "../tokenizer/hf-chat.ts";
import { type JobLogger } from "./logger.ts";

/** Ids of `<|endoftext|>` and `<|pad|>` in a tokenizer.json's added tokens (or vocab). */
function specialIds(tokenizerJson: string | null, vocabSize: number): { bos: number; eos: number; pad: number | null } {
  if (tokenizerJson === null) return { bos: vocabSize - 1, eos: vocabSize - 1, pad: null };
  const json = JSON.parse(tokenizerJson) as { added_tokens?: { id: number; content: string }[]; model?: { vocab?: Record<string, number> } };
  const idOf = (content: string): number | undefined =>
    json.added_tokens?.find((t) => t.content === content)?.id ?? json.model?.vocab?.[content];
  const eos = idOf(SPECIAL_TOKENS.eos) ?? vocabSize - 1;
  return { bos: eos, eos, pad: idOf(SPECIAL_TOKENS.pad) ?? null };
}

/** config.json's special ids for an HF model: from its generation_config, else Tandem's tokens. */
function hfIds(hf: HfExtras | undefined, tokenizerJson: string | null, vocabSize: number): HfSpecialIds {
  if (!hf) return specialIds(tokenizerJson, vocabSize);
  const g = hf.generationConfig ?? {};
  const eos = eosIdsOf(g);
  const int = (v: unknown): number | null => (Number.isInteger(v) ? (v as number) : null);
  return { bos: int(g["bos_token_id"]), eos: eos.length === 0 ? null : eos.length === 1 ? (eos[0] as number) : eos, pad: int(g["pad_token_id"]) };
}

function readTokenizer(checkpoint: string, tokenizerHash: string | null): string | null {
  const tokPath = join(checkpoint, "tokenizer.json");
  const tokenizerJson = existsSync(tokPath) ? readFileSync(tokPath, "utf8") : null;
  if (tokenizerJson !== null && tokenizerHash !== null && tokenizerHashOf(tokenizerJson) !== tokenizerHash)
    throw new Error(`${tokPath} is not the tokenizer this checkpoint was trained with`);
  return tokenizerJson;
}

export async function exportHfCommand(checkpoint: string, out: string, log: JobLogger, options: { merged?: boolean } = {}): Promise<void> {
  await initBackend();
  const manifest = readManifest(checkpoint);
  const tokenizerJson = readTokenizer(checkpoint, manifest.tokenizerHash);
  const tokenizer = { ...(tokenizerJson !== null ? { tokenizerJson } : {}), tokenizerConfig: manifest.hf?.tokenizerConfig ?? null, generationConfig: manifest.hf?.generationConfig ?? null };
  if (manifest.lora && !options.merged) {
    // the adapters alone, as PEFT writes them; the base is the model they were trained on
    const model = loadModel(checkpoint);
    try {
      if (!isLlama(model)) throw new Error(`${checkpoint}: adapters need a Llama-family base`);
      exportPeftAdapter(out, model, { baseModel: baseNameOf(checkpoint, manifest.lora.base), tokenizer });
      log.event("done", { kind: "export-hf", out, format: "peft", adapters: model.lora?.adapters.size ?? 0, tokenizer: tokenizerJson !== null });
    } finally {
      disposeModel(model);
    }
    return;
  }
  const model = loadModel(checkpoint);
  try {
    if (isLlama(model)) {
      if (model.lora) mergeLora(model);
      exportHfLlama(out, model, { ids: hfIds(manifest.hf, tokenizerJson, model.config.vocabSize), tokenizer });
    } else {
      exportHfGpt2(out, model, { ids: specialIds(tokenizerJson, model.config.vocabSize), ...(tokenizerJson !== null ? { tokenizerJson } : {}) });
    }
    log.event("done", { kind: "export-hf", out, params: countModelParams(model.config), tokenizer: tokenizerJson !== null, ...(manifest.lora ? { merged: true } : {}) });
  } finally {
    disposeModel(model);
  }
}

/** What adapter_config.json names as base_model_name_or_path: where the base was imported from, else its checkpoint. */
function baseNameOf(checkpoint: string, recorded: string): string {
  const baseDir = existsSync(join(checkpoint, "base", "manifest.json")) ? join(checkpoint, "base") : resolve(checkpoint, recorded);
  const imported = existsSync(join(baseDir, "manifest.json")) ? readManifest(baseDir).trainConfig["importedFrom"] : undefined;
  return typeof imported === "string" ? imported : baseDir;
}

export async function importHfCommand(hfDir: string, out: string, log: JobLogger, options: { base?: string } = {}): Promise<void> {
  await initBackend();
  if (isPeftAdapterFolder(hfDir)) {
    if (!options.base) throw new HfFormatError(`${hfDir} is a PEFT adapter folder: give --base <checkpoint of the model it adapts>`);
    const { adapters, lora } = importPeftAdapter(hfDir, out, options.base);
    log.event("done", { kind: "import-hf", out, format: "peft", adapters, lora, base: resolve(options.base) });
    return;
  }
  const { modelType } = readHfConfig(hfDir);
  if (modelType === "gpt2") {
    const { model, tokenizerJson } = importHfGpt2(hfDir);
    try {
      mkdirSync(out, { recursive: true });
      saveCheckpoint(out, model, null, {
        step: 0, rngState: 0, trainConfig: { importedFrom: resolve(hfDir) }, tokenizerHash: tokenizerJson === null ? null : tokenizerHashOf(tokenizerJson),
      });
      if (tokenizerJson !== null) writeFileSync(join(out, "tokenizer.json"), tokenizerJson);
      log.event("done", { kind: "import-hf", out, config: model.config, params: countParams(model.config as GptConfig), tokenizer: tokenizerJson !== null });
    } finally {
      disposeGpt(model);
    }
    return;
  }
  const { model, hfConfig, tokenizer } = importHfLlama(hfDir);
  try {
    // the tokenizer must cover its template before anything trains on it
    if (tokenizer.tokenizerJson === null) throw new HfFormatError(`${hfDir}: no tokenizer.json (Tandem tokenizes with the model's own tokenizer)`);
    const largestId = largestTokenId(tokenizer.tokenizerJson);
    if (largestId >= model.config.vocabSize) throw new HfFormatError(`${hfDir}: tokenizer.json has token id ${largestId}, outside config.json's vocab_size ${model.config.vocabSize}`);
    // transformers derives the generation config from config.json when generation_config.json is absent
    const generationConfig = tokenizer.generationConfig ?? { bos_token_id: hfConfig["bos_token_id"] ?? null, eos_token_id: hfConfig["eos_token_id"] ?? null, pad_token_id: hfConfig["pad_token_id"] ?? null };
    const hf: HfExtras = { tokenizerConfig: tokenizer.tokenizerConfig, generationConfig };
    const problems = tokenizerCoverageProblems(tokenizer.tokenizerJson, hf);
    if (problems.length > 0) throw new HfFormatError(`${hfDir}: the tokenizer does not fit the model's template: ${problems.join("; ")}`);
    mkdirSync(out, { recursive: true });
    saveCheckpoint(out, model, null, { step: 0, rngState: 0, trainConfig: { importedFrom: resolve(hfDir) }, tokenizerHash: tokenizerHashOf(tokenizer.tokenizerJson), hf });
    writeFileSync(join(out, "tokenizer.json"), tokenizer.tokenizerJson);
    log.event("done", {
      kind: "import-hf", out, config: model.config, params: countModelParams(model.config), tokenizer: true,
      chatTemplate: typeof tokenizer.tokenizerConfig?.["chat_template"] === "string" || Array.isArray(tokenizer.tokenizerConfig?.["chat_template"]),
    });
  } finally {
    disposeModel(model);
  }
}

/** The largest id tokenizer.json can produce (its vocabulary and added tokens). */
function largestTokenId(tokenizerJson: string): number {
  const json = JSON.parse(tokenizerJson) as { added_tokens?: { id: number }[]; model?: { vocab?: Record<string, number> | [string, number][] } };
  const vocab = json.model?.vocab;
  const ids = Array.isArray(vocab) ? vocab.map((_, i) => i) : Object.values(vocab ?? {});
  return Math.max(-1, ...ids, ...(json.added_tokens ?? []).map((t) => t.id));
}

/** A model from an HF folder (config.json) or a Tandem checkpoint (manifest.json). */
function modelFrom(dir: string): LanguageModel {
  if (existsSync(join(dir, "manifest.json"))) return loadModel(dir);
  const { modelType } = readHfConfig(dir);
  return modelType === "gpt2" ? importHfGpt2(dir).model : importHfLlama(dir).model;
}

/** Logits of one sequence, a row per position: for debugging and cross-framework parity. */
export async function logitsCommand(dir: string, idsText: string): Promise<{ logits: number[][] }> {
  const ids = idsText.split(",").map((s) => s.trim()).filter((s) => s !== "").map(Number);
  if (ids.length === 0 || ids.some((id) => !Number.isInteger(id) || id < 0)) throw new Error(`--ids: give comma-separated token ids, e.g. 1,2,3 (got ${JSON.stringify(idsText)})`);
  await initBackend();
  const model = modelFrom(dir);
  try {
    const bad = ids.find((id) => id >= model.config.vocabSize);
    if (bad !== undefined) throw new Error(`--ids: ${bad} is outside the vocabulary (vocab_size ${model.config.vocabSize})`);
    const input = tf.tensor2d([ids], [1, ids.length], "int32");
    const out = lmForwardTidy(model, input, { logits: true });
    const logits = out.logits as tf.Tensor3D;
    const flat = logits.dataSync();
    const V = logits.shape[2];
    disposeForward(out);
    input.dispose();
    return { logits: ids.map((_, t) => Array.from(flat.subarray(t * V, (t + 1) * V))) };
  } finally {
    disposeModel(model);
  }
}

