// What every Hugging Face model folder has, whatever the architecture: config.json with its
// `model_type`, weights in model.safetensors or shards listed by model.safetensors.index.json, and
// the tokenizer files (tokenizer.json, tokenizer_config.json with the chat template or a separate
// chat_template.jinja, generation_config.json with the EOS ids).
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { decodeSafetensors, type NamedArray } from "./safetensors.ts";

export class HfFormatError extends Error {}

/** model_type values Tandem can import, each with the implementation that reads it. */
export const SUPPORTED_MODEL_TYPES = ["gpt2", "llama", "qwen2"] as const;
export type SupportedModelType = (typeof SUPPORTED_MODEL_TYPES)[number];

function readJson(path: string): Record<string, unknown> {
  try {
    const value = JSON.parse(readFileSync(path, "utf8")) as unknown;
    if (!value || typeof value !== "object" || Array.isArray(value)) throw new Error("not a JSON object");
    return value as Record<string, unknown>;
  } catch (error) {
    throw new HfFormatError(`${path}: ${error instanceof Error ? error.message : String(error)}`);
  }
}

/** config.json, refused unless its model_type is one Tandem implements (the message lists them). */
export function readHfConfig(dir: string): { config: Record<string, unknown>; modelType: SupportedModelType } {
  const path = join(dir, "config.json");
  if (!existsSync(path)) throw new HfFormatError(`${dir}: no config.json (not a Hugging Face model folder?)`);
  const config = readJson(path);
  const modelType = config["model_type"];
  if (!SUPPORTED_MODEL_TYPES.includes(modelType as SupportedModelType))
    throw new HfFormatError(`${path}: model_type ${JSON.stringify(modelType)} is not supported; supported: ${SUPPORTED_MODEL_TYPES.join(", ")}`);
  return { config, modelType: modelType as SupportedModelType };
}

/** Where each tensor came from, so a problem names its file. */
export interface HfTensors {
  tensors: Map<string, NamedArray>;
  fileOf: Map<string, string>;
}

/**
 * Every tensor of model.safetensors, or of the shards model.safetensors.index.json lists
 * (its weight_map: tensor name → shard file). F16 and BF16 are widened to F32.
 */
export function readHfTensors(dir: string): HfTensors {
  const single = join(dir, "model.safetensors");
  const index = join(dir, "model.safetensors.index.json");
  const tensors = new Map<string, NamedArray>();
  const fileOf = new Map<string, string>();
  const readFile = (path: string): Map<string, NamedArray> => {
    try {
      return decodeSafetensors(readFileSync(path)).tensors;
    } catch (error) {
      throw new HfFormatError(`${path}: ${error instanceof Error ? error.message : String(error)}`);
    }
  };
  if (existsSync(single)) {
    for (const [name, t] of readFile(single)) {
      tensors.set(name, t);
      fileOf.set(name, single);
    }
    return { tensors, fileOf };
  }
  if (!existsSync(index)) throw new HfFormatError(`${dir}: no model.safetensors or model.safetensors.index.json (.bin checkpoints are not supported)`);
  const weightMap = readJson(index)["weight_map"];
  if (!weightMap || typeof weightMap !== "object") throw new HfFormatError(`${index}: no weight_map`);
  const byShard = new Map<string, string[]>();
  for (const [name, shard] of Object.entries(weightMap as Record<string, unknown>)) {
    if (typeof shard !== "string" || shard.includes("/") || shard.includes("\\")) throw new HfFormatError(`${index}: weight_map.${name} is not a file name in this folder`);
    byShard.set(shard, [...(byShard.get(shard) ?? []), name]);
  }
  for (const [shard, names] of byShard) {
    const path = join(dir, shard);
    if (!existsSync(path)) throw new HfFormatError(`${index} names ${shard}, which is missing (it holds ${names[0]}${names.length > 1 ? ` and ${names.length - 1} more` : ""})`);
    const shardTensors = readFile(path);
    for (const name of names) {
      const t = shardTensors.get(name);
      if (!t) throw new HfFormatError(`${index} puts ${name} in ${shard}, which does not hold it`);
      tensors.set(name, t);
      fileOf.set(name, path);
    }
  }
  return { tensors, fileOf };
}

/** The tokenizer side of a folder; null where a file is absent. */
export interface HfTokenizerFiles {
  tokenizerJson: string | null;
  /** tokenizer_config.json, with `chat_template` filled from chat_template.jinja/.json when it lives there. */
  tokenizerConfig: Record<string, unknown> | null;
  generationConfig: Record<string, unknown> | null;
}

export function readHfTokenizerFiles(dir: string): HfTokenizerFiles {
  const at = (name: string): string => join(dir, name);
  const tokenizerJson = existsSync(at("tokenizer.json")) ? readFileSync(at("tokenizer.json"), "utf8") : null;
  let tokenizerConfig = existsSync(at("tokenizer_config.json")) ? readJson(at("tokenizer_config.json")) : null;
  // transformers ≥ 4.43 may save the template beside the config instead of inside it
  if (tokenizerConfig && tokenizerConfig["chat_template"] === undefined) {
    if (existsSync(at("chat_template.jinja"))) tokenizerConfig = { ...tokenizerConfig, chat_template: readFileSync(at("chat_template.jinja"), "utf8") };
    else if (existsSync(at("chat_template.json"))) tokenizerConfig = { ...tokenizerConfig, chat_template: readJson(at("chat_template.json"))["chat_template"] };
  }
  const generationConfig = existsSync(at("generation_config.json")) ? readJson(at("generation_config.json")) : null;
  return { tokenizerJson, tokenizerConfig, generationConfig };
}

/** Writes the tokenizer files that are present (the inverse of readHfTokenizerFiles). */
export function writeHfTokenizerFiles(dir: string, files: Partial<HfTokenizerFiles>): void {
  if (files.tokenizerJson) writeFileSync(join(dir, "tokenizer.json"), files.tokenizerJson);
  if (files.tokenizerConfig) writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(files.tokenizerConfig, null, 2));
  if (files.generationConfig) writeFileSync(join(dir, "generation_config.json"), JSON.stringify(files.generationConfig, null, 2));
}

/** EOS ids a generation config names (an int or a list), in order, without duplicates. */
export function eosIdsOf(...sources: (Record<string, unknown> | null | undefined)[]): number[] {
  const ids: number[] = [];
  for (const source of sources) {
    const value = source?.["eos_token_id"];
    for (const id of Array.isArray(value) ? value : [value]) if (Number.isInteger(id) && !ids.includes(id as number)) ids.push(id as number);
  }
  return ids;
}
