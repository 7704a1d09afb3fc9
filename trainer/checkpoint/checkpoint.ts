// Checkpoints: model.safetensors (Hugging Face GPT-2 parameter names) + optimizer.safetensors
// (AdamW moments as m.<name>, v.<name>) + manifest.json (step, RNG state, configs, tokenizer hash).
// Loading refuses a checkpoint whose architecture or tokenizer differs from the one expected.
import { mkdirSync, readFileSync, writeFileSync, renameSync } from "node:fs";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs-core";
import { checkpointManifestSchema, type CheckpointManifest } from "../contract/checkpoint.ts";
import { type GptConfig } from "../contract/gpt-config.ts";
import { type GptModel } from "../model/gpt.ts";
import { type AdamWState } from "../optim/adamw.ts";
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

export function saveCheckpoint(
  dir: string,
  model: GptModel,
  optimizer: AdamWState | null,
  info: {
    step: number; rngState: number; trainConfig: Record<string, unknown>; tokenizerHash: string | null; metrics?: Record<string, number>;
    kind?: string; dataHash?: string; resumeState?: Record<string, number>;
  },
): CheckpointManifest {
  mkdirSync(dir, { recursive: true });
  writeAtomic(join(dir, "model.safetensors"), encodeSafetensors(toArrays(model.params), { format: "pt" }));
  if (optimizer) {
    const moments = new Map([...toArrays(optimizer.m, "m."), ...toArrays(optimizer.v, "v.")]);
    writeAtomic(join(dir, "optimizer.safetensors"), encodeSafetensors(moments));
  }
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
  };
  writeAtomic(join(dir, "manifest.json"), JSON.stringify(manifest, null, 2));
  return manifest;
}

export function readManifest(dir: string): CheckpointManifest {
  return checkpointManifestSchema.parse(JSON.parse(readFileSync(join(dir, "manifest.json"), "utf8")));
}

function sameArchitecture(a: GptConfig, b: GptConfig): string | null {
  for (const key of ["vocabSize", "blockSize", "nLayer", "nHead", "nEmbd", "scalarHead"] as const)
    if (a[key] !== b[key]) return `${key} is ${String(a[key])} in the checkpoint but ${String(b[key])} in the model`;
  return null;
}

/**
 * Copies weights (and optimizer moments) from `dir` into existing variables. With `newHead`, a
 * checkpoint without a scalar head may initialise a model that has one (SFT policy → reward or
 * value model); the head keeps its fresh initialisation.
 */
export function loadCheckpointInto(
  dir: string,
  model: GptModel,
  optimizer: AdamWState | null,
  expect: { tokenizerHash?: string | null; newHead?: boolean } = {},
): CheckpointManifest {
  const manifest = readManifest(dir);
  const compared = expect.newHead ? { ...manifest.modelConfig, scalarHead: model.config.scalarHead } : manifest.modelConfig;
  const mismatch = sameArchitecture(compared, model.config);
  if (mismatch) throw new CheckpointMismatchError(`checkpoint ${dir} has another architecture: ${mismatch}`);
  if (expect.tokenizerHash !== undefined && expect.tokenizerHash !== manifest.tokenizerHash)
    throw new CheckpointMismatchError(`checkpoint ${dir} was trained with another tokenizer (hash ${manifest.tokenizerHash ?? "none"})`);
  const assign = (vars: Map<string, tf.Variable>, tensors: Map<string, NamedArray>, prefix: string): void => {
    for (const [name, v] of vars) {
      const t = tensors.get(prefix + name);
      if (!t && expect.newHead && name === "score.weight" && manifest.modelConfig.scalarHead === "none") continue;
      if (!t) throw new CheckpointMismatchError(`checkpoint ${dir} lacks ${prefix + name}`);
      if (t.shape.join(",") !== v.shape.join(",")) throw new CheckpointMismatchError(`${prefix + name}: shape ${t.shape} ≠ ${v.shape}`);
      tf.tidy(() => v.assign(tf.tensor(t.data, t.shape, "float32")));
    }
  };
  assign(model.params, decodeSafetensors(readFileSync(join(dir, manifest.files.model))).tensors, "");
  if (optimizer) {
    if (!manifest.files.optimizer) throw new CheckpointMismatchError(`checkpoint ${dir} has no optimizer state`);
    const moments = decodeSafetensors(readFileSync(join(dir, manifest.files.optimizer))).tensors;
    assign(optimizer.m, moments, "m.");
    assign(optimizer.v, moments, "v.");
    optimizer.step = manifest.optimizerStep;
  }
  return manifest;
}
