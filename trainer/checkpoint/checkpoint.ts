// Checkpoints: model.safetensors + optimizer.safetensors (AdamW moments as m.<name>, v.<name>) +
// manifest.json (step, RNG state, configs, tokenizer hash).
// The model file is in Hugging Face naming and layout: GPT-2 as GPT2Model names it; a Llama-family
// model as LlamaForCausalLM does ((out, in) linear weights, see hf-llama.ts); a model with LoRA
// adapters stores only the adapters (and a scalar head) under PEFT's names, its base being another
// checkpoint (manifest.lora, load-model.ts). Optimizer moments keep the trainer's own names and layout.
// Loading refuses a checkpoint whose architecture, adapters or tokenizer differ from the ones expected.
import { mkdirSync, readFileSync, writeFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import { isDeepStrictEqual } from "node:util";
import * as tf from "@tensorflow/tfjs-core";
import { checkpointManifestSchema, type CheckpointManifest, type HfExtras } from "../contract/checkpoint.ts";
import { isLlama, type LanguageModel, type ModelConfig } from "../model/lm.ts";
import { isTransposedLinear } from "../model/llama.ts";
import { PEFT_PREFIX, peftTensors } from "../model/lora.ts";
import { type AdamWState } from "../optim/adamw.ts";
import { toHfTensors } from "./hf-llama.ts";
import { decodeSafetensors, encodeSafetensors, type NamedArray } from "./safetensors.ts";

export class CheckpointMismatchError extends Error {}

function toArrays(vars: Map<string, tf.Variable>, prefix = ""): Map<string, NamedArray> {
  const out = new Map<string, NamedArray>();
  for (const [name, v] of vars) out.set(prefix + name, { shape: v.shape, data: v.dataSync() as Float32Array });
  return out;
}

function writeAtomic(path: string, data: Buffer | string): void {
  writeFileSync(`${path}.tmp`, data);
  renameSync(`${path}.tmp`, path); // a crash mid-write never leaves a torn file under the real name
}

/** The model file's tensors: HF layout and names, or only the LoRA adapters under PEFT's names. */
function modelTensors(model: LanguageModel): Map<string, NamedArray> {
  if (!isLlama(model)) return toArrays(model.params);
  return model.lora ? peftTensors(model) : toHfTensors(model);
}

export function saveCheckpoint(
  dir: string,
  model: LanguageModel,
  optimizer: AdamWState | null,
  info: {
    step: number; rngState: number; trainConfig: Record<string, unknown>; tokenizerHash: string | null; metrics?: Record<string, number>;
    kind?: string; dataHash?: string; resumeState?: Record<string, number>;
    /** HF tokenizer_config / generation_config of an imported model, carried from checkpoint to checkpoint. */
    hf?: HfExtras;
  },
): CheckpointManifest {
  mkdirSync(dir, { recursive: true });
  writeAtomic(join(dir, "model.safetensors"), encodeSafetensors(modelTensors(model), { format: "pt" }));
  if (optimizer) {
    const moments = new Map([...toArrays(optimizer.m, "m."), ...toArrays(optimizer.v, "v.")]);
    writeAtomic(join(dir, "optimizer.safetensors"), encodeSafetensors(moments));
  }
  const lora = isLlama(model) ? model.lora : undefined;
  const manifest: CheckpointManifest = {
    schemaVersion: 1,
    step: info.step,
    optimizerStep: optimizer?.step ?? 0,
    rngState: info.rngState,
    modelConfig: model.config,
    trainConfig: info.trainConfig,
    tokenizerHash: info.tokenizerHash,
    files: { model: "model.safetensors", optimizer: optimizer ? "optimizer.safetensors" : null },
    metrics: info.metrics ?? {},
    ...(info.kind !== undefined ? { kind: info.kind } : {}),
    ...(info.dataHash !== undefined ? { dataHash: info.dataHash } : {}),
    ...(info.resumeState !== undefined ? { resumeState: info.resumeState } : {}),
    ...(info.hf !== undefined ? { hf: info.hf } : {}),
    ...(lora ? { lora: { config: lora.config, base: lora.base ?? "base" } } : {}),
  };
  writeAtomic(join(dir, "manifest.json"), JSON.stringify(manifest, null, 2));
  return manifest;
}

export function readManifest(dir: string): CheckpointManifest {
  return checkpointManifestSchema.parse(JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")));
}

function sameArchitecture(a: ModelConfig, b: ModelConfig): string | null {
  const ra = a as Record<string, unknown>;
  const rb = b as Record<string, unknown>;
  for (const key of new Set([...Object.keys(ra), ...Object.keys(rb)]))
    if (!isDeepStrictEqual(ra[key], rb[key])) return `${key} is ${String(ra[key])} in the checkpoint but ${String(rb[key])} in the model`;
  return null;
}

/**
 * Copies weights (and optimizer moments) from `dir` into existing variables. With `newHead`, a
 * checkpoint without a scalar head may initialise a model that has one (SFT policy → reward or
 * value model); the head keeps its fresh initialisation. An adapter checkpoint loads into a model
 * that already holds its base and fresh adapters of the same LoRA config (load-model.ts builds it).
 */
export function loadCheckpointInto(
  dir: string,
  model: LanguageModel,
  optimizer: AdamWState | null,
  expect: { tokenizerHash?: string | null; newHead?: boolean } = {},
): CheckpointManifest {
  const manifest = readManifest(dir);
  const compared = expect.newHead ? { ...manifest.modelConfig, scalarHead: model.config.scalarHead } : manifest.modelConfig;
  const mismatch = sameArchitecture(compared, model.config);
  if (mismatch) throw new CheckpointMismatchError(`checkpoint ${dir} has another architecture: ${mismatch}`);
  if (expect.tokenizerHash !== undefined && expect.tokenizerHash !== manifest.tokenizerHash)
    throw new CheckpointMismatchError(`checkpoint ${dir} was trained with another tokenizer (hash ${manifest.tokenizerHash ?? "none"})`);
  const headMayBeNew = expect.newHead && manifest.modelConfig.scalarHead === "none";
  const assign = (vars: Map<string, tf.Variable>, tensors: Map<string, NamedArray>, prefix: string, stored: (name: string) => string = (n) => n, hfLayout = false): void => {
    for (const [name, v] of vars) {
      const t = tensors.get(prefix + stored(name));
      if (!t && headMayBeNew && name === "score.weight") continue;
      if (!t) throw new CheckpointMismatchError(`checkpoint ${dir} lacks ${prefix + stored(name)}`);
      const transposed = hfLayout && isTransposedLinear(name, v.rank);
      const want = transposed ? [...v.shape].reverse() : v.shape;
      if (t.shape.join(",") !== want.join(",")) throw new CheckpointMismatchError(`${prefix + stored(name)}: shape ${t.shape} ≠ ${want}`);
      tf.tidy(() => {
        const value = tf.tensor(t.data, t.shape, "float32");
        v.assign(transposed ? tf.transpose(value) : value);
      });
    }
  };
  const weights = decodeSafetensors(readFileSync(join(dir, manifest.files.model))).tensors;
  const lora = isLlama(model) ? model.lora : undefined;
  if (manifest.lora) {
    // 1. adapters: A and B in PEFT's (r, in) / (out, r), plus the scalar head when the file has one
    if (!lora) throw new CheckpointMismatchError(`checkpoint ${dir} holds LoRA adapters; load it with its base (loadModel)`);
    if (!isDeepStrictEqual(manifest.lora.config, lora.config))
      throw new CheckpointMismatchError(`checkpoint ${dir} has other LoRA settings: ${JSON.stringify(manifest.lora.config)} vs ${JSON.stringify(lora.config)}`);
    const adapterVars = new Map<string, tf.Variable>();
    for (const [name, { a, b }] of lora.adapters) adapterVars.set(`${name}.lora_A.weight`, a).set(`${name}.lora_B.weight`, b);
    const head = model.params.get("score.weight");
    if (head && (weights.has(`${PEFT_PREFIX}score.weight`) || !headMayBeNew)) adapterVars.set("score.weight", head);
    const peftName = (n: string): string => `${PEFT_PREFIX}${n}`;
    // every adapter tensor is 2-D and stored transposed relative to ours, like a linear weight
    assign(adapterVars, weights, "", peftName, true);
  } else {
    if (lora) throw new CheckpointMismatchError(`checkpoint ${dir} holds full weights, but the model expects LoRA adapters`);
    assign(model.params, weights, "", undefined, isLlama(model));
  }
  if (optimizer) {
    if (!manifest.files.optimizer) throw new CheckpointMismatchError(`checkpoint ${dir} has no optimizer state`);
    const moments = decodeSafetensors(readFileSync(join(dir, manifest.files.optimizer))).tensors;
    assign(optimizer.m, moments, "m.");
    assign(optimizer.v, moments, "v.");
    optimizer.step = manifest.optimizerStep;
  }
  return manifest;
}
